package plan

import (
	"testing"
	"time"

	"github.com/compresskv/compresskv/model/kernels"
)

// TestMeasureMachineShapes checks what MeasureMachine reports on tiny
// probes: one row per weight dtype and compute per thread count, each
// fraction its rate over the matching ceiling, and the thread count put
// back afterwards. (The rates themselves depend on the machine.)
func TestMeasureMachineShapes(t *testing.T) {
	before := kernels.Threads()
	mm := MeasureMachine(MachineOptions{Threads: 2, PeakTime: time.Millisecond, MemBytes: 1 << 16,
		GEMMShape: [3]int{8, 32, 16}, GEMVShape: [2]int{64, 32}})
	if kernels.Threads() != before {
		t.Errorf("threads after MeasureMachine: %d, want %d as before", kernels.Threads(), before)
	}
	if mm.Threads != 2 {
		t.Fatalf("measured %d threads, want 2", mm.Threads)
	}
	wantGEMM := []struct {
		dt      kernels.DType
		compute string
		threads int
	}{{kernels.F32, "f32", 1}, {kernels.F32, "f32", 2}, {kernels.BF16, "f32", 1}, {kernels.BF16, "f32", 2}, {kernels.BF16, "bf16", 1}, {kernels.BF16, "bf16", 2}}
	if len(mm.GEMM) != len(wantGEMM) {
		t.Fatalf("%d GEMM rows, want %d: %+v", len(mm.GEMM), len(wantGEMM), mm.GEMM)
	}
	peaks := map[string]map[int]float64{"fma": {1: mm.PeakGFLOPs1, 2: mm.PeakGFLOPsAll}, "amx": {1: mm.PeakAMX1, 2: mm.PeakAMXAll}}
	if (mm.PeakAMX1 > 0) != kernels.HasAMX() || (mm.PeakAMXAll > 0) != kernels.HasAMX() {
		t.Errorf("AMX peak %g / %g GFLOP/s with HasAMX %v", mm.PeakAMX1, mm.PeakAMXAll, kernels.HasAMX())
	}
	for i, w := range wantGEMM {
		g := mm.GEMM[i]
		if g.DType != w.dt || g.Compute != w.compute || g.Threads != w.threads {
			t.Errorf("GEMM row %d: %v/%s/%d threads, want %v/%s/%d", i, g.DType, g.Compute, g.Threads, w.dt, w.compute, w.threads)
		}
		// bf16 compute on AMX tiles is measured against the AMX peak,
		// everything else against the FMA peak.
		ceiling := "fma"
		if w.compute == "bf16" && kernels.HasAMX() {
			ceiling = "amx"
		}
		if peak := peaks[ceiling][g.Threads]; g.Ceiling != ceiling || !(g.GFLOPs > 0) || g.OfPeak != g.GFLOPs/peak {
			t.Errorf("GEMM row %d: %g GFLOP/s, %g of the %s peak %g (want the %s peak)", i, g.GFLOPs, g.OfPeak, g.Ceiling, peak, ceiling)
		}
	}
	read := map[int]float64{1: mm.MemGBs1, 2: mm.MemGBsAll}
	if len(mm.GEMV) != 4 {
		t.Fatalf("%d GEMV rows, want 4", len(mm.GEMV))
	}
	for i, g := range mm.GEMV {
		if !(g.GBs > 0) || g.OfRead != g.GBs/read[g.Threads] {
			t.Errorf("GEMV row %d: %g GB/s, %g of the read probe %g", i, g.GBs, g.OfRead, read[g.Threads])
		}
	}
	if last := mm.GEMV[3]; last.DType != kernels.BF16 || last.Threads != 2 || mm.GEMVBF16GBs != last.GBs {
		t.Errorf("GEMVBF16GBs %g, want the 2-thread bf16 row's %g (%+v)", mm.GEMVBF16GBs, last.GBs, last)
	}
	if mm.CPUShare < 0 || mm.CPUShare > 1 || !(mm.F32DotGFLOPs > 0) || !(mm.BF16DotGFLOPs > 0) {
		t.Errorf("CPU share %g (want 0..1), dot rates %g and %g (want > 0)", mm.CPUShare, mm.F32DotGFLOPs, mm.BF16DotGFLOPs)
	}
}
