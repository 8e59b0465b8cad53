package model

import (
	"fmt"
	"strings"

	"github.com/compresskv/compresskv/model/kernels"
)

// ComputeDType is the arithmetic of the decoder layers' projections (q, k,
// v, o, gate, up, down) and of prefill attention's two products.
//
// ComputeF32 (the default) widens the stored weights to float32 and keeps
// float32 activations. ComputeBF16 rounds activations and weights to
// bfloat16 (nearest even), multiplies them exactly and sums in float32:
// the arithmetic of a GPU's bf16 matmul, as the reference runs, and twice
// the FMA throughput where the CPU has AVX512_BF16 (VDPBF16PS). Prefill
// attention does the same for S = Q·Kᵀ and O += P·V (queries, keys, the
// probabilities and values rounded to bf16, as a GPU's bf16 flash
// attention), with the softmax in float32. Decode attention, norms, the
// embedding and lm_head stay float32 in both.
type ComputeDType uint8

// The compute modes.
const (
	ComputeF32 ComputeDType = iota
	ComputeBF16
)

// ParseComputeDType reads "f32" or "bf16" (any case).
func ParseComputeDType(s string) (ComputeDType, error) {
	switch strings.ToLower(s) {
	case "f32":
		return ComputeF32, nil
	case "bf16":
		return ComputeBF16, nil
	}
	return 0, fmt.Errorf("compute dtype %q: want f32 or bf16", s)
}

// BF16Arithmetic names the revision of ComputeBF16's arithmetic: the date
// of the last change that moved any bit of its results (2026-12-02: prefill
// attention's row-by-row step rescales by the tile kernel's factor).
// Checkpoints and profiles record it (Arithmetic), so a bf16 run is not
// resumed or merged across such a change: the result would be neither
// build's. Every change to bf16 compute's bits must bump it.
const BF16Arithmetic = "2026-12-02"

// Arithmetic is the revision of c's arithmetic that checkpoints record:
// BF16Arithmetic under ComputeBF16, "" under ComputeF32 (which records
// none, so checkpoints written before the field existed still resume).
// On a CPU whose bf16 products run on AMX tiles (kernels.HasAMX) the sums
// round differently, so the revision gains AMXSuffix: a run started on
// one kind of machine is not resumed or merged on the other.
func (c ComputeDType) Arithmetic() string {
	if c == ComputeBF16 {
		if kernels.HasAMX() {
			return BF16Arithmetic + AMXSuffix
		}
		return BF16Arithmetic
	}
	return ""
}

// AMXSuffix marks bf16 arithmetic whose products ran on AMX tiles.
const AMXSuffix = "+amx"

// String returns the name ParseComputeDType reads ("f32", "bf16").
func (c ComputeDType) String() string {
	switch c {
	case ComputeF32:
		return "f32"
	case ComputeBF16:
		return "bf16"
	}
	return fmt.Sprintf("ComputeDType(%d)", uint8(c))
}

// packedLayer holds one layer's projections packed for the bf16 dot-product
// GEMM; every field is nil under ComputeF32.
type packedLayer struct {
	q, k, v, o, gate, up, down *kernels.PackedBF16
}

// packLayers packs every layer's projections once, on all kernel threads.
// The packed panels take the bytes of a bf16 copy of the projections; the
// stored matrices are not read again by the forward pass (see releasePacked).
func packLayers(w *Weights) []packedLayer {
	packed := make([]packedLayer, len(w.Layers))
	type job struct {
		dst **kernels.PackedBF16
		src kernels.Matrix
	}
	var jobs []job
	for l := range w.Layers {
		lw, pl := &w.Layers[l], &packed[l]
		for _, j := range []job{
			{&pl.q, lw.QProj}, {&pl.k, lw.KProj}, {&pl.v, lw.VProj}, {&pl.o, lw.OProj},
			{&pl.gate, lw.GateProj}, {&pl.up, lw.UpProj}, {&pl.down, lw.DownProj},
		} {
			*j.dst = new(kernels.PackedBF16)
			jobs = append(jobs, j)
		}
	}
	kernels.ParallelFor(len(jobs), kernels.Threads(), func(_, i int) {
		kernels.PackBF16(*jobs[i].dst, jobs[i].src)
	})
	return packed
}

// linear computes out[n, rows] = x[n, cols] · wᵀ, through the packed bf16
// panels p when the model computes in bf16 (p != nil).
func linear(out, x []float32, n int, w kernels.Matrix, p *kernels.PackedBF16) {
	if p != nil {
		kernels.MatMulBF16(out, x, n, p)
		return
	}
	kernels.MatMul(out, x, n, w)
}

// layerPacked returns layer l's packed projections (all nil under
// ComputeF32).
func (m *Model) layerPacked(l int) packedLayer {
	if m.packed == nil {
		return packedLayer{}
	}
	return m.packed[l]
}

// PackedBytes returns the memory the bf16 compute mode's packed weight
// panels hold (0 under ComputeF32).
func (m *Model) PackedBytes() int64 {
	var n int64
	for _, pl := range m.packed {
		for _, p := range []*kernels.PackedBF16{pl.q, pl.k, pl.v, pl.o, pl.gate, pl.up, pl.down} {
			n += int64(p.Bytes())
		}
	}
	return n
}
