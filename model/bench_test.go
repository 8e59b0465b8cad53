package model_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/model/modeltest"
)

// benchModel is a small random Llama-shaped model (hidden 256, 4 layers,
// GQA 8/2) built in memory.
func benchModel(b *testing.B, dtype kernels.DType) *model.Model {
	b.Helper()
	cfg, err := model.ParseConfig([]byte(`{"model_type": "llama", "hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 4,
		"num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 1024, "max_position_embeddings": 4096}`), "bench")
	if err != nil {
		b.Fatal(err)
	}
	m, err := model.New(cfg, model.RandomWeights(cfg, dtype, 1), model.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkPrefill reports prefill throughput on a 1024-token prompt.
func BenchmarkPrefill(b *testing.B) {
	for _, dt := range []kernels.DType{kernels.F32, kernels.BF16} {
		b.Run(dt.String(), func(b *testing.B) {
			m := benchModel(b, dt)
			ids := randomIDs(1024, m.Config().VocabSize, 1)
			s := modeltest.NewSession(b, m, model.SessionOptions{})
			b.ResetTimer()
			for b.Loop() {
				s.Reset()
				if err := s.Prefill(b.Context(), ids, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(ids)*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkDecode reports single-token decode speed after a 512-token prompt.
func BenchmarkDecode(b *testing.B) {
	m := benchModel(b, kernels.BF16)
	ids := randomIDs(512, m.Config().VocabSize, 2)
	s := modeltest.NewSession(b, m, model.SessionOptions{})
	if err := s.Prefill(b.Context(), ids, nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if s.Full() {
			s.Truncate(len(ids))
		}
		if err := s.Step(7, nil); err != nil {
			b.Fatal(err)
		}
		_ = s.Logits()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkPrefillTinyLlamaLayer prefills one decoder layer of
// TinyLlama-1.1B's shape (hidden 2048, 32/4 heads, intermediate 5632, bf16
// weights): the workload `compresskv bench --shape tinyllama-1.1b`
// measures, small enough to profile with -cpuprofile; compute=bf16 is the
// same layer under --compute bf16. At 16384 tokens (about 10 s a prefill
// on one thread) attention is about half the work: pick it with -bench
// 'TinyLlamaLayer/.*/tokens=16384' -benchtime 1x.
func BenchmarkPrefillTinyLlamaLayer(b *testing.B) {
	cfg, err := model.ParseConfig([]byte(`{"model_type": "llama", "hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 1,
		"num_attention_heads": 32, "num_key_value_heads": 4, "vocab_size": 1024, "max_position_embeddings": 16384}`), "bench")
	if err != nil {
		b.Fatal(err)
	}
	w := model.RandomWeights(cfg, kernels.BF16, 1)
	defer kernels.SetThreads(kernels.Threads())
	for _, compute := range []model.ComputeDType{model.ComputeF32, model.ComputeBF16} {
		m, err := model.New(cfg, w, model.LoadOptions{Compute: compute})
		if err != nil {
			b.Fatal(err)
		}
		for _, threads := range []int{1, runtime.GOMAXPROCS(0)} {
			for _, n := range []int{512, 4096, 16384} {
				b.Run(fmt.Sprintf("compute=%v/threads=%d/tokens=%d", compute, threads, n), func(b *testing.B) {
					kernels.SetThreads(threads)
					ids := randomIDs(n, cfg.VocabSize, 1)
					// A full layer, as every layer but the last runs.
					s := modeltest.NewSession(b, m, model.SessionOptions{FullLastLayer: true})
					for b.Loop() {
						s.Reset()
						if err := s.Prefill(b.Context(), ids, nil); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "layer-tokens/s")
				})
			}
		}
	}
}
