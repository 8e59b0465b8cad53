package kernels

import (
	"fmt"
	"math"
)

// The bfloat16 dot-product GEMM: activations rounded to bfloat16 (nearest
// even) times weights rounded to bfloat16, products exact, sums in float32.
// It is the arithmetic of a GPU's bf16 matmul, and on CPUs with AVX512_BF16
// one VDPBF16PS does the work of two float32 FMAs.
//
// Weights are packed once (PackBF16) into panels of 32 columns holding each
// column's k values in pairs, the layout VDPBF16PS reads; a packed matrix
// takes the bytes of a bf16 copy of the weights and is reused by every call.
//
// Order of the additions, which the Go twin repeats exactly: every output
// sums its k pairs in k order in blocks of bf16KP pairs, each block in a
// fresh float32 accumulator that is then added to the output; within a pair
// the odd product is added before the even one (the order of Intel's
// VDPBF16PS definition). Products of two bf16 values are exact in float32,
// so this fixes the bits. As VDPBF16PS, the twin treats subnormal bf16
// inputs as zero and flushes subnormal results to zero.

// bf16KP is the depth of one block in k pairs: 256 pairs x 32 columns x 4
// bytes = 32 KB of panel, as the float32 path's gemmKC x gemmNR block.
const bf16KP = 256

// PackedBF16 is a weight matrix w [N, K] (any dtype) rounded to bfloat16 in
// the bf16 micro-kernel's layout: N in panels of 32 columns, each panel
// [KP][32][2] words (KP = ceil(K/2) k pairs; a missing odd k and columns
// past N are zero).
type PackedBF16 struct {
	N, K int
	kp   int
	data []uint16
}

// PackBF16 packs w [n, k] (F32 and F16 rounded to the nearest bf16, BF16
// copied) so that MatMulBF16 computes x · wᵀ. dst's memory is reused.
func PackBF16(dst *PackedBF16, w Matrix) {
	n, k := w.Rows, w.Cols
	if n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels.PackBF16: negative shape [%d,%d]", n, k))
	}
	kp := ceilDiv(k, 2)
	dst.N, dst.K, dst.kp = n, k, kp
	size := ceilDiv(n, gemmNR) * kp * gemmNR * 2
	if cap(dst.data) < size {
		dst.data = make([]uint16, size)
	}
	dst.data = dst.data[:size]
	clear(dst.data)
	row := make([]uint16, 2*kp)
	for j := 0; j < n; j++ {
		off := j * k
		switch w.DType {
		case BF16:
			copy(row, w.U16[off:off+k])
		case F32:
			roundBF16(row[:k], w.F32[off:off+k])
		case F16:
			for i, h := range w.U16[off : off+k] {
				row[i] = Float32ToBF16(F16ToFloat32(h))
			}
		}
		panel := dst.data[j/gemmNR*kp*gemmNR*2:]
		c := j % gemmNR
		for p := 0; p < kp; p++ {
			panel[(p*gemmNR+c)*2] = row[2*p]
			panel[(p*gemmNR+c)*2+1] = row[2*p+1]
		}
	}
}

// Bytes returns the memory p holds.
func (p *PackedBF16) Bytes() int { return 2 * len(p.data) }

// MatMulBF16 computes out[m, n] = bf16(x)[m, k] · bf16(w)ᵀ, n = p.N and
// k = p.K, with float32 sums in the order described above: the bits do not
// depend on the thread count, nor on m (a row gets the same bits alone or
// among others). out must hold m*n floats, x m*k. With the assembly kernel
// it needs AVX512_BF16 (HasBF16Dot); elsewhere it runs the pure-Go twin.
func MatMulBF16(out, x []float32, m int, p *PackedBF16) {
	n, k := p.N, p.K
	if m < 0 || len(out) < m*n || len(x) < m*k {
		panic(fmt.Sprintf("kernels.MatMulBF16: out has %d floats, x %d; [%d,%d]·[%d,%d]ᵀ needs %d and %d", len(out), len(x), m, k, n, k, m*n, m*k))
	}
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		clear(out[:m*n])
		return
	}
	parallel := m*n*k >= parallelMACs
	// Round the activations once, padded to whole pairs, in blocks of
	// rows on the pool (a serial pass would idle the other threads).
	s := scratchPool.Get().(*scratch)
	ldx := 2 * p.kp
	s.xbf16 = grow16(s.xbf16, m*ldx)
	r := newJob(roundBF16Unit, ceilDiv(m, roundRows))
	r.x, r.m, r.bf16, r.xbf16 = x, m, p, s.xbf16
	r.execute(parallel)
	panels := ceilDiv(n, gemmNR)
	per := min(panels, gemmMaxChunk/gemmNR)
	if parallel {
		t := Threads()
		units := t * max(2, ceilDiv(panels, t*per))
		per = max(1, ceilDiv(panels, units))
	}
	j := newJob(gemmBF16Unit, ceilDiv(panels, per))
	j.out, j.m, j.chunk = out, m, per
	j.bf16, j.xbf16 = p, s.xbf16
	j.execute(parallel)
	scratchPool.Put(s)
}

// roundRows is the unit of the activation rounding: rows per unit.
const roundRows = 32

// roundBF16Unit rounds activation rows [u*roundRows, (u+1)*roundRows) into
// j.xbf16, each padded with a zero to whole k pairs.
func roundBF16Unit(j *job, u int, _ *scratch) {
	k, ldx := j.bf16.K, 2*j.bf16.kp
	for i := u * roundRows; i < min((u+1)*roundRows, j.m); i++ {
		row := j.xbf16[i*ldx : (i+1)*ldx]
		roundBF16(row[:k], j.x[i*k:(i+1)*k])
		if k < ldx {
			row[k] = 0
		}
	}
}

// gemmBF16Unit computes the output columns of panels [u*chunk, (u+1)*chunk)
// for every row.
func gemmBF16Unit(j *job, u int, s *scratch) {
	p, m, out, x := j.bf16, j.m, j.out, j.xbf16
	n, kp, ldx := p.N, p.kp, 2*p.kp
	q0, q1 := u*j.chunk, min((u+1)*j.chunk, ceilDiv(n, gemmNR))
	for pc := 0; pc < kp; pc += bf16KP {
		kc := min(bf16KP, kp-pc)
		accumulate := pc > 0
		for ic := 0; ic < m; ic += gemmMC {
			ie := min(ic+gemmMC, m)
			for q := q0; q < q1; q++ {
				panel := p.data[(q*kp+pc)*gemmNR*2 : (q*kp+pc+kc)*gemmNR*2]
				col := q * gemmNR
				ncol := min(gemmNR, n-col)
				for row := ic; row < ie; row += gemmMR {
					nrow := min(gemmMR, ie-row)
					xr := x[row*ldx+2*pc:]
					if ncol == gemmNR {
						gemmBF16Kernel(kc, xr, ldx, nrow, panel, out[row*n+col:], n, accumulate)
						continue
					}
					// A partial panel goes through a full-width tile.
					s.ctile = grow(s.ctile, gemmMR*gemmNR)
					for i := 0; i < nrow; i++ {
						if accumulate {
							copy(s.ctile[i*gemmNR:], out[(row+i)*n+col:(row+i)*n+col+ncol])
						}
					}
					gemmBF16Kernel(kc, xr, ldx, nrow, panel, s.ctile, gemmNR, accumulate)
					for i := 0; i < nrow; i++ {
						copy(out[(row+i)*n+col:(row+i)*n+col+ncol], s.ctile[i*gemmNR:])
					}
				}
			}
		}
	}
}

// gemmBF16KernelGo is the pure-Go twin of the bf16 micro-kernel: for
// i < rows (<= 8) and j < 32, c[i*ldc+j] (+)= the block sum over kp pairs
// of x[i*ldx+2p+1]·w[(p*32+j)*2+1] + x[i*ldx+2p]·w[(p*32+j)*2], each
// product and partial sum rounded as VDPBF16PS does.
func gemmBF16KernelGo(kp int, x []uint16, ldx, rows int, w []uint16, c []float32, ldc int, accumulate bool) {
	w = w[:kp*gemmNR*2]
	for i := 0; i < rows; i++ {
		var acc [gemmNR]float32
		xi := x[i*ldx : i*ldx+2*kp]
		for p := 0; p < kp; p++ {
			xe, xo := bf16Operand(xi[2*p]), bf16Operand(xi[2*p+1])
			wp := w[p*gemmNR*2 : (p+1)*gemmNR*2]
			for jj := range acc {
				a := flushSubnormal(acc[jj] + float32(xo*bf16Operand(wp[2*jj+1])))
				acc[jj] = flushSubnormal(a + float32(xe*bf16Operand(wp[2*jj])))
			}
		}
		ci := c[i*ldc : i*ldc+gemmNR]
		for jj, v := range acc {
			if accumulate {
				ci[jj] += v
			} else {
				ci[jj] = v
			}
		}
	}
}

// bf16Operand widens a bf16 input of VDPBF16PS: subnormals read as zero.
func bf16Operand(v uint16) float32 {
	if v&0x7f80 == 0 {
		v &= 0x8000
	}
	return math.Float32frombits(uint32(v) << 16)
}

// flushSubnormal replaces a subnormal float32 with a zero of its sign.
func flushSubnormal(f float32) float32 {
	if b := math.Float32bits(f); b&0x7f800000 == 0 {
		return math.Float32frombits(b & 0x80000000)
	}
	return f
}

// roundBF16Go rounds src to bf16, nearest even (NaN stays NaN), with
// subnormal inputs read as zero: the twin of VCVTNE2PS2BF16.
func roundBF16Go(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, f := range src {
		dst[i] = Float32ToBF16(flushSubnormal(f))
	}
}

// grow16 is grow for uint16 buffers.
func grow16(buf []uint16, n int) []uint16 {
	if cap(buf) < n {
		return make([]uint16, n)
	}
	return buf[:n]
}

// HasBF16Dot reports whether MatMulBF16 runs the AVX512_BF16 assembly
// kernel here (otherwise it runs the pure-Go twin, many times slower).
func HasBF16Dot() bool { return active.bf16Dot }
