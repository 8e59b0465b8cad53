//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

// Declarations of the assembly kernels (the *_amd64.s file of each family;
// its Go twin is in the .go file of the same name) and the kernel sets built
// from them. n is a multiple of the vector width (16 for AVX-512, 8 for
// AVX2) and every pointer is valid for n elements; the wrappers below check
// and finish the tails in Go.

//go:noescape
func dotAVX512(a, b *float32, n int) float32

//go:noescape
func dotBF16AVX512(a *float32, b *uint16, n int) float32

//go:noescape
func dotF16AVX512(a *float32, b *uint16, n int) float32

//go:noescape
func axpyAVX512(alpha float32, x, y *float32, n int)

//go:noescape
func axpyBF16AVX512(alpha float32, x *uint16, y *float32, n int)

//go:noescape
func axpyRows64AVX512(y, p, x *float32, ld, n int)

//go:noescape
func axpyRows16AVX512(y, p, x *float32, ld, n int)

//go:noescape
func axpyRows64x4AVX512(y *float32, ldy int, p *float32, ldp int, x *float32, ld, n int)

//go:noescape
func axpyRows64x4BF16AVX512(y *float32, ldy int, p *float32, ldp int, x *uint16, ld, n int)

//go:noescape
func widenBF16AVX512(dst *float32, src *uint16, n int)

//go:noescape
func widenF16AVX512(dst *float32, src *uint16, n int)

//go:noescape
func gemm8x32AVX512(kc int, x *float32, ldx int, w *float32, c *float32, ldc int, accumulate bool)

func fmaLoopAVX512(iters int)

//go:noescape
func gemvF32AVX512(out, x, w *float32, rows, k int)

//go:noescape
func gemv4F32AVX512(out *float32, ldo int, x *float32, ldx int, w *float32, rows, k int)

//go:noescape
func gemv4BF16AVX512(out *float32, ldo int, x *float32, ldx int, w *uint16, rows, k int)

//go:noescape
func gemvBF16AVX512(out, x *float32, w *uint16, rows, k int)

//go:noescape
func gemvF16AVX512(out, x *float32, w *uint16, rows, k int)

//go:noescape
func dotAVX2(a, b *float32, n int) float32

//go:noescape
func dotBF16AVX2(a *float32, b *uint16, n int) float32

//go:noescape
func dotF16AVX2(a *float32, b *uint16, n int) float32

//go:noescape
func axpyAVX2(alpha float32, x, y *float32, n int)

//go:noescape
func axpyBF16AVX2(alpha float32, x *uint16, y *float32, n int)

//go:noescape
func widenBF16AVX2(dst *float32, src *uint16, n int)

//go:noescape
func widenF16AVX2(dst *float32, src *uint16, n int)

//go:noescape
func gemm2x32AVX2(kc int, x *float32, ldx int, w *float32, c *float32, ldc int, accumulate bool)

func fmaLoopAVX2(iters int)

//go:noescape
func expShiftSumAVX512(x *float32, n int, shift, scale float32) float32

//go:noescape
func expShiftSumBF16AVX512(p *uint16, x *float32, n int, mul, add float32) float32

//go:noescape
func softmaxTileBF16AVX512(p *uint16, ldp int, s *float32, n, rows int, mul float32, rowMax, alpha, sums *float32)

//go:noescape
func pack32F32AVX512(dst *float32, src *float32, lds, kc int)

//go:noescape
func pack32BF16AVX512(dst *float32, src *uint16, lds, kc int)

//go:noescape
func pack32F16AVX512(dst *float32, src *uint16, lds, kc int)

//go:noescape
func maxAVX512(x *float32, n int) float32

//go:noescape
func siluAVX512(x *float32, n int)

//go:noescape
func gemm1x32BF16AVX512(kp int, x *uint16, w *uint16, c *float32, accumulate bool)

//go:noescape
func gemm8x32BF16PanelsAVX512(kp int, x *uint16, ldx int, w *uint16, wstep int, c *float32, ldc int, panels int, accumulate bool)

//go:noescape
func roundBF16AVX512(dst *uint16, src *float32, n int)

var (
	hasBF16   = cpu.X86.HasAVX512BF16 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW
	hasAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasOSXSAVE
)

var avx512Kernels = kernelSet{
	name:    "avx512",
	dot:     dot512,
	dotBF16: dotBF16512,
	dotF16:  dotF16512,
	axpy: func(alpha float32, x, y []float32) {
		axpyVec(alpha, x, y, 16, axpyAVX512)
	},
	axpyBF16: func(alpha float32, x []uint16, y []float32) {
		axpyVec16(alpha, x, y, 16, axpyBF16AVX512)
	},
	axpyRows: axpyRows512, axpyRows4: axpyRows4x512, axpyRows4BF16: axpyRows4BF16x512,
	widenBF16: func(dst []float32, src []uint16) {
		widenVec(dst, src, 16, widenBF16AVX512, BF16ToFloat32)
	},
	widenF16: func(dst []float32, src []uint16) {
		widenVec(dst, src, 16, widenF16AVX512, F16ToFloat32)
	},
	gemm: func(kc int, x []float32, ldx int, w, c []float32, ldc int, accumulate bool) {
		checkTile(kc, x, ldx, w, c, ldc)
		gemm8x32AVX512(kc, &x[0], ldx, &w[0], &c[0], ldc, accumulate)
	},
	fmaLoop: func(iters int) int {
		fmaLoopAVX512(iters)
		return iters * 12 * 32
	},
	gemvF32: func(out, x, w []float32) {
		k := len(x)
		if k%16 != 0 || len(out) == 0 {
			gemvRowsF32(out, x, w, dot512)
			return
		}
		_ = w[len(out)*k-1]
		gemvF32AVX512(&out[0], &x[0], &w[0], len(out), k)
	},
	gemv4F32: func(out []float32, ldo int, x []float32, k int, w []float32, rows int) {
		if k%16 != 0 || rows == 0 {
			gemv4Loop(out, ldo, x, k, w, rows)
			return
		}
		_, _, _ = out[3*ldo+rows-1], x[4*k-1], w[rows*k-1]
		gemv4F32AVX512(&out[0], ldo, &x[0], k, &w[0], rows, k)
	},
	gemv4BF16: func(out []float32, ldo int, x []float32, k int, w []uint16, rows int) {
		if k%16 != 0 || rows == 0 {
			gemv4BF16Loop(out, ldo, x, k, w, rows)
			return
		}
		_, _, _ = out[3*ldo+rows-1], x[4*k-1], w[rows*k-1]
		gemv4BF16AVX512(&out[0], ldo, &x[0], k, &w[0], rows, k)
	},
	gemvBF16: func(out, x []float32, w []uint16) {
		k := len(x)
		if k%16 != 0 || len(out) == 0 {
			gemvRows16(out, x, w, dotBF16512)
			return
		}
		_ = w[len(out)*k-1]
		gemvBF16AVX512(&out[0], &x[0], &w[0], len(out), k)
	},
	gemvF16: func(out, x []float32, w []uint16) {
		k := len(x)
		if k%16 != 0 || len(out) == 0 {
			gemvRows16(out, x, w, dotF16512)
			return
		}
		_ = w[len(out)*k-1]
		gemvF16AVX512(&out[0], &x[0], &w[0], len(out), k)
	},
	expShiftSum: func(x []float32, shift, scale float32) float32 {
		body := len(x) &^ 15
		var sum float32
		if body > 0 {
			sum = expShiftSumAVX512(&x[0], body, shift, scale)
		}
		return sum + expShiftSumGo(x[body:], shift, scale)
	},
	maxF32: func(x []float32) float32 {
		body := len(x) &^ 15
		if body == 0 {
			return maxGo(x)
		}
		m := maxAVX512(&x[0], body)
		if m != m {
			return m
		}
		return max(m, maxGo(x[body:]))
	},
	silu: func(x []float32) {
		body := len(x) &^ 15
		if body > 0 {
			siluAVX512(&x[0], body)
		}
		// The tail through the vector code too, in a padded block: the
		// scalar exp differs from the vector one in the last bit, and an
		// element must get the same bits wherever a slice puts it (a
		// prefill chunk's last row ends the slice, and chunks start at
		// different rows when a cached prefix is reused).
		if tail := x[body:]; len(tail) > 0 {
			var block [16]float32
			copy(block[:], tail)
			siluAVX512(&block[0], len(block))
			copy(tail, block[:])
		}
	},
	pack32: pack32AVX512,
}

var avx2Kernels = kernelSet{
	name:    "avx2",
	dot:     dot2,
	dotBF16: dotBF162,
	dotF16:  dotF162,
	axpy: func(alpha float32, x, y []float32) {
		axpyVec(alpha, x, y, 8, axpyAVX2)
	},
	axpyBF16: func(alpha float32, x []uint16, y []float32) {
		axpyVec16(alpha, x, y, 8, axpyBF16AVX2)
	},
	widenBF16: func(dst []float32, src []uint16) {
		widenVec(dst, src, 8, widenBF16AVX2, BF16ToFloat32)
	},
	widenF16: func(dst []float32, src []uint16) {
		widenVec(dst, src, 8, widenF16AVX2, F16ToFloat32)
	},
	gemm: func(kc int, x []float32, ldx int, w, c []float32, ldc int, accumulate bool) {
		checkTile(kc, x, ldx, w, c, ldc)
		for i := 0; i < gemmMR; i += 2 {
			gemm2x32AVX2(kc, &x[i*ldx], ldx, &w[0], &c[i*ldc], ldc, accumulate)
		}
	},
	fmaLoop: func(iters int) int {
		fmaLoopAVX2(iters)
		return iters * 12 * 16
	},
	gemvF32: func(out, x, w []float32) {
		gemvRowsF32(out, x, w, dot2)
	},
	gemvBF16: func(out, x []float32, w []uint16) {
		gemvRows16(out, x, w, dotBF162)
	},
	gemvF16: func(out, x []float32, w []uint16) {
		gemvRows16(out, x, w, dotF162)
	},
	expShiftSum: expShiftSumGo,
	maxF32:      maxGo,
	silu:        siluGo,
}

// The dot-product wrappers of each instruction set (assembly body, Go tail).
func dot512(a, b []float32) float32 { return dotVec(a, b, 16, dotAVX512) }
func dotBF16512(a []float32, b []uint16) float32 {
	return dotVec16(a, b, 16, dotBF16AVX512, BF16ToFloat32)
}
func dotF16512(a []float32, b []uint16) float32 {
	return dotVec16(a, b, 16, dotF16AVX512, F16ToFloat32)
}
func dot2(a, b []float32) float32 { return dotVec(a, b, 8, dotAVX2) }
func dotBF162(a []float32, b []uint16) float32 {
	return dotVec16(a, b, 8, dotBF16AVX2, BF16ToFloat32)
}
func dotF162(a []float32, b []uint16) float32 {
	return dotVec16(a, b, 8, dotF16AVX2, F16ToFloat32)
}

// withBF16 adds the AVX512_BF16 kernels to the AVX-512 set when the CPU
// has them (Zen 4 and later, Cooper Lake and Sapphire Rapids and later).
func withBF16(ks kernelSet) kernelSet {
	if hasBF16 {
		ks.gemmBF16, ks.roundBF16, ks.bf16Dot = gemmBF16AVX512, roundBF16Vec, true
		ks.gemmBF16Panels = gemmBF16PanelsAVX512
		ks.expShiftSumBF16 = func(p []uint16, x []float32, mul, add float32) float32 {
			_ = p[len(x)-1]
			return expShiftSumBF16AVX512(&p[0], &x[0], len(x), mul, add)
		}
		ks.softmaxTileBF16 = func(p []uint16, ldp int, s []float32, n, rows int, mul float32, rowMax, alpha, sums []float32) {
			softmaxTileBF16AVX512(&p[0], ldp, &s[0], n, rows, mul, &rowMax[0], &alpha[0], &sums[0])
		}
	}
	return ks
}

// gemmBF16PanelsAVX512 is gemmBF16Panels's assembly: one call for every
// panel of an 8-row tile.
func gemmBF16PanelsAVX512(kp int, x []uint16, ldx int, w []uint16, wstep int, c []float32, ldc, panels int, accumulate bool) {
	if kp < 1 || panels < 1 || len(x) < (gemmMR-1)*ldx+2*kp || len(w) < (panels-1)*wstep+kp*gemmNR*2 || len(c) < (gemmMR-1)*ldc+panels*gemmNR {
		panic("kernels: bf16 panels kernel out of bounds")
	}
	gemm8x32BF16PanelsAVX512(kp, &x[0], ldx, &w[0], wstep, &c[0], ldc, panels, accumulate)
}

// gemmBF16AVX512 runs the 8-row bf16 kernel on a full tile and the 1-row
// kernel (the same arithmetic per row) on each row of a partial one.
func gemmBF16AVX512(kp int, x []uint16, ldx, rows int, w []uint16, c []float32, ldc int, accumulate bool) {
	if kp < 1 || rows < 1 || rows > gemmMR || len(x) < (rows-1)*ldx+2*kp || len(w) < kp*gemmNR*2 || len(c) < (rows-1)*ldc+gemmNR {
		panic("kernels: bf16 micro-kernel tile out of bounds")
	}
	if rows == gemmMR {
		gemm8x32BF16PanelsAVX512(kp, &x[0], ldx, &w[0], 0, &c[0], ldc, 1, accumulate)
		return
	}
	for i := 0; i < rows; i++ {
		gemm1x32BF16AVX512(kp, &x[i*ldx], &w[0], &c[i*ldc], accumulate)
	}
}

// roundBF16Vec rounds whole 32-float blocks in assembly, the tail in Go.
func roundBF16Vec(dst []uint16, src []float32) {
	n := len(src)
	dst = dst[:n]
	body := n &^ 31
	if body > 0 {
		roundBF16AVX512(&dst[0], &src[0], body)
	}
	roundBF16Go(dst[body:], src[body:])
}

// best returns the fastest kernel set this CPU runs.
func best() kernelSet {
	switch {
	case hasAVX512:
		ks := withBF16(avx512Kernels)
		if amx, ok := withAMX(ks); ok {
			return amx
		}
		return ks
	case hasAVX2 && cpu.X86.HasAVX: // F16C ships with every AVX2 CPU
		return avx2Kernels
	}
	return goKernels
}

// available returns every kernel set this CPU runs, the pure-Go one first.
func available() []kernelSet {
	sets := []kernelSet{goKernels}
	if hasAVX2 {
		sets = append(sets, avx2Kernels)
	}
	if hasAVX512 {
		sets = append(sets, withBF16(avx512Kernels))
		if amx, ok := withAMX(withBF16(avx512Kernels)); ok {
			sets = append(sets, amx)
		}
	}
	return sets
}

// pack32AVX512 packs weight rows [r0, r0+32), columns [pc, pc+kc), into
// dst [kc][32] when kc is a multiple of 16; it reports false (and does
// nothing) otherwise.
func pack32AVX512(dst []float32, w Matrix, r0, pc, kc int) bool {
	k := w.Cols
	if kc%16 != 0 || kc == 0 {
		return false
	}
	_ = dst[kc*gemmNR-1]
	off, last := r0*k+pc, (r0+gemmNR-1)*k+pc+kc-1
	switch w.DType {
	case F32:
		_ = w.F32[last]
		pack32F32AVX512(&dst[0], &w.F32[off], k, kc)
	case BF16:
		_ = w.U16[last]
		pack32BF16AVX512(&dst[0], &w.U16[off], k, kc)
	case F16:
		_ = w.U16[last]
		pack32F16AVX512(&dst[0], &w.U16[off], k, kc)
	default:
		return false
	}
	return true
}

// checkTile panics unless x, w and c hold an 8x32 micro-tile of depth kc.
func checkTile(kc int, x []float32, ldx int, w, c []float32, ldc int) {
	if kc < 1 || len(x) < (gemmMR-1)*ldx+kc || len(w) < kc*gemmNR || len(c) < (gemmMR-1)*ldc+gemmNR {
		panic("kernels: micro-kernel tile out of bounds")
	}
}

// dotVec runs an assembly dot product over the whole vectors of a and
// finishes the tail in Go.
func dotVec(a, b []float32, width int, f func(a, b *float32, n int) float32) float32 {
	n := len(a)
	b = b[:n]
	body := n - n%width
	var s float32
	if body > 0 {
		s = f(&a[0], &b[0], body)
	}
	for i := body; i < n; i++ {
		s += a[i] * b[i]
	}
	return s
}

func dotVec16(a []float32, b []uint16, width int, f func(a *float32, b *uint16, n int) float32, widen func(uint16) float32) float32 {
	n := len(a)
	b = b[:n]
	body := n - n%width
	var s float32
	if body > 0 {
		s = f(&a[0], &b[0], body)
	}
	for i := body; i < n; i++ {
		s += a[i] * widen(b[i])
	}
	return s
}

func axpyVec(alpha float32, x, y []float32, width int, f func(alpha float32, x, y *float32, n int)) {
	n := len(x)
	y = y[:n]
	body := n - n%width
	if body > 0 {
		f(alpha, &x[0], &y[0], body)
	}
	for i := body; i < n; i++ {
		y[i] += alpha * x[i]
	}
}

func axpyVec16(alpha float32, x []uint16, y []float32, width int, f func(alpha float32, x *uint16, y *float32, n int)) {
	n := len(x)
	y = y[:n]
	body := n - n%width
	if body > 0 {
		f(alpha, &x[0], &y[0], body)
	}
	for i := body; i < n; i++ {
		y[i] += alpha * BF16ToFloat32(x[i])
	}
}

func widenVec(dst []float32, src []uint16, width int, f func(dst *float32, src *uint16, n int), widen func(uint16) float32) {
	n := len(src)
	dst = dst[:n]
	body := n - n%width
	if body > 0 {
		f(&dst[0], &src[0], body)
	}
	for i := body; i < n; i++ {
		dst[i] = widen(src[i])
	}
}

// axpyRows4x512 is AxpyRowsN for 4 rows: columns in blocks of 64 for the
// four at once, the rest (a width not a multiple of 64) row by row.
func axpyRows4x512(y []float32, d int, p []float32, ldp, n int, x []float32, ld int) {
	axpyRows4Blocks(y, d, p, ldp, n, x, ld, axpyRows64x4AVX512, axpyRows)
}

// axpyRows4BF16x512 is AxpyRowsNBF16 for 4 rows, as axpyRows4x512.
func axpyRows4BF16x512(y []float32, d int, p []float32, ldp, n int, x []uint16, ld int) {
	axpyRows4Blocks(y, d, p, ldp, n, x, ld, axpyRows64x4BF16AVX512, axpyRowsBF16Loop)
}

// axpyRows4Blocks runs kernel over the 64-column blocks of 4 rows of y
// and one on each row's remaining columns.
func axpyRows4Blocks[T float32 | uint16](y []float32, d int, p []float32, ldp, n int, x []T, ld int,
	kernel func(y *float32, ldy int, p *float32, ldp int, x *T, ld, n int), one func(y, p []float32, x []T, ld int)) {
	c := 0
	if n > 0 {
		for ; c+64 <= d; c += 64 {
			kernel(&y[c], d, &p[0], ldp, &x[c], ld, n)
		}
	}
	if c < d {
		for j := range 4 {
			one(y[j*d+c:(j+1)*d], p[j*ldp:j*ldp+n], x[c:], ld)
		}
	}
}

// axpyRows512 is AxpyRows in the registers: columns in blocks of 64 and
// then 16, each block's sums kept in registers across all rows; a width
// that is not a multiple of 16 takes the row-by-row loop (which then
// differs in no bit: axpyAVX512 does the same multiply-adds).
func axpyRows512(y, p, x []float32, ld int) {
	d := len(y)
	if d%16 != 0 || len(p) == 0 {
		axpyRowsLoop(y, p, x, ld)
		return
	}
	c := 0
	for ; c+64 <= d; c += 64 {
		axpyRows64AVX512(&y[c], &p[0], &x[c], ld, len(p))
	}
	for ; c < d; c += 16 {
		axpyRows16AVX512(&y[c], &p[0], &x[c], ld, len(p))
	}
}
