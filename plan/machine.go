package plan

import (
	"math/rand/v2"
	"time"

	"github.com/compresskv/compresskv/model/kernels"
)

// MachineOptions are the sizes of the machine measurements; the bench
// command uses documented ones, tests shrink them.
type MachineOptions struct {
	Threads   int           // kernel goroutines (0: keep the current count)
	PeakTime  time.Duration // per FMA peak probe
	MemBytes  int           // memory-bandwidth buffer
	GEMMShape [3]int        // M, K, N of the GEMM probe
	GEMVShape [2]int        // N, K of the GEMV probe
}

// GEMMRate is one GEMM measurement (unrounded).
type GEMMRate struct {
	DType   kernels.DType // stored weights
	Compute string        // "f32" (weights widened) or "bf16" (bf16 dot products)
	Threads int
	GFLOPs  float64
	OfPeak  float64 // fraction of Ceiling's peak of as many threads
	// Ceiling names the peak OfPeak divides by: "fma" (float32 FMA), or
	// "amx" for bf16 compute on AMX tiles.
	Ceiling string
}

// GEMVRate is one matrix-vector (decode) measurement (unrounded).
type GEMVRate struct {
	DType   kernels.DType
	Threads int
	GBs     float64 // weight bytes read per second, in GB/s
	OfRead  float64 // fraction of the memory read probe of as many threads
}

// Machine is what MeasureMachine measured: the two ceilings (FMA peak and
// memory read) on one thread and on all, the GEMM and GEMV rates against
// them, and how much of the machine the measurements got.
type Machine struct {
	Implementation             string // kernels.Implementation()
	Threads                    int    // all threads measured
	PeakGFLOPs1, PeakGFLOPsAll float64
	// PeakAMX1 and PeakAMXAll are the AMX bf16 tile peak (kernels.PeakAMX;
	// 0 without AMX), the ceiling of bf16 compute's GEMM there.
	PeakAMX1, PeakAMXAll float64
	MemGBs1, MemGBsAll   float64
	GEMM                 []GEMMRate
	GEMV                 []GEMVRate
	// GEMVBF16GBs is the all-thread bf16 GEMV bandwidth, which prices a
	// bf16 lm_head in a decode step.
	GEMVBF16GBs float64
	// F32DotGFLOPs and BF16DotGFLOPs are the all-thread GEMM rates at
	// GEMMShape with bf16 weights under f32 and bf16 compute (their ratio
	// is bf16 compute's speedup of the layer matrices).
	F32DotGFLOPs, BF16DotGFLOPs float64
	// CPUShare is the CPU time the all-thread GEMM got over its wall time
	// and threads (0: unknown); well below 1 when other work shares the
	// machine.
	CPUShare float64
}

// MeasureMachine takes the machine measurements of compresskv bench: FMA
// peak and memory read, GEMM (f32 and bf16 weights under f32 compute, bf16
// weights under bf16 compute) and GEMV rates on one thread and on all.
func MeasureMachine(o MachineOptions) Machine {
	defer kernels.SetThreads(kernels.Threads())
	if o.Threads > 0 {
		kernels.SetThreads(o.Threads)
	}
	all := kernels.Threads()
	counts := []int{1}
	if all > 1 {
		counts = append(counts, all)
	}
	r := Machine{Implementation: kernels.Implementation(), Threads: all}
	r.PeakGFLOPs1 = kernels.PeakFMA(1, o.PeakTime)
	r.PeakGFLOPsAll = kernels.PeakFMA(all, o.PeakTime)
	r.PeakAMX1 = kernels.PeakAMX(1, o.PeakTime)
	r.PeakAMXAll = kernels.PeakAMX(all, o.PeakTime)
	r.MemGBs1 = kernels.MemoryBandwidth(1, o.MemBytes, 3)
	r.MemGBsAll = kernels.MemoryBandwidth(all, o.MemBytes, 3)
	peak := func(t int) float64 {
		if t > 1 {
			return r.PeakGFLOPsAll
		}
		return r.PeakGFLOPs1
	}
	read := func(t int) float64 {
		if t > 1 {
			return r.MemGBsAll
		}
		return r.MemGBs1
	}

	rng := rand.New(rand.NewPCG(1, 2))
	m, k, n := o.GEMMShape[0], o.GEMMShape[1], o.GEMMShape[2]
	for _, dt := range []kernels.DType{kernels.F32, kernels.BF16} {
		w := randomMatrix(rng, n, k, dt)
		x := randomFloats(rng, m*k)
		out := make([]float32, m*n)
		for _, t := range counts {
			kernels.SetThreads(t)
			sec := kernels.BestTime(func() { kernels.MatMul(out, x, m, w) })
			g := 2 * float64(m) * float64(n) * float64(k) / sec / 1e9
			r.GEMM = append(r.GEMM, GEMMRate{dt, "f32", t, g, g / peak(t), "fma"})
		}
	}
	for _, t := range counts {
		g := kernels.GEMMRate(true, t, m, n, k)
		rate := GEMMRate{kernels.BF16, "bf16", t, g, g / peak(t), "fma"}
		if r.PeakAMX1 > 0 {
			amx := r.PeakAMX1
			if t > 1 {
				amx = r.PeakAMXAll
			}
			rate.OfPeak, rate.Ceiling = g/amx, "amx"
		}
		r.GEMM = append(r.GEMM, rate)
	}
	gn, gk := o.GEMVShape[0], o.GEMVShape[1]
	for _, dt := range []kernels.DType{kernels.F32, kernels.BF16} {
		w := randomMatrix(rng, gn, gk, dt)
		x := randomFloats(rng, gk)
		out := make([]float32, gn)
		bytes := float64(gn) * float64(gk) * 2
		if dt == kernels.F32 {
			bytes *= 2
		}
		for _, t := range counts {
			kernels.SetThreads(t)
			gbs := bytes / kernels.BestTime(func() { kernels.MatMul(out, x, 1, w) }) / 1e9
			r.GEMV = append(r.GEMV, GEMVRate{dt, t, gbs, gbs / read(t)})
			if dt == kernels.BF16 && t == all {
				r.GEMVBF16GBs = gbs
			}
		}
	}
	kernels.SetThreads(all)

	// The all-thread GEMM's CPU time over its wall time says how much of
	// the machine the measurements got.
	cpu0, haveCPU := CPUTime()
	start := time.Now()
	r.F32DotGFLOPs = kernels.GEMMRate(false, all, m, n, k)
	r.BF16DotGFLOPs = kernels.GEMMRate(true, all, m, n, k)
	if cpu1, ok := CPUTime(); haveCPU && ok {
		if wall := time.Since(start).Seconds(); wall > 0 {
			r.CPUShare = min((cpu1-cpu0).Seconds()/(wall*float64(all)), 1)
		}
	}
	return r
}

func randomFloats(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = r.Float32()*2 - 1
	}
	return x
}

func randomMatrix(r *rand.Rand, rows, cols int, dt kernels.DType) kernels.Matrix {
	m := kernels.Matrix{Rows: rows, Cols: cols, DType: dt}
	if dt == kernels.F32 {
		m.F32 = randomFloats(r, rows*cols)
		return m
	}
	m.U16 = make([]uint16, rows*cols)
	for i := range m.U16 {
		m.U16[i] = kernels.Float32ToBF16(r.Float32()*2 - 1)
	}
	return m
}
