package kernels

// kernelSet is one implementation of every inner kernel; the package runs
// with the best set the CPU supports, and tests run every available set.
type kernelSet struct {
	name     string
	dot      func(a, b []float32) float32
	dotBF16  func(a []float32, b []uint16) float32
	dotF16   func(a []float32, b []uint16) float32
	axpy     func(alpha float32, x, y []float32)
	axpyBF16 func(alpha float32, x []uint16, y []float32)
	// axpyRows is AxpyRows; nil: axpyRowsLoop (the set's axpy row by row).
	axpyRows func(y, p, x []float32, ld int)
	// axpyRows4 is AxpyRowsN for a block of 4 rows; nil: axpyRows4Loop
	// (axpyRows for each).
	axpyRows4 func(y []float32, d int, p []float32, ldp, n int, x []float32, ld int)
	// axpyRows4BF16 is AxpyRowsNBF16 for a block of 4 rows; nil:
	// axpyRows4BF16Loop.
	axpyRows4BF16 func(y []float32, d int, p []float32, ldp, n int, x []uint16, ld int)
	widenBF16     func(dst []float32, src []uint16)
	widenF16      func(dst []float32, src []uint16)
	gemm          func(kc int, x []float32, ldx int, w, c []float32, ldc int, accumulate bool)
	fmaLoop       func(iters int) int // runs iters iterations, returns FLOPs done

	// GEMV over consecutive weight rows: out[r] = x · w[r*k:(r+1)*k] for
	// r < len(out), k = len(x).
	gemvF32 func(out, x, w []float32)
	// gemv4F32 is gemvF32 for 4 rows of x (k floats apart) at once, out
	// rows ldo apart; nil: gemv4Loop (gemvF32 for each).
	gemv4F32 func(out []float32, ldo int, x []float32, k int, w []float32, rows int)
	// gemv4BF16 is gemv4F32 over bf16 rows of w; nil: gemv4BF16Loop.
	gemv4BF16 func(out []float32, ldo int, x []float32, k int, w []uint16, rows int)
	gemvBF16  func(out, x []float32, w []uint16)
	gemvF16   func(out, x []float32, w []uint16)

	// expShiftSum sets x[i] = exp((x[i] - shift)·scale), returns Σ x[i].
	expShiftSum func(x []float32, shift, scale float32) float32
	// expShiftSumBF16 is the body of ExpShiftSumBF16 (len(x) a multiple
	// of 16, t = x·mul + add); nil: expShiftSumBF16Go. Only AVX512_BF16
	// has it: without it bf16 compute runs the Go twins anyway.
	expShiftSumBF16 func(p []uint16, x []float32, mul, add float32) float32
	// softmaxTileBF16 is the body of SoftmaxTileBF16 (mul = scale·log2
	// e); nil: softmaxTileBF16Go.
	softmaxTileBF16 func(p []uint16, ldp int, s []float32, n, rows int, mul float32, rowMax, alpha, sums []float32)

	maxF32 func(x []float32) float32 // MaxFloat32
	silu   func(x []float32)         // SiLU
	// pack32 writes weight rows [r0, r0+32), columns [pc, pc+kc), as the
	// columns of dst [kc][32], or reports false when it cannot (then the
	// caller packs in Go). nil: always Go.
	pack32 func(dst []float32, w Matrix, r0, pc, kc int) bool

	// gemmBF16 is the bf16 dot-product micro-kernel on rows <= bf16MR
	// rows (gemmBF16KernelGo); roundBF16 rounds float32 to bf16, nearest
	// even.
	gemmBF16  func(kp int, x []uint16, ldx, rows int, w []uint16, c []float32, ldc int, accumulate bool)
	roundBF16 func(dst []uint16, src []float32)
	bf16Dot   bool // gemmBF16 is VDPBF16PS assembly
	// gemmBF16Panels is gemmBF16 on one full 8-row tile against panels
	// consecutive panels (wstep words apart, their tiles 32 floats apart
	// in c); nil: gemmBF16PanelsLoop, one gemmBF16 call per panel.
	gemmBF16Panels func(kp int, x []uint16, ldx int, w []uint16, wstep int, c []float32, ldc, panels int, accumulate bool)
	// gemmBF16Rows is the AMX kernel: rows <= bf16MR rows against panels
	// consecutive panels; nil: gemmBF16Panels or gemmBF16 per panel.
	gemmBF16Rows func(kp int, x []uint16, ldx, rows int, w []uint16, wstep int, c []float32, ldc, panels int, accumulate bool)
	// bf16MR is the rows of the bf16 kernels' tile (0: gemmMR).
	bf16MR int
	// amxLoop is the AMX peak loop (runs iters iterations, returns FLOPs
	// done); nil without AMX.
	amxLoop func(iters int) int
}

var goKernels = kernelSet{
	name:      "go",
	dot:       dotGo,
	dotBF16:   dotBF16Go,
	dotF16:    dotF16Go,
	axpy:      axpyGo,
	axpyBF16:  axpyBF16Go,
	widenBF16: widenBF16Go,
	widenF16:  widenF16Go,
	gemm:      gemmKernelGo,
	fmaLoop:   fmaLoopGo,
	gemvF32:   func(out, x, w []float32) { gemvRowsF32(out, x, w, dotGo) },
	gemvBF16:  func(out, x []float32, w []uint16) { gemvRows16(out, x, w, dotBF16Go) },
	gemvF16:   func(out, x []float32, w []uint16) { gemvRows16(out, x, w, dotF16Go) },

	expShiftSum: expShiftSumGo,
	maxF32:      maxGo,
	silu:        siluGo,
	gemmBF16:    gemmBF16KernelGo,
	roundBF16:   roundBF16Go,
}

// gemvRowsF32 is a GEMV over rows as one dot product per row.

// The kernels in use; set once at init by use(best()).
var (
	active        kernelSet
	dotF32        func(a, b []float32) float32
	dotBF16       func(a []float32, b []uint16) float32
	dotF16        func(a []float32, b []uint16) float32
	axpyF32       func(alpha float32, x, y []float32)
	axpyBF16      func(alpha float32, x []uint16, y []float32)
	axpyRows      func(y, p, x []float32, ld int)
	axpyRows4BF16 func(y []float32, d int, p []float32, ldp, n int, x []uint16, ld int)
	axpyRows4     func(y []float32, d int, p []float32, ldp, n int, x []float32, ld int)
	widenBF16     func(dst []float32, src []uint16)
	widenF16      func(dst []float32, src []uint16)
	gemmKernel    func(kc int, x []float32, ldx int, w, c []float32, ldc int, accumulate bool)
	gemvF32       func(out, x, w []float32)
	gemv4F32      func(out []float32, ldo int, x []float32, k int, w []float32, rows int)
	gemv4BF16     func(out []float32, ldo int, x []float32, k int, w []uint16, rows int)
	gemvBF16      func(out, x []float32, w []uint16)
	gemvF16       func(out, x []float32, w []uint16)

	expShiftSum     func(x []float32, shift, scale float32) float32
	expShiftSumBF16 func(p []uint16, x []float32, mul, add float32) float32
	softmaxTileBF16 func(p []uint16, ldp int, s []float32, n, rows int, mul float32, rowMax, alpha, sums []float32)
	maxF32          func(x []float32) float32
	silu            func(x []float32)
	pack32          func(dst []float32, w Matrix, r0, pc, kc int) bool

	gemmBF16Kernel func(kp int, x []uint16, ldx, rows int, w []uint16, c []float32, ldc int, accumulate bool)
	gemmBF16Panels func(kp int, x []uint16, ldx int, w []uint16, wstep int, c []float32, ldc, panels int, accumulate bool)
	roundBF16      func(dst []uint16, src []float32)
	bf16Rows       int // the bf16 kernels' tile of rows
)

func init() { use(best()) }

// use installs a kernel set. Only init and tests call it (not safe while
// kernels run).
func use(ks kernelSet) {
	active = ks
	dotF32, dotBF16, dotF16 = ks.dot, ks.dotBF16, ks.dotF16
	axpyF32, axpyBF16, axpyRows = ks.axpy, ks.axpyBF16, ks.axpyRows
	if axpyRows == nil {
		axpyRows = axpyRowsLoop
	}
	axpyRows4 = ks.axpyRows4
	if axpyRows4 == nil {
		axpyRows4 = axpyRows4Loop
	}
	axpyRows4BF16 = ks.axpyRows4BF16
	if axpyRows4BF16 == nil {
		axpyRows4BF16 = axpyRows4BF16Loop
	}
	widenBF16, widenF16 = ks.widenBF16, ks.widenF16
	gemmKernel = ks.gemm
	gemvF32, gemvBF16, gemvF16 = ks.gemvF32, ks.gemvBF16, ks.gemvF16
	gemv4F32, gemv4BF16 = ks.gemv4F32, ks.gemv4BF16
	if gemv4F32 == nil {
		gemv4F32 = gemv4Loop
	}
	if gemv4BF16 == nil {
		gemv4BF16 = gemv4BF16Loop
	}
	expShiftSum, expShiftSumBF16 = ks.expShiftSum, ks.expShiftSumBF16
	if expShiftSumBF16 == nil {
		expShiftSumBF16 = expShiftSumBF16Go
	}
	softmaxTileBF16 = ks.softmaxTileBF16
	if softmaxTileBF16 == nil {
		softmaxTileBF16 = softmaxTileBF16Go
	}
	maxF32, silu, pack32 = ks.maxF32, ks.silu, ks.pack32
	gemmBF16Kernel, roundBF16 = ks.gemmBF16, ks.roundBF16
	if gemmBF16Kernel == nil {
		gemmBF16Kernel, roundBF16 = gemmBF16KernelGo, roundBF16Go
	}
	gemmBF16Panels = ks.gemmBF16Panels
	if gemmBF16Panels == nil {
		gemmBF16Panels = gemmBF16PanelsLoop
	}
	bf16Rows = ks.bf16MR
	if bf16Rows == 0 {
		bf16Rows = gemmMR
	}
}

// Implementation names the kernel set in use ("avx512+amx", "avx512",
// "avx2" or "go").
func Implementation() string { return active.name }

// amx reports whether ks is the AMX set (it has the AMX kernel), whose
// bf16 sums are not the Go twin's bits.
func (ks *kernelSet) amx() bool { return ks.gemmBF16Rows != nil }
