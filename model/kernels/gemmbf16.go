package kernels

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/compresskv/compresskv/internal/prefault"
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
// inputs as zero and flushes subnormal results to zero. On AMX (HasAMX)
// the blocks are the same but the tiles add in their own, unspecified
// way: gemmamx_amd64.go says what holds there instead.

// bf16KP is the depth of one block in k pairs: 256 pairs x 32 columns x 4
// bytes = 32 KB of panel, as the float32 path's gemmKC x gemmNR block.
const bf16KP = 256

// PackedBF16 is a weight matrix w [N, K] (any dtype) rounded to bfloat16 in
// the bf16 micro-kernel's layout: N in panels of 32 columns, each panel
// [KP][32][2] words (KP = ceil(K/2) k pairs; a missing odd k and columns
// past N are zero).
type PackedBF16 struct {
	N, K   int
	kp     int // k pairs, ceil(K/2)
	stride int // k pairs of storage per panel (>= kp; a View keeps its parent's)
	data   []uint16
	row    []uint16 // the packers' row buffer
}

// PackBF16 packs w [n, k] (F32 and F16 rounded to the nearest bf16, BF16
// copied) so that MatMulBF16 computes x · wᵀ. dst's memory is reused.
func PackBF16(dst *PackedBF16, w Matrix) {
	n, k := w.Rows, w.Cols
	if n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels.PackBF16: negative shape [%d,%d]", n, k))
	}
	kp := dst.reset(n, k)
	words := w.bf16Words(&dst.row)
	for q := range ceilDiv(n, gemmNR) {
		j0 := q * gemmNR
		nc := min(gemmNR, n-j0)
		transposePairs(dst.data[q*kp*gemmNR*2:(q+1)*kp*gemmNR*2], words[j0*k:(j0+nc)*k], nc, k)
	}
}

// reset sizes p for w [n, k] and returns its k pairs.
func (p *PackedBF16) reset(n, k int) int {
	kp := ceilDiv(k, 2)
	p.N, p.K, p.kp, p.stride = n, k, kp, kp
	p.data = grow16(p.data, ceilDiv(n, gemmNR)*kp*gemmNR*2)
	return kp
}

// transposePairs fills one packed panel ([kp][gemmNR][2] words) from the
// bf16 words of its nc columns' rows (k words each, back to back): pair p
// of column c is words 2p and 2p+1 of row c (the second 0 past k), and
// columns from nc on are 0. The panel is written in order and each pair
// moves as one 32-bit word (its two words are adjacent in both layouts):
// the loop it replaces wrote a row at a time, 16 bits per cache line,
// and made PackBF16 of a 256-key attention tile 14.5 µs (rounding the
// tile's floats takes 0.65).
func transposePairs(panel, rows []uint16, nc, k int) {
	kp := ceilDiv(k, 2)
	if kp == 0 {
		return
	}
	if k%2 == 1 || nc == 0 || !aligned4(rows) || !aligned4(panel) {
		for p := range kp {
			out := panel[p*gemmNR*2 : (p+1)*gemmNR*2]
			for c := range nc {
				out[2*c], out[2*c+1] = rows[c*k+2*p], 0
				if 2*p+1 < k {
					out[2*c+1] = rows[c*k+2*p+1]
				}
			}
			clear(out[2*nc:])
		}
		return
	}
	src := unsafe.Slice((*uint32)(unsafe.Pointer(&rows[0])), nc*kp)
	dst := unsafe.Slice((*uint32)(unsafe.Pointer(&panel[0])), kp*gemmNR)
	for p := range kp {
		out := dst[p*gemmNR : (p+1)*gemmNR]
		for c := range out[:nc] {
			out[c] = src[c*kp+p]
		}
		clear(out[nc:])
	}
}

// aligned4 reports whether w starts on a 4-byte boundary (so its pairs
// can be read as uint32 on every architecture).
func aligned4(w []uint16) bool {
	return len(w) == 0 || uintptr(unsafe.Pointer(&w[0]))%4 == 0
}

// PackBF16N packs w [k, n] row-major (F32 rounded to the nearest bf16 as
// MatMulBF16 rounds activations, F16 rounded, BF16 copied) as the weights
// of x · w: the PackBF16 of wᵀ, built from w's rows without transposing,
// k pairs of rows interleaved. Attention's values (P·V, w = V [keys,
// headDim]) are packed so. dst's memory is reused.
func PackBF16N(dst *PackedBF16, w Matrix) {
	k, n := w.Rows, w.Cols
	if n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels.PackBF16N: negative shape [%d,%d]", k, n))
	}
	kp := dst.reset(n, k)
	words := w.bf16Words(&dst.row)
	for p := range kp {
		even, odd := words[2*p*n:(2*p+1)*n], []uint16(nil)
		if 2*p+1 < k {
			odd = words[(2*p+1)*n : (2*p+2)*n]
		}
		for q := range ceilDiv(n, gemmNR) {
			d := dst.data[(q*kp+p)*gemmNR*2 : (q*kp+p+1)*gemmNR*2]
			c0 := q * gemmNR
			nc := min(gemmNR, n-c0)
			pairs := unsafe.Slice((*[2]uint16)(unsafe.Pointer(&d[0])), gemmNR)
			e := even[c0 : c0+nc]
			if odd == nil {
				for c, v := range e {
					pairs[c] = [2]uint16{v, 0}
				}
			} else {
				o := odd[c0 : c0+nc]
				for c, v := range e {
					pairs[c] = [2]uint16{v, o[c]}
				}
			}
			clear(pairs[nc:])
		}
	}
}

// bf16Words returns m's elements as bf16 words, row-major: BF16's own
// words, else m rounded into *buf (grown as needed; F32 as roundBF16 in
// one call, F16 to the nearest bf16). One call for the whole matrix: a
// call per row cost the packers of an attention tile more than the
// rounding itself.
func (m Matrix) bf16Words(buf *[]uint16) []uint16 {
	size := m.Rows * m.Cols
	if m.DType == BF16 {
		return m.U16[:size]
	}
	*buf = grow16(*buf, size)
	words := (*buf)[:size]
	switch m.DType {
	case F32:
		roundBF16(words, m.F32[:size])
	case F16:
		for i, h := range m.U16[:size] {
			words[i] = Float32ToBF16(F16ToFloat32(h))
		}
	}
	return words
}

// View returns the block of p's first n output columns and first k inputs
// (n <= p.N, k <= p.K), sharing its memory. MulPackedBF16 on the view gives
// the bits it gives on that block packed alone, with one exception: for an
// odd k the last pair's second word is the parent's input k, not zero, and
// is multiplied by the activation's zero pad; a finite word gives a zero
// product, which changes nothing except possibly the sign of a zero sum.
func (p *PackedBF16) View(k, n int) *PackedBF16 {
	if k < 0 || n < 0 || k > p.K || n > p.N {
		panic(fmt.Sprintf("kernels.PackedBF16.View: [%d,%d] outside [%d,%d]", n, k, p.N, p.K))
	}
	if k == p.K && n == p.N {
		// The whole matrix (prefill attention's every full key tile):
		// the same fields, and no header to allocate per call (1.6 % of
		// a 16K-token bf16 layer's CPU time went to the allocations).
		return p
	}
	return &PackedBF16{N: n, K: k, kp: ceilDiv(k, 2), stride: p.stride, data: p.data}
}

// Bytes returns the memory p holds.
func (p *PackedBF16) Bytes() int { return 2 * len(p.data) }

// MatMulBF16 computes out[m, n] = bf16(x)[m, k] · bf16(w)ᵀ, n = p.N and
// k = p.K, with float32 sums in the order described above: the bits do not
// depend on the thread count, nor on m (a row gets the same bits alone or
// among others). out must hold m*n floats, x m*k. With the assembly kernel
// it needs AVX512_BF16 (HasBF16Dot), and runs on AMX tiles where the CPU
// has them (HasAMX: other last bits, the same row independence);
// elsewhere it runs the pure-Go twin.
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
	ldx := bf16RowStride(p.kp)
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
	k, ldx := j.bf16.K, bf16RowStride(j.bf16.kp)
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
	p := j.bf16
	q0, q1 := u*j.chunk, min((u+1)*j.chunk, ceilDiv(p.N, gemmNR))
	mulBF16(s, j.out, p.N, j.xbf16, bf16RowStride(p.kp), j.m, p, q0, q1, false)
}

// bf16RowStride is the words between MatMulBF16's rounded activation
// rows: the row's 2·kp words, plus one cache line when the row's bytes
// are a multiple of 512: rows a power of two of bytes apart (K = 2048:
// 4 KB) map to one L1 set, which a 32-row AMX tile load strains.
// Measured on the Xeon, MatMulBF16 512x2048x2048 on AMX went from
// 1026-1029 to 1048-1062 GFLOP/s on one thread (512x14336x4096: 867-874
// to 901-952). Bits do not move: every row is its own dot product.
func bf16RowStride(kp int) int {
	if (4*kp)%512 == 0 {
		return 2*kp + 32
	}
	return 2 * kp
}

// MulPackedBF16 computes out[i*ldo+j] (+)= Σ_kk x[i*ldx+kk] · w[j, kk] for
// i < m, j < p.N, where w is the matrix p was packed from, on the calling
// goroutine only: for callers that are already parallel (no nested use of
// the kernel pool), as MulPacked. x holds activations already rounded to
// bf16 (RoundBF16), each row 2·ceil(p.K/2) words; for an odd p.K the word
// at p.K pads the last pair and must be zero. The arithmetic and the order
// of the additions are MatMulBF16's; with accumulate every block sum is
// added to out, without it the first block overwrites out, so a row gets
// the bits MatMulBF16 gives it.
func MulPackedBF16(out []float32, ldo int, x []uint16, ldx, m int, p *PackedBF16, accumulate bool) {
	n, k, kp := p.N, p.K, p.kp
	if m == 0 || n == 0 {
		return
	}
	if m < 0 || ldx < 2*kp || ldo < n || len(x) < (m-1)*ldx+2*kp || len(out) < (m-1)*ldo+n {
		panic(fmt.Sprintf("kernels.MulPackedBF16: x %d words (ld %d), out %d floats (ld %d) cannot hold [%d,%d]·[%d,%d]", len(x), ldx, len(out), ldo, m, k, k, n))
	}
	if k == 0 {
		if !accumulate {
			for i := 0; i < m; i++ {
				clear(out[i*ldo : i*ldo+n])
			}
		}
		return
	}
	if k < 2*kp {
		for i := 0; i < m; i++ {
			if x[i*ldx+k] != 0 {
				panic(fmt.Sprintf("kernels.MulPackedBF16: row %d's pad word x[%d] is %#x, want 0", i, i*ldx+k, x[i*ldx+k]))
			}
		}
	}
	s := scratchPool.Get().(*scratch)
	mulBF16Rows(s, out, ldo, x, ldx, m, p, accumulate)
	scratchPool.Put(s)
}

// mulBF16Rows is mulBF16 for MulPackedBF16's small products (attention's
// tiles: every panel fits in L1 together): each full 8-row tile meets all
// full panels in one gemmBF16Panels call, in place of a Go call per
// panel, which cost 5 % of bf16 prefill attention with its 32-pair Q·Kᵀ
// blocks. The rest (rows past the last full tile, a partial last panel)
// goes tile by tile as in mulBF16. Every tile gets mulBF16's arithmetic.
func mulBF16Rows(s *scratch, out []float32, ldo int, x []uint16, ldx, m int, p *PackedBF16, accumulate bool) {
	mr := bf16Rows
	full, panels := p.N/gemmNR, ceilDiv(p.N, gemmNR)
	tiles := m / mr * mr
	if active.amx() {
		// The AMX kernel takes any row count up to its tile: the last
		// rows join the full panels' call too.
		tiles = m
	}
	if full == 0 || tiles == 0 {
		mulBF16(s, out, ldo, x, ldx, m, p, 0, panels, accumulate)
		return
	}
	wstep := p.stride * gemmNR * 2
	for pc := 0; pc < p.kp; pc += bf16KP {
		kc := min(bf16KP, p.kp-pc)
		acc := accumulate || pc > 0
		w := p.data[pc*gemmNR*2:]
		for row := 0; row < tiles; row += mr {
			gemmBF16Block(kc, x[row*ldx+2*pc:], ldx, min(mr, tiles-row), w, wstep, out[row*ldo:], ldo, full, acc)
		}
		for q := full; q < panels; q++ {
			for row := 0; row < tiles; row += mr {
				mulBF16Tile(s, out, ldo, x, ldx, row, min(mr, tiles-row), p, q, pc, acc)
			}
		}
		for q := 0; q < panels && tiles < m; q++ {
			mulBF16Tile(s, out, ldo, x, ldx, tiles, m-tiles, p, q, pc, acc)
		}
	}
}

// gemmBF16Block runs the bf16 kernel on rows <= bf16Rows rows against
// panels full panels (wstep words apart, their outputs 32 floats apart):
// the AMX kernel in one call, else the 8-row panels kernel or the
// micro-kernel panel by panel.
func gemmBF16Block(kp int, x []uint16, ldx, rows int, w []uint16, wstep int, c []float32, ldc, panels int, accumulate bool) {
	switch {
	case active.gemmBF16Rows != nil:
		active.gemmBF16Rows(kp, x, ldx, rows, w, wstep, c, ldc, panels, accumulate)
	case rows == gemmMR:
		gemmBF16Panels(kp, x, ldx, w, wstep, c, ldc, panels, accumulate)
	default:
		for q := 0; q < panels; q++ {
			gemmBF16Kernel(kp, x, ldx, rows, w[q*wstep:], c[q*gemmNR:], ldc, accumulate)
		}
	}
}

// gemmBF16PanelsLoop is gemmBF16Panels as one gemmBF16Kernel call per
// panel: the twin of the assembly, and the kernel where there is none.
func gemmBF16PanelsLoop(kp int, x []uint16, ldx int, w []uint16, wstep int, c []float32, ldc, panels int, accumulate bool) {
	for q := 0; q < panels; q++ {
		gemmBF16Kernel(kp, x, ldx, gemmMR, w[q*wstep:], c[q*gemmNR:], ldc, accumulate)
	}
}

// mulBF16 computes the output columns of panels [q0, q1) for rows i < m:
// out[i*ldo+j] (+)= the sum over p's k pairs of the bf16 products, in
// bf16KP-deep blocks, each summed in a fresh accumulator by the
// micro-kernel and added to out (the first block only with accumulate).
// x rows are ldx words apart.
func mulBF16(s *scratch, out []float32, ldo int, x []uint16, ldx, m int, p *PackedBF16, q0, q1 int, accumulate bool) {
	kp, mr := p.kp, bf16Rows
	if active.amx() {
		// Row tiles against every full panel of the range in one call
		// (one tile configuration for them all). Loop orders tried
		// instead (whole-K calls, deeper blocks) measured slower
		// (docs/performance.md).
		full := max(q0, min(q1, p.N/gemmNR))
		wstep := p.stride * gemmNR * 2
		for pc := 0; pc < kp; pc += bf16KP {
			acc := accumulate || pc > 0
			kc := min(bf16KP, kp-pc)
			for row := 0; row < m; row += mr {
				nrow := min(mr, m-row)
				if full > q0 {
					gemmBF16Block(kc, x[row*ldx+2*pc:], ldx, nrow, p.data[(q0*p.stride+pc)*gemmNR*2:], wstep, out[row*ldo+q0*gemmNR:], ldo, full-q0, acc)
				}
				for q := full; q < q1; q++ {
					mulBF16Tile(s, out, ldo, x, ldx, row, nrow, p, q, pc, acc)
				}
			}
		}
		return
	}
	if m <= mr {
		// One block of rows (decode's single row): each panel's blocks
		// in turn, so the unit reads its panels' memory front to back
		// (a panel holds its blocks one after another) instead of a
		// block of every panel, then the next. Each output still adds
		// its blocks in order: the same bits.
		for q := q0; q < q1; q++ {
			for pc := 0; pc < kp; pc += bf16KP {
				mulBF16Tile(s, out, ldo, x, ldx, 0, m, p, q, pc, accumulate || pc > 0)
			}
		}
		return
	}
	for pc := 0; pc < kp; pc += bf16KP {
		acc := accumulate || pc > 0
		for ic := 0; ic < m; ic += gemmMC {
			ie := min(ic+gemmMC, m)
			for q := q0; q < q1; q++ {
				for row := ic; row < ie; row += mr {
					mulBF16Tile(s, out, ldo, x, ldx, row, min(mr, ie-row), p, q, pc, acc)
				}
			}
		}
	}
}

// mulBF16Tile is mulBF16's step: rows [row, row+nrow) of panel q, the
// block of k pairs from pc, summed by the micro-kernel into out (added
// to it with acc).
func mulBF16Tile(s *scratch, out []float32, ldo int, x []uint16, ldx, row, nrow int, p *PackedBF16, q, pc int, acc bool) {
	kc := min(bf16KP, p.kp-pc)
	panel := p.data[(q*p.stride+pc)*gemmNR*2 : (q*p.stride+pc+kc)*gemmNR*2]
	col := q * gemmNR
	ncol := min(gemmNR, p.N-col)
	xr := x[row*ldx+2*pc:]
	if ncol == gemmNR {
		gemmBF16Kernel(kc, xr, ldx, nrow, panel, out[row*ldo+col:], ldo, acc)
		return
	}
	// A partial panel goes through a full-width tile.
	s.ctile = grow(s.ctile, bf16Rows*gemmNR)
	for i := 0; i < nrow; i++ {
		if acc {
			copy(s.ctile[i*gemmNR:], out[(row+i)*ldo+col:(row+i)*ldo+col+ncol])
		}
	}
	gemmBF16Kernel(kc, xr, ldx, nrow, panel, s.ctile, gemmNR, acc)
	for i := 0; i < nrow; i++ {
		copy(out[(row+i)*ldo+col:(row+i)*ldo+col+ncol], s.ctile[i*gemmNR:])
	}
}

// RoundBF16 writes src rounded to bf16 into dst[:len(src)], as MatMulBF16
// rounds its activations (VCVTNE2PS2BF16: nearest even, NaN stays NaN,
// subnormal inputs read as zero): the activations of MulPackedBF16.
func RoundBF16(dst []uint16, src []float32) { roundBF16(dst[:len(src)], src) }

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
		return prefault.Make[uint16](n, n) // the packed weights: 2 GB of a 1.1B model
	}
	return buf[:n]
}

// HasBF16Dot reports whether MatMulBF16 runs the AVX512_BF16 assembly
// kernel here (otherwise it runs the pure-Go twin, many times slower).
func HasBF16Dot() bool { return active.bf16Dot }

// HasAMX reports whether MatMulBF16 and MulPackedBF16 run the AMX kernel,
// whose sums are not the Go twin's bits (gemmamx_amd64.go).
func HasAMX() bool { return active.amx() }
