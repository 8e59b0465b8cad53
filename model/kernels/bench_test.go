package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchThreads runs f as sub-benchmarks on one goroutine and on all.
func benchThreads(b *testing.B, f func(b *testing.B)) {
	defer SetThreads(0)
	all := Threads()
	for _, n := range []int{1, all} {
		b.Run(fmt.Sprintf("threads=%d", n), func(b *testing.B) {
			SetThreads(n)
			f(b)
		})
		if all == 1 {
			break
		}
	}
}

func benchMatMul(b *testing.B, dt DType, m, k, n int) {
	r := rand.New(rand.NewPCG(1, 1))
	w := randomMatrix(r, n, k, dt)
	x := randomFloats(r, m*k)
	out := make([]float32, m*n)
	benchThreads(b, func(b *testing.B) {
		for b.Loop() {
			MatMul(out, x, m, w)
		}
		b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}

func BenchmarkMatMulF32_512x2048x2048(b *testing.B)  { benchMatMul(b, F32, 512, 2048, 2048) }
func BenchmarkMatMulBF16_512x2048x2048(b *testing.B) { benchMatMul(b, BF16, 512, 2048, 2048) }
func BenchmarkMatMulF16_512x2048x2048(b *testing.B)  { benchMatMul(b, F16, 512, 2048, 2048) }

func benchGEMV(b *testing.B, dt DType, n, k int) {
	r := rand.New(rand.NewPCG(2, 2))
	w := randomMatrix(r, n, k, dt)
	x := randomFloats(r, k)
	out := make([]float32, n)
	bytes := 4 * n * k
	if dt != F32 {
		bytes = 2 * n * k
	}
	benchThreads(b, func(b *testing.B) {
		b.SetBytes(int64(bytes))
		for b.Loop() {
			MatMul(out, x, 1, w)
		}
		b.ReportMetric(float64(bytes)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
	})
}

func BenchmarkGEMVF32_4096x4096(b *testing.B)  { benchGEMV(b, F32, 4096, 4096) }
func BenchmarkGEMVBF16_4096x4096(b *testing.B) { benchGEMV(b, BF16, 4096, 4096) }

func BenchmarkDot(b *testing.B) {
	for _, n := range []int{128, 4096} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(3, 3))
			x, y := randomFloats(r, n), randomFloats(r, n)
			var s float32
			for b.Loop() {
				s += Dot(x, y)
			}
			b.ReportMetric(2*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if s != s {
				b.Fatal("NaN")
			}
		})
	}
}

func BenchmarkDotBF16(b *testing.B) {
	const n = 128
	r := rand.New(rand.NewPCG(4, 4))
	x, y := randomFloats(r, n), randomMatrix(r, 1, n, BF16).U16
	for b.Loop() {
		DotBF16(x, y)
	}
	b.ReportMetric(2*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkSoftmax4096(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 5))
	x := randomFloats(r, 4096)
	buf := make([]float32, len(x))
	for b.Loop() {
		copy(buf, x)
		Softmax(buf, 1)
	}
	b.ReportMetric(float64(len(x))*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
}

func BenchmarkPeakFMA(b *testing.B) {
	for b.Loop() {
		b.ReportMetric(PeakFMA(1, 200e6), "GFLOP/s")
	}
}

// BenchmarkPeakAMX is the bf16 tile ceiling (0 without AMX), beside
// BenchmarkPeakFMA in one run.
func BenchmarkPeakAMX(b *testing.B) {
	for b.Loop() {
		b.ReportMetric(PeakAMX(1, 200e6), "GFLOP/s")
	}
}

// BenchmarkMatMulGGMLShape is the shape of ggml's test-backend-ops figures
// in FACTS.md (m=4096 weight rows, k=14336, n=512 tokens; n=1 for decode),
// on all threads, so the two can be compared directly.
func BenchmarkMatMulGGMLShape(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 7))
	const n, k = 4096, 14336
	for _, dt := range []DType{F32, F16, BF16} {
		w := randomMatrix(r, n, k, dt)
		for _, m := range []int{512, 1} {
			x := randomFloats(r, m*k)
			out := make([]float32, m*n)
			b.Run(fmt.Sprintf("%s/tokens=%d", dt, m), func(b *testing.B) {
				for b.Loop() {
					MatMul(out, x, m, w)
				}
				b.ReportMetric(2*float64(m)*n*k*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
