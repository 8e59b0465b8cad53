package model_test

import (
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/model/modeltest"
)

// bitsObserver keeps a hash of the bits of everything DecodeStep shows:
// the probability rows, query, output and projection of every layer.
type bitsObserver struct {
	h     []uint64
	probs bool
}

func (o *bitsObserver) WantProbs() bool               { return o.probs }
func (o *bitsObserver) PrefillEnd(*model.PrefillView) {}
func (o *bitsObserver) DecodeStep(v *model.DecodeView) {
	f := fnv.New64a()
	put := func(x []float32) {
		for _, x := range x {
			b := math.Float32bits(x)
			f.Write([]byte{byte(b), byte(b >> 8), byte(b >> 16), byte(b >> 24)})
		}
	}
	fmt.Fprint(f, v.Layer, v.Pos)
	for _, row := range v.Probs {
		put(row)
	}
	put(v.Query)
	put(v.Output)
	put(v.Projected)
	o.h = append(o.h, f.Sum64())
}

// TestStepBatchBits: StepBatch and DecodeBatch give every session the bits
// Step and Decode give it alone: logits, the observer's views and the
// decoded tokens, for bf16 and float32 compute (the latter steps the
// sessions in turn), float32 and bf16 caches, a family with biases, and
// more sessions than one block of BatchRows, at different lengths.
func TestStepBatchBits(t *testing.T) {
	defer kernels.SetThreads(kernels.Threads())
	kernels.SetThreads(2)
	for _, family := range []string{"llama", "qwen2"} {
		for _, compute := range []model.ComputeDType{model.ComputeBF16, model.ComputeF32} {
			m, _ := loadRandomWith(t, tinyConfig(family, 64, 4, 2, 16, ""), kernels.BF16, model.LoadOptions{Compute: compute})
			if m.Batched() != (compute == model.ComputeBF16) {
				t.Fatalf("%v: Batched() = %v", compute, m.Batched())
			}
			for _, cache := range []model.CacheDType{model.CacheF32, model.CacheBF16} {
				name := fmt.Sprintf("%s/%v/%v", family, compute, cache)
				so := model.SessionOptions{Chunk: 16, CacheDType: cache}
				const n = model.BatchRows + 3
				vocab := m.Config().VocabSize
				alone, batch := make([]*model.Session, n), make([]*model.Session, n)
				for i := range alone {
					alone[i] = modeltest.NewSession(t, m, so)
					if err := alone[i].Prefill(t.Context(), randomIDs(5+7*i, vocab, uint64(30+i)), nil); err != nil {
						t.Fatal(err)
					}
					batch[i] = alone[i].Clone()
				}
				// Two steps of all, then three of all but the first.
				for step := range 5 {
					from := 0
					if step >= 2 {
						from = 1
					}
					ids := make([]int, n-from)
					obsA, obsB := make([]model.Observer, n-from), make([]model.Observer, n-from)
					for k := range ids {
						ids[k] = (13*step + 5*k) % vocab
						obsA[k], obsB[k] = &bitsObserver{probs: k%2 == 0}, &bitsObserver{probs: k%2 == 0}
					}
					for k, s := range alone[from:] {
						if err := s.Step(ids[k], obsA[k]); err != nil {
							t.Fatal(err)
						}
					}
					if err := model.StepBatch(batch[from:], ids, obsB); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					for k := range ids {
						i := from + k
						if sameBits(batch[i].Logits(), alone[i].Logits()) >= 0 {
							t.Fatalf("%s, step %d: session %d's logits differ from its Step's", name, step, i)
						}
						a, b := obsA[k].(*bitsObserver).h, obsB[k].(*bitsObserver).h
						if len(a) != m.Config().NumLayers || fmt.Sprint(a) != fmt.Sprint(b) {
							t.Fatalf("%s, step %d: session %d's observed views differ: %v against %v", name, step, i, b, a)
						}
					}
				}
				// Greedy decoding, with a stop rule that ends sessions at
				// different steps.
				opts := func(i int) model.DecodeOptions {
					return model.DecodeOptions{MaxNew: 3 + i%4, KeepLogits: true, Observer: &bitsObserver{probs: true},
						Stop: func(t, id int) bool { return id%5 == i%5 && t > 0 }}
				}
				all := make([]model.DecodeOptions, n)
				for i := range all {
					all[i] = opts(i)
				}
				steppers := make([]model.Stepper, n)
				for i, s := range batch {
					steppers[i] = s
				}
				got, err := model.DecodeBatch(t.Context(), steppers, all, model.StepSessions)
				if err != nil {
					t.Fatal(err)
				}
				for i, s := range alone {
					o := opts(i)
					want, err := s.Decode(t.Context(), o)
					if err != nil {
						t.Fatal(err)
					}
					if fmt.Sprint(got[i].IDs, got[i].Fed, got[i].Stop) != fmt.Sprint(want.IDs, want.Fed, want.Stop) || sameBits(got[i].Logits, want.Logits) >= 0 {
						t.Fatalf("%s: DecodeBatch session %d: %v %v %v, Decode alone %v %v %v (or the logits differ)", name, i, got[i].IDs, got[i].Fed, got[i].Stop, want.IDs, want.Fed, want.Stop)
					}
					if fmt.Sprint(all[i].Observer.(*bitsObserver).h) != fmt.Sprint(o.Observer.(*bitsObserver).h) {
						t.Fatalf("%s: DecodeBatch session %d: the observed views differ", name, i)
					}
				}
			}
		}
	}
}

// TestStepBatchErrors: bad batches are refused before anything is fed,
// and a failing token rolls every session back.
func TestStepBatchErrors(t *testing.T) {
	m, _ := loadRandomWith(t, tinyConfig("llama", 64, 4, 2, 16, ""), kernels.BF16, model.LoadOptions{Compute: model.ComputeBF16})
	other, _ := loadRandomWith(t, tinyConfig("llama", 64, 4, 2, 16, ""), kernels.BF16, model.LoadOptions{Compute: model.ComputeBF16})
	vocab := m.Config().VocabSize
	ss := make([]*model.Session, 3)
	for i := range ss {
		ss[i] = modeltest.NewSession(t, m, model.SessionOptions{})
		if err := ss[i].Prefill(t.Context(), randomIDs(4+i, vocab, uint64(i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	alien := modeltest.NewSession(t, other, model.SessionOptions{})
	for _, c := range []struct {
		ss   []*model.Session
		ids  []int
		want string
	}{
		{ss, []int{1, 2}, "3 sessions, 2 tokens"},
		{[]*model.Session{ss[0], ss[0]}, []int{1, 2}, "given twice"},
		{[]*model.Session{ss[0], alien}, []int{1, 2}, "different models"},
		{ss, []int{1, vocab, 2}, "session 1"},
	} {
		lens := []int{ss[0].Len(), ss[1].Len(), ss[2].Len()}
		err := model.StepBatch(c.ss, c.ids, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("StepBatch(%d sessions, %v) = %v, want an error with %q", len(c.ss), c.ids, err, c.want)
		}
		for i, s := range ss {
			if s.Len() != lens[i] {
				t.Errorf("%q: session %d holds %d positions after the error, want %d", c.want, i, s.Len(), lens[i])
			}
		}
	}
	if _, err := model.DecodeBatch(t.Context(), []model.Stepper{ss[0]}, nil, nil); err == nil {
		t.Error("DecodeBatch with no options: no error")
	}
	if err := model.StepSessions([]model.Stepper{ss[0], newScript(3)}, []int{1, 2}, nil); err == nil || !strings.Contains(err.Error(), "not a *model.Session") {
		t.Errorf("StepSessions of a stepper that is not a session: %v", err)
	}
	fresh := modeltest.NewSession(t, m, model.SessionOptions{})
	if _, err := model.DecodeBatch(t.Context(), []model.Stepper{fresh}, []model.DecodeOptions{{MaxNew: 1}}, nil); err == nil || !strings.Contains(err.Error(), "nothing to continue") {
		t.Errorf("DecodeBatch of an empty session: %v", err)
	}
}

// TestCloneKeepsDecodeHeadroom: a fresh clone has room for a profile
// probe's 50 decode steps, so its first step does not copy the cache
// again (a fork decodes at once in a decode batch).
func TestCloneKeepsDecodeHeadroom(t *testing.T) {
	m, _ := loadRandomWith(t, tinyConfig("llama", 64, 4, 2, 16, ""), kernels.BF16, model.LoadOptions{})
	s := modeltest.NewSession(t, m, model.SessionOptions{})
	if err := s.Prefill(t.Context(), randomIDs(20, m.Config().VocabSize, 3), nil); err != nil {
		t.Fatal(err)
	}
	if n := model.PooledSessions(m); n != 0 {
		t.Fatalf("%d pooled sessions: the clone would not be fresh", n)
	}
	c := s.Clone()
	if room := model.CacheCap(c) - c.Len(); room < 50 {
		t.Errorf("a clone of %d positions has room for %d more, want at least 50", c.Len(), room)
	}
}
