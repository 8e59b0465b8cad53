//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

// The bf16 GEMM on Intel AMX (Sapphire Rapids and later): TDPBF16PS
// multiplies a 16-row tile of activations by 16 k pairs of a 16-column
// weight tile, 16384 FLOPs an instruction; on the Xeon MatMulBF16 runs
// about 10x its VDPBF16PS rate (103 -> 1033-1150 GFLOP/s a core). Its
// additions are not VDPBF16PS's and Intel does not specify them.
// Measured: one k pair's two products are added exactly and rounded once
// to nearest even, then added to the output; outputs of several pairs
// match no order of float32 additions tried (docs/method.md). So AMX
// results are not the Go twin's bits: they
// are within a float32 dot product's error bound of the exact sum, and
// every output row still gets the same bits alone or among other rows,
// on any thread count and any chunking of the rows (each tile row is its
// own dot product). model.ComputeDType.Arithmetic records the AMX
// revision separately, so no checkpoint or profile mixes the two.

// amxRows is the AMX kernel's tile of rows: two 16-row tiles.
const amxRows = 32

// hasAMX reports whether the CPU has AMX-BF16 and the OS gave this
// process the tile state. SetAMX(false) declines it, to reproduce a
// machine without AMX bit for bit.
var hasAMX = cpu.X86.HasAMXTile && cpu.X86.HasAMXBF16 && hasBF16 && requestAMX()

//go:noescape
func gemmBF16AMX(cfg *amxConfig, steps, tail int, x *uint16, ldx int, w *uint16, wstep int, c *float32, ldc, panels, flags int)

//go:noescape
func amxPeakLoop(cfg *amxConfig, iters int)

// amxLoop runs iters iterations of the AMX peak loop and returns its
// FLOPs: 4 TDPBF16PS of 16 rows x 16 columns x 32 products each.
func amxLoop(iters int) int {
	if iters < 1 {
		return 0
	}
	var cfg amxConfig
	cfg.set(amxRows, 0)
	amxPeakLoop(&cfg, iters)
	return iters * 4 * 16 * 16 * 32 * 2
}

// amxConfig is the kernel's two 64-byte tile configurations (palette 1):
// the 16-pair steps', then the tail's.
type amxConfig [128]byte

// set writes the configurations for rows output rows (1..32) and a tail
// of tail k pairs (0..15): tiles 0, 1 and 4 take the first 16 rows, 2, 3
// and 5 the rest (unconfigured when there is none), 6 and 7 the weights.
func (c *amxConfig) set(rows, tail int) {
	*c = amxConfig{}
	r0, r1 := min(rows, 16), max(rows-16, 0)
	for h, pairs := range [2]int{16, tail} {
		cfg := c[64*h : 64*h+64]
		cfg[0] = 1
		tile := func(t, rows, colsb int) {
			if rows == 0 {
				return
			}
			cfg[16+2*t], cfg[16+2*t+1], cfg[48+t] = byte(colsb), byte(colsb>>8), byte(rows)
		}
		tile(0, r0, 64)
		tile(1, r0, 64)
		tile(2, r1, 64)
		tile(3, r1, 64)
		tile(4, r0, 4*pairs)
		tile(5, r1, 4*pairs)
		tile(6, pairs, 64)
		tile(7, pairs, 64)
	}
}

// gemmBF16RowsAMX computes, for rows <= 32 rows of x and panels
// consecutive panels (wstep words apart; their outputs 32 floats apart in
// c), c (+)= x · panel over kp pairs: the output tiles start from c with
// accumulate, else from zero, and take the pairs 16 at a time in k order.
func gemmBF16RowsAMX(kp int, x []uint16, ldx, rows int, w []uint16, wstep int, c []float32, ldc, panels int, accumulate bool) {
	if kp < 1 || rows < 1 || rows > amxRows || panels < 1 || len(x) < (rows-1)*ldx+2*kp || len(w) < (panels-1)*wstep+kp*gemmNR*2 || len(c) < (rows-1)*ldc+panels*gemmNR {
		panic("kernels: AMX bf16 kernel out of bounds")
	}
	var cfg amxConfig
	cfg.set(rows, kp%16)
	flags := 0
	if accumulate {
		flags |= 1
	}
	if rows > 16 {
		flags |= 2
	}
	gemmBF16AMX(&cfg, kp/16, kp%16, &x[0], ldx, &w[0], wstep, &c[0], ldc, panels, flags)
}

// withAMX replaces the bf16 micro-kernels of an AVX512_BF16 set by the
// AMX kernel, when the CPU and OS allow it; ok reports whether they do.
func withAMX(ks kernelSet) (amx kernelSet, ok bool) {
	if !hasAMX || !ks.bf16Dot {
		return ks, false
	}
	ks.name += "+amx"
	ks.bf16MR, ks.amxLoop = amxRows, amxLoop
	ks.gemmBF16Rows = gemmBF16RowsAMX
	ks.gemmBF16 = func(kp int, x []uint16, ldx, rows int, w []uint16, c []float32, ldc int, accumulate bool) {
		gemmBF16RowsAMX(kp, x, ldx, rows, w, 0, c, ldc, 1, accumulate)
	}
	ks.gemmBF16Panels = func(kp int, x []uint16, ldx int, w []uint16, wstep int, c []float32, ldc, panels int, accumulate bool) {
		gemmBF16RowsAMX(kp, x, ldx, gemmMR, w, wstep, c, ldc, panels, accumulate)
	}
	return ks, true
}

// SetAMX turns the AMX kernel on (where the CPU and OS have it) or off
// (the VDPBF16PS kernel, whose bits every AVX512_BF16 CPU and the Go twin
// share). It reports whether AMX is now in use. Call it before any kernel
// runs, as the command line does when it reads its flags; it does nothing
// when the state is already the one asked for.
func SetAMX(on bool) bool {
	if on == active.amx() || !hasAMX {
		return active.amx()
	}
	if on {
		use(best())
	} else {
		use(withBF16(avx512Kernels))
	}
	return active.amx()
}
