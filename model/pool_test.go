package model_test

import (
	"strings"
	"testing"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/model/modeltest"
)

// traceObserver records every decode step's probability rows and
// attention output of every layer.
type traceObserver struct{ trace [][]float32 }

func (o *traceObserver) WantProbs() bool               { return true }
func (o *traceObserver) PrefillEnd(*model.PrefillView) {}
func (o *traceObserver) DecodeStep(d *model.DecodeView) {
	var row []float32
	for _, p := range d.Probs {
		row = append(row, p...)
	}
	o.trace = append(o.trace, append(row, d.Output...))
}

// traceRun prefills prompt into s and returns decodeTrace's record.
func traceRun(t *testing.T, s *model.Session, prompt []int, steps int) [][]float32 {
	t.Helper()
	if err := s.Prefill(t.Context(), prompt, nil); err != nil {
		t.Fatal(err)
	}
	return decodeTrace(t, s, steps)
}

// decodeTrace decodes steps tokens greedily from s with a traceObserver
// and returns its trace followed by the last logits.
func decodeTrace(t *testing.T, s *model.Session, steps int) [][]float32 {
	t.Helper()
	obs := &traceObserver{}
	for range steps {
		if err := s.Step(argmaxOf(s.Logits()), obs); err != nil {
			t.Fatal(err)
		}
	}
	return append(obs.trace, append([]float32(nil), s.Logits()...))
}

// sameTrace fails t unless got and want hold the same rows, bit for bit.
func sameTrace(t *testing.T, what string, got, want [][]float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	for i := range want {
		if j := sameBits(got[i], want[i]); j >= 0 {
			t.Fatalf("%s: row %d differs at value %d of %d", what, i, j, len(want[i]))
		}
	}
}

// A session started in a released session's memory must compute what a
// fresh one does, though that memory holds a longer sequence's keys,
// values, scratch rows and (in another RoPE arithmetic) rotation table;
// Clone and Compressed start in released memory too.
func TestReleasedMemoryGivesFreshBits(t *testing.T) {
	for _, dt := range []model.CacheDType{model.CacheF32, model.CacheBF16} {
		for _, compute := range []model.ComputeDType{model.ComputeF32, model.ComputeBF16} {
			t.Run(dt.String()+"/"+compute.String(), func(t *testing.T) {
				m, _ := loadRandomWith(t, tinyConfig("llama", 32, 4, 2, 8, ""), kernels.F32, model.LoadOptions{Compute: compute})
				so := model.SessionOptions{CacheDType: dt, Chunk: 16}
				prompt := randomIDs(21, 97, 3)
				fresh := modeltest.NewSession(t, m, so)
				want := traceRun(t, fresh, prompt, 4)

				dirtyOpts := so
				dirtyOpts.Rope, dirtyOpts.Chunk = model.RopeExact, 8
				dirty := modeltest.NewSession(t, m, dirtyOpts)
				traceRun(t, dirty, randomIDs(90, 97, 4), 6)
				room := model.CacheCap(dirty)
				dirty.Release()

				got := modeltest.NewSession(t, m, so)
				if c := model.CacheCap(got); c < room {
					t.Fatalf("new session has room for %d positions, the released one had %d: it did not start in released memory", c, room)
				}
				sameTrace(t, "session in released memory", traceRun(t, got, prompt, 4), want)

				// A Clone of a prompt's session, then a Compressed copy
				// keeping every position (the full session's bits), each
				// in the memory of a released one.
				src := modeltest.NewSession(t, m, so)
				if err := src.Prefill(t.Context(), prompt, nil); err != nil {
					t.Fatal(err)
				}
				got.Release()
				clone := src.Clone()
				if model.CacheCap(clone) < room {
					t.Fatal("Clone did not start in released memory")
				}
				sameTrace(t, "clone in released memory", decodeTrace(t, clone, 4), want)
				clone.Release()
				cfg := m.Config()
				all := make([]int, len(prompt))
				for i := range all {
					all[i] = i
				}
				comp, err := src.Compressed(sameKeep(cfg.NumLayers, cfg.NumKVHeads, all))
				if err != nil {
					t.Fatal(err)
				}
				if model.CacheCap(comp) < room {
					t.Fatal("Compressed did not start in released memory")
				}
				sameTrace(t, "compressed session in released memory", decodeTrace(t, comp, 4), want)
			})
		}
	}
}

// A released session refuses work with an error naming Release, Release
// is idempotent, the pool is bounded, and a released session of another
// cache dtype is not taken.
func TestReleaseMisuseAndBounds(t *testing.T) {
	m, _ := loadRandom(t, tinyConfig("llama", 32, 4, 2, 8, ""), kernels.F32)
	s := modeltest.NewSession(t, m, model.SessionOptions{})
	if err := s.Prefill(t.Context(), []int{1, 2, 3}, nil); err != nil {
		t.Fatal(err)
	}
	s.Release()
	s.Release()
	if n := model.PooledSessions(m); n != 1 {
		t.Fatalf("after releasing one session twice the pool holds %d, want 1", n)
	}
	if err := s.Prefill(t.Context(), []int{4}, nil); err == nil || !strings.Contains(err.Error(), "Release") {
		t.Fatalf("Prefill after Release: %v, want an error naming Release", err)
	}
	if err := s.Step(4, nil); err == nil || !strings.Contains(err.Error(), "Release") {
		t.Fatalf("Step after Release: %v, want an error naming Release", err)
	}

	// A bf16 cache does not take the float32 cache's memory.
	b := modeltest.NewSession(t, m, model.SessionOptions{CacheDType: model.CacheBF16})
	if c := model.CacheCap(b); c != 0 {
		t.Fatalf("bf16-cache session started with room for %d positions: it took a float32 cache", c)
	}
	if n := model.PooledSessions(m); n != 1 {
		t.Fatalf("pool holds %d after a bf16 session started, want the float32 one still", n)
	}

	var many []*model.Session
	for range 12 {
		many = append(many, modeltest.NewSession(t, m, model.SessionOptions{}))
	}
	for _, s := range many {
		s.Release()
	}
	if n := model.PooledSessions(m); n != 8 {
		t.Fatalf("after 12 releases the pool holds %d sessions, want its bound of 8", n)
	}
}
