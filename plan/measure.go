package plan

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"time"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
)

// ShapeSpeed is the measured speed of a model shape: one decoder layer
// built on random bf16 weights and timed, its times scaled to the whole
// model (MeasureShape).
type ShapeSpeed struct {
	Layers, LayersMeasured int
	Tokens                 int     // prefill length timed
	PrefillSeconds         float64 // all layers, at PrefillFLOPRate (Shape.PrefillFLOPs: the last layer's skipped rows left out)
	PrefillFLOPRate        float64 // FLOP/s of the measured prefill of one full layer
	StepSeconds            float64 // one decode step at Tokens context, all layers and the lm_head
	LMHeadSeconds          float64 // the lm_head's part of StepSeconds, from the GEMV bandwidth
}

// MeasureShape builds one decoder layer of full with random bf16 weights
// (a vocabulary of at most 1024: the lm_head is priced from lmHeadGBs, the
// measured bf16 GEMV bandwidth in GB/s), times the faster of two prefills
// of tokens positions (the layer computed in full, as every layer but the
// last is) and the median of steps decode steps after it, and scales them
// to the whole model: the prefill by its FLOPs, the step by the layer
// count. A full 7-8B model would take too long
// and too much memory to build for a machine figure.
func MeasureShape(full *model.Config, tokens, steps int, lmHeadGBs float64) (ShapeSpeed, error) {
	const measured = 1
	cfg := *full
	cfg.NumLayers = measured
	cfg.VocabSize = min(full.VocabSize, 1024)
	cfg.MaxPositionEmbeddings = max(full.MaxPositionEmbeddings, tokens+steps+1)
	w := model.RandomWeights(&cfg, kernels.BF16, 1)
	mdl, err := model.New(&cfg, w, model.LoadOptions{})
	if err != nil {
		return ShapeSpeed{}, fmt.Errorf("bench model %s: %w", full.Architecture, err)
	}
	runtime.GC() // the float32 drafts of the weights must not be collected while timing
	rng := rand.New(rand.NewPCG(3, 4))
	ids := make([]int, tokens+steps)
	for i := range ids {
		ids[i] = rng.IntN(cfg.VocabSize)
	}
	// The faster of two prefills of empty sessions (the second in the
	// first one's memory, as a run's probes are), and the median decode
	// step: the figures least disturbed by other work on the machine.
	prefill := math.Inf(1)
	var sess *model.Session
	for range 2 {
		if sess != nil {
			sess.Release()
		}
		// The one layer is timed in full, as every layer but the last runs.
		if sess, err = mdl.NewSession(model.SessionOptions{MaxContext: tokens + steps + 1, FullLastLayer: true}); err != nil {
			return ShapeSpeed{}, fmt.Errorf("bench model %s: %w", full.Architecture, err)
		}
		start := time.Now()
		if err := sess.Prefill(context.Background(), ids[:tokens], nil); err != nil {
			return ShapeSpeed{}, fmt.Errorf("bench prefill: %w", err)
		}
		prefill = min(prefill, time.Since(start).Seconds())
	}
	times := make([]float64, 0, steps)
	for _, id := range ids[tokens:] {
		start := time.Now()
		if err := sess.Step(id, nil); err != nil {
			return ShapeSpeed{}, fmt.Errorf("bench decode: %w", err)
		}
		times = append(times, time.Since(start).Seconds())
	}
	sort.Float64s(times)
	step := times[len(times)/2]

	shape := ShapeOf(*full)
	layers := float64(full.NumLayers) / measured
	lmHead := shape.LMHeadSeconds(2, lmHeadGBs*1e9)
	// The layer ran in full: its FLOP rate prices the whole model's work,
	// the last layer's skipped rows left out (PrefillWork).
	rate := ShapeOf(cfg).flops(float64(tokens), pairSum(0, tokens)) / prefill
	return ShapeSpeed{
		Layers:          full.NumLayers,
		LayersMeasured:  measured,
		Tokens:          tokens,
		PrefillSeconds:  shape.PrefillFLOPs(0, tokens, 0) / rate,
		PrefillFLOPRate: rate,
		StepSeconds:     step*layers + lmHead,
		LMHeadSeconds:   lmHead,
	}, nil
}

// Rates turns the measured speed into plan rates for shape: the prefill's
// FLOP rate prices the layer matrices and the attention pairs; a decode
// step is the measured step plus, per cached position, its keys and values
// (kvBytes per value) read at bandwidth bytes/s.
func (sp ShapeSpeed) Rates(shape Shape, kvBytes int, bandwidth float64, source string) Rates {
	return shape.NewRates(sp.PrefillFLOPRate, time.Duration(sp.StepSeconds*float64(time.Second)), shape.KVReadSeconds(kvBytes, bandwidth), source)
}
