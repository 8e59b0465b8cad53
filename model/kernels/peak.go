package kernels

import (
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"
)

// fmaLoopGo is the pure-Go stand-in for the FMA peak loop: eight
// independent multiply-add chains, 16 FLOPs per iteration.
func fmaLoopGo(iters int) int {
	var a0, a1, a2, a3, a4, a5, a6, a7 float32
	const m, c = 0.999, 1e-3
	for i := 0; i < iters; i++ {
		a0 = a0*m + c
		a1 = a1*m + c
		a2 = a2*m + c
		a3 = a3*m + c
		a4 = a4*m + c
		a5 = a5*m + c
		a6 = a6*m + c
		a7 = a7*m + c
	}
	flops := iters * 16
	if a0+a1+a2+a3+a4+a5+a6+a7 < 0 { // never true; keeps the chains live
		flops = 0
	}
	return flops
}

// PeakFMA measures the float32 multiply-add throughput of the kernels in
// use, in GFLOP/s, on the given number of goroutines (each locked to an OS
// thread) running for about d. Each goroutine times short slices (about
// 0.3 ms) and keeps its fastest, so work from other processes that steals
// some of the slices lowers the figure little; the result is the sum over
// goroutines. It is the ceiling GEMM is compared with.
func PeakFMA(goroutines int, d time.Duration) float64 {
	return peakOf(active.fmaLoop, 256, goroutines, d)
}

// PeakAMX measures the bf16 tile multiply throughput (TDPBF16PS) in
// GFLOP/s as PeakFMA does, or returns 0 when the kernels in use have no
// AMX (HasAMX): the ceiling bf16 compute's GEMM is compared with there.
func PeakAMX(goroutines int, d time.Duration) float64 {
	if active.amxLoop == nil {
		return 0
	}
	return peakOf(active.amxLoop, 64, goroutines, d)
}

// peakOf times loop (iters iterations a call, 200 calls a slice) on
// goroutines locked to OS threads for about d and sums their fastest
// slices.
func peakOf(loop func(iters int) int, iters, goroutines int, d time.Duration) float64 {
	goroutines = max(goroutines, 1)
	loop(1 << 16) // warm up the vector units' power state
	var wg sync.WaitGroup
	best := make([]float64, goroutines)
	start := time.Now()
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for {
				t0 := time.Now()
				flops := 0
				for i := 0; i < 200; i++ {
					flops += loop(iters)
				}
				if rate := float64(flops) / time.Since(t0).Seconds() / 1e9; rate > best[g] {
					best[g] = rate
				}
				if time.Since(start) >= d {
					break
				}
			}
		}()
	}
	wg.Wait()
	total := 0.0
	for _, b := range best {
		total += b
	}
	return total
}

// MemoryBandwidth measures read bandwidth in GB/s (1e9 bytes/s): the best
// of passes summing a buffer of size bytes split across goroutines. The
// buffer is allocated and touched first so page faults are not timed; use
// a size far above the last-level cache (256 MB) for a memory figure.
func MemoryBandwidth(goroutines, size, passes int) float64 {
	goroutines = max(goroutines, 1)
	n := size / 4 / goroutines / 64 * 64 * goroutines
	if n == 0 {
		return 0
	}
	buf := make([]float32, n)
	for i := range buf {
		buf[i] = 1
	}
	part := n / goroutines
	sums := make([]float32, goroutines)
	bestGBs := 0.0
	for p := 0; p < max(passes, 1); p++ {
		var wg sync.WaitGroup
		start := time.Now()
		for g := 0; g < goroutines; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := buf[g*part : (g+1)*part]
				sums[g] = dotF32(s, s) // one stream: both operands are the same lines
			}()
		}
		wg.Wait()
		if gbs := float64(n*4) / time.Since(start).Seconds() / 1e9; gbs > bestGBs {
			bestGBs = gbs
		}
	}
	return bestGBs
}

// GEMMRate measures the prefill GEMM in GFLOP/s (2·m·n·k per product) on
// threads goroutines: [m, k] activations times a random bf16 weight matrix
// [n, k], either with float32 compute (MatMul, weights widened to float32)
// or, with bf16Dot, the bf16 dot-product path (MatMulBF16 on weights packed
// beforehand, as a model packs them once). The figure is the fastest of
// several runs (at least 3, about 0.3 s in all), the one least disturbed by
// other work. It restores the thread count it found.
func GEMMRate(bf16Dot bool, threads, m, n, k int) float64 {
	defer SetThreads(Threads())
	SetThreads(threads)
	r := rand.New(rand.NewPCG(uint64(m), uint64(n)))
	w := Matrix{Rows: n, Cols: k, DType: BF16, U16: make([]uint16, n*k)}
	for i := range w.U16 {
		w.U16[i] = Float32ToBF16(r.Float32()*2 - 1)
	}
	x := make([]float32, m*k)
	for i := range x {
		x[i] = r.Float32()*2 - 1
	}
	out := make([]float32, m*n)
	run := func() { MatMul(out, x, m, w) }
	if bf16Dot {
		var p PackedBF16
		PackBF16(&p, w)
		run = func() { MatMulBF16(out, x, m, &p) }
	}
	return 2 * float64(m) * float64(n) * float64(k) / BestTime(run) / 1e9
}

// BestTime runs f until it has taken 0.3 s or 10 runs (at least 3), after
// one warm-up call, and returns the fastest run in seconds: the minimum is
// the figure least disturbed by other work on the machine.
func BestTime(f func()) float64 {
	f() // warm caches, pool and scratch buffers
	best := math.Inf(1)
	var total time.Duration
	for i := 0; i < 10 && (i < 3 || total < 300*time.Millisecond); i++ {
		start := time.Now()
		f()
		d := time.Since(start)
		total += d
		best = min(best, d.Seconds())
	}
	return best
}
