package model

import (
	"math"
	"math/rand/v2"
	"time"
)

// AttentionRate measures cfg's prefill attention under compute in GFLOP/s
// (4·headDim FLOPs per query head and visible key, Q·Kᵀ and P·V): the last
// chunk of chunk queries of a context-token prompt against a random
// float32 cache, on the kernel threads, the fastest of reps runs by the
// wall clock. The attention runs exactly as in a prefill (the softmax and
// packing included), so the ratio of the bf16 and f32 rates is what bf16
// compute saves on a long prompt's attention (bench's grid projection).
func AttentionRate(cfg *Config, compute ComputeDType, context, chunk, reps int) float64 {
	run, flops := AttentionWork(cfg, compute, context, chunk)
	best := math.Inf(1)
	for range max(reps, 1) {
		start := time.Now()
		run()
		best = min(best, time.Since(start).Seconds())
	}
	return flops / best / 1e9
}

// AttentionWork sets up AttentionRate's problem and returns a function
// that runs it once and its FLOPs, for a caller that times the runs its
// own way (plan.Calibrate: the time a quiet machine would take).
func AttentionWork(cfg *Config, compute ComputeDType, context, chunk int) (run func(), flops float64) {
	chunk = max(1, min(chunk, context))
	a := newAttention(cfg, compute)
	cache := newLayerCache(cfg.NumKVHeads, cfg.HeadDim, CacheF32)
	rng := rand.New(rand.NewPCG(5, 6))
	random := func(n int, sd float64) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * sd)
		}
		return x
	}
	kv := context * cfg.NumKVHeads * cfg.HeadDim
	cache.append(random(kv, 1), random(kv, 1), context)
	qd := cfg.NumHeads * cfg.HeadDim
	q, out := random(chunk*qd, 3), make([]float32, chunk*qd)
	p0 := context - chunk
	for t := 0; t < chunk; t++ {
		lo, hi := a.visible(p0 + t)
		flops += 4 * float64(cfg.NumHeads*(hi-lo)*cfg.HeadDim)
	}
	return func() { a.prefill(out, q, chunk, p0, cache) }, flops
}

// DecodeAttentionWork sets up one decode step's attention for one layer
// of cfg at a context-token cache (random float32 keys and values, as
// AttentionWork) and returns a function that runs it, with the
// probability rows a profiling observer asks for when probs is true.
// Timed, it gives what a cached position costs a decode step beyond its
// keys and values read from memory (the dot products, the exponentials,
// the weighted sum), which at a short context is lost in the step's
// noise.
func DecodeAttentionWork(cfg *Config, compute ComputeDType, context int, probs bool) (run func()) {
	context = max(context, 1)
	a := newAttention(cfg, compute)
	cache := newLayerCache(cfg.NumKVHeads, cfg.HeadDim, CacheF32)
	rng := rand.New(rand.NewPCG(7, 8))
	random := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		return x
	}
	kv := context * cfg.NumKVHeads * cfg.HeadDim
	cache.append(random(kv), random(kv), context)
	qd := cfg.NumHeads * cfg.HeadDim
	q, out := random(qd), make([]float32, qd)
	var rows [][]float32
	if probs {
		rows = make([][]float32, cfg.NumHeads)
		for h := range rows {
			rows[h] = make([]float32, context)
		}
	}
	return func() { a.decode(out, q, context-1, cache, rows) }
}
