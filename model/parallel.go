package model

import "github.com/compresskv/compresskv/model/kernels"

// elementwiseMin is the fewest floats an element-wise pass (a norm, RoPE,
// SiLU, a residual add) must touch before it is split across the kernel
// pool: a decode step's single row (a few thousand floats, microseconds)
// stays on the caller, where a hand-off would cost more than it saves; a
// prefill chunk's (millions of floats, milliseconds per layer on one
// thread) would otherwise leave every other thread idle between the
// matrix products. A variable only so that tests reach the split on small
// models.
var elementwiseMin = 1 << 15

// inBlocks calls do(lo, hi) over [0, n) cut into blocks, on the kernel
// pool when the n units of width floats each are at least elementwiseMin
// floats, else in one call. The passes it runs are row- or element-wise,
// with kernels that give an element the same bits wherever a slice puts
// it, so the cut changes no bits. do must not call the pool's parallel
// kernels (kernels.ParallelFor's rule).
func inBlocks(n, width int, do func(lo, hi int)) {
	threads := kernels.Threads()
	if threads <= 1 || n*width < elementwiseMin || n <= 1 {
		do(0, n)
		return
	}
	// A few blocks per thread, so a thread that other work on the machine
	// slows takes fewer of them.
	size := (n + 4*threads - 1) / (4 * threads)
	blocks := (n + size - 1) / size
	kernels.ParallelFor(blocks, threads, func(_, i int) {
		do(i*size, min((i+1)*size, n))
	})
}
