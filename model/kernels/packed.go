package kernels

import "fmt"

// Packed is a right-hand matrix B [K, N] stored in the micro-kernel's panel
// layout, widened to float32: the N columns in panels of 32, each panel
// [K][32] (columns past N are zero). Packing once and multiplying many
// times pays when the same B meets many left-hand rows from separate calls,
// e.g. one attention key tile shared by every query block of a KV head.
type Packed struct {
	K, N   int
	stride int // rows of storage per panel (>= K; a View keeps its parent's)
	data   []float32
	s      scratch // PackT's row buffer
}

// PackT packs w [n, k] as B = wᵀ [k, n], so that MulPacked computes
// x · wᵀ with the bits of MatMul(out, x, m, w) for m > 3 (MatMul's GEMV
// path for m <= 3 sums in another order). dst's memory is reused.
func PackT(dst *Packed, w Matrix) {
	n, k := w.Rows, w.Cols
	dst.reset(k, n)
	s := &dst.s
	for q := 0; q < ceilDiv(n, gemmNR); q++ {
		for pc := 0; pc < k; pc += gemmKC {
			kc := min(gemmKC, k-pc)
			s.packed = dst.data[(q*k+pc)*gemmNR : (q*k+pc+kc)*gemmNR]
			packWeights(s, w, q*gemmNR, min((q+1)*gemmNR, n), pc, kc)
		}
	}
	s.packed = nil
}

// PackN packs w [k, n] row-major as B = w, so that MulPacked computes x · w
// (e.g. probabilities [rows, keys] times values [keys, headDim]). dst's
// memory is reused.
func PackN(dst *Packed, w Matrix) {
	k, n := w.Rows, w.Cols
	dst.reset(k, n)
	panels := ceilDiv(n, gemmNR)
	dst.s.row = grow(dst.s.row, n)
	row := dst.s.row
	for kk := 0; kk < k; kk++ {
		var src []float32
		if w.DType == F32 {
			src = w.F32[kk*n : (kk+1)*n]
		} else {
			w.Row(row, kk)
			src = row
		}
		for q := 0; q < panels; q++ {
			d := dst.data[(q*k+kk)*gemmNR : (q*k+kk+1)*gemmNR]
			c := copy(d, src[q*gemmNR:min((q+1)*gemmNR, n)])
			clear(d[c:])
		}
	}
}

// reset sizes p for B [k, n].
func (p *Packed) reset(k, n int) {
	if k < 0 || n < 0 {
		panic(fmt.Sprintf("kernels.Pack: negative shape [%d,%d]", k, n))
	}
	p.K, p.N, p.stride = k, n, k
	p.data = grow(p.data, k*ceilDiv(n, gemmNR)*gemmNR)
}

// View returns the top-left [k, n] block of p (k <= p.K, n <= p.N),
// sharing its memory: MulPacked on the view equals MulPacked on a matrix
// packed from that block alone.
func (p *Packed) View(k, n int) *Packed {
	if k < 0 || n < 0 || k > p.K || n > p.N {
		panic(fmt.Sprintf("kernels.Packed.View: [%d,%d] outside [%d,%d]", k, n, p.K, p.N))
	}
	if k == p.K && n == p.N {
		return p // the whole matrix: no copy of the header to allocate
	}
	return &Packed{K: k, N: n, stride: p.stride, data: p.data}
}

// MulPacked computes out[i*ldo+j] (+)= Σ_kk x[i*ldx+kk] · B[kk, j] for
// i < m, j < p.N on the calling goroutine only: for callers that are
// already parallel (no nested use of the kernel pool). With accumulate the
// sum over K is formed first and then added to out (the order of the
// micro-kernel's accumulate); without it out is overwritten. The additions
// happen in K order in gemmKC-deep blocks, as MatMul's.
func MulPacked(out []float32, ldo int, x []float32, ldx, m int, p *Packed, accumulate bool) {
	k, n := p.K, p.N
	if m == 0 || n == 0 {
		return
	}
	if m < 0 || ldx < k || ldo < n || len(x) < (m-1)*ldx+k || len(out) < (m-1)*ldo+n {
		panic(fmt.Sprintf("kernels.MulPacked: x %d floats (ld %d), out %d (ld %d) cannot hold [%d,%d]·[%d,%d]", len(x), ldx, len(out), ldo, m, k, k, n))
	}
	if k == 0 {
		if !accumulate {
			for i := 0; i < m; i++ {
				clear(out[i*ldo : i*ldo+n])
			}
		}
		return
	}
	s := scratchPool.Get().(*scratch)
	for pc := 0; pc < k; pc += gemmKC {
		kc := min(gemmKC, k-pc)
		acc := accumulate || pc > 0
		for q := 0; q < ceilDiv(n, gemmNR); q++ {
			panel := p.data[(q*p.stride+pc)*gemmNR : (q*p.stride+pc+kc)*gemmNR]
			col := q * gemmNR
			ncol := min(gemmNR, n-col)
			for row := 0; row < m; row += gemmMR {
				nrow := min(gemmMR, m-row)
				if nrow == gemmMR && ncol == gemmNR {
					gemmKernel(kc, x[row*ldx+pc:], ldx, panel, out[row*ldo+col:], ldo, acc)
					continue
				}
				gemmEdge(s, kc, x[row*ldx+pc:], ldx, nrow, panel, out[row*ldo+col:], ldo, ncol, acc)
			}
		}
	}
	scratchPool.Put(s)
}

// MatMulSerial is MatMul on the calling goroutine only, for callers that
// already run in parallel. Its results are bit-identical to MatMul's.
func MatMulSerial(out, x []float32, m int, w Matrix) { matMul(out, x, m, w, false) }
