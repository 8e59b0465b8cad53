package model_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/model/modeltest"
)

func TestArgmaxExcept(t *testing.T) {
	logits := []float32{0.5, 3, 3, 1}
	for _, c := range []struct {
		skip []int
		want int
	}{
		{nil, 1},         // first of the two 3s
		{[]int{1}, 2},    // the other 3
		{[]int{1, 2}, 3}, // then 1
		{[]int{0, 1, 2, 3}, -1},
	} {
		if got := model.ArgmaxExcept(logits, c.skip); got != c.want {
			t.Errorf("ArgmaxExcept(%v, %v) = %d, want %d", logits, c.skip, got, c.want)
		}
	}
	choose := model.GreedyExcept([]int{1, 2}, 1)
	if a, b := choose(0, logits), choose(1, logits); a != 3 || b != 1 {
		t.Errorf("GreedyExcept(skip 1 and 2 on step 0): steps 0 and 1 chose %d and %d, want 3 and 1", a, b)
	}
}

// scriptStepper is a Stepper whose logits after feeding id put the maximum
// on next[id]; it records what it was fed and whether it was observed.
type scriptStepper struct {
	next     map[int]int
	vocab    int
	logits   []float32
	fed      []int
	observed int
	room     int // tokens that still fit
}

func (s *scriptStepper) Step(id int, obs model.Observer) error {
	if s.room == 0 {
		return errors.New("fed past the context")
	}
	s.room--
	s.fed = append(s.fed, id)
	if obs != nil {
		s.observed++
	}
	s.logits = make([]float32, s.vocab)
	s.logits[s.next[id]] = 1
	return nil
}

func (s *scriptStepper) Logits() []float32 { return s.logits }
func (s *scriptStepper) Full() bool        { return s.room == 0 }

// newScript starts after a "prompt" whose logits choose token 1; then
// 1 -> 2 -> 3 -> 4 -> 0 (0 plays EOS) -> 1.
func newScript(room int) *scriptStepper {
	s := &scriptStepper{next: map[int]int{0: 1, 1: 2, 2: 3, 3: 4, 4: 0}, vocab: 5, room: room}
	s.logits = []float32{0, 1, 0, 0, 0}
	return s
}

// TestDecodeRules checks every rule of the decode loop on a scripted
// stepper, each expectation worked out by hand from the script.
func TestDecodeRules(t *testing.T) {
	eos := func(_, id int) bool { return id == 0 }
	tests := []struct {
		name     string
		room     int
		o        model.DecodeOptions
		ids, fed []int
		stop     model.StopReason
	}{
		// Greedy to EOS: the EOS is produced, never fed.
		{"greedy to eos", 10, model.DecodeOptions{MaxNew: 10, Stop: eos}, []int{1, 2, 3, 4, 0}, []int{1, 2, 3, 4}, model.StopToken},
		// MaxNew: the last token is not fed.
		{"max new", 10, model.DecodeOptions{MaxNew: 3, Stop: eos}, []int{1, 2, 3}, []int{1, 2}, model.StopMaxNew},
		// FeedLast feeds the stopping token too (generate --logits).
		{"feed last", 10, model.DecodeOptions{MaxNew: 10, Stop: eos, FeedLast: true}, []int{1, 2, 3, 4, 0}, []int{1, 2, 3, 4, 0}, model.StopToken},
		// A full context ends decoding before a token that cannot be fed.
		{"context", 2, model.DecodeOptions{MaxNew: 10, Stop: eos, FeedLast: true}, []int{1, 2, 3}, []int{1, 2}, model.StopContext},
		// Teacher forcing: Feed replaces what is fed; the choice stays the
		// model's (the script has no successor of 9, so it predicts 0).
		{"teacher forced", 10, model.DecodeOptions{MaxNew: 3, Feed: func(t, id int) int { return 9 }}, []int{1, 0, 0}, []int{9, 9}, model.StopMaxNew},
		// A masked first choice: token 1 is skipped at step 0, so the
		// first-on-ties argmax of the rest is 0, which stops.
		{"masked first choice", 10, model.DecodeOptions{MaxNew: 10, Stop: eos, Choose: model.GreedyExcept([]int{1}, 1)}, []int{0}, nil, model.StopToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newScript(tc.room)
			if tc.o.Feed != nil {
				s.vocab = 10
				s.logits = []float32{0, 1, 0, 0, 0, 0, 0, 0, 0, 0}
			}
			var produced []int
			tc.o.Produced = func(step, id int) error {
				if step != len(produced) || len(s.fed) != step {
					return fmt.Errorf("Produced(%d, %d) after %d produced and %d fed", step, id, len(produced), len(s.fed))
				}
				produced = append(produced, id)
				return nil
			}
			tc.o.Observer = model.NopObserver{}
			tc.o.KeepLogits = true
			res, err := model.Decode(t.Context(), s, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.IDs, tc.ids) || !slices.Equal(res.Fed, tc.fed) || !slices.Equal(s.fed, tc.fed) || res.Stop != tc.stop {
				t.Fatalf("ids %v fed %v (stepper saw %v) stop %v; want %v, %v, %v", res.IDs, res.Fed, s.fed, res.Stop, tc.ids, tc.fed, tc.stop)
			}
			if !slices.Equal(produced, tc.ids) || s.observed != len(tc.fed) || len(res.Logits) != len(tc.fed)*s.vocab {
				t.Fatalf("Produced saw %v, %d observed steps, %d logits", produced, s.observed, len(res.Logits))
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	s := newScript(10)
	if _, err := model.Decode(t.Context(), s, model.DecodeOptions{}); err == nil {
		t.Error("MaxNew 0 accepted")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res, err := model.Decode(ctx, s, model.DecodeOptions{MaxNew: 5})
	if !errors.Is(err, context.Canceled) || len(s.fed) != 0 || !slices.Equal(res.IDs, []int{1}) {
		t.Errorf("cancelled: %v, fed %v, produced %v; want context.Canceled before the first Step", err, s.fed, res.IDs)
	}
	stop := errors.New("observer failed")
	_, err = model.Decode(t.Context(), newScript(10), model.DecodeOptions{MaxNew: 5, Produced: func(int, int) error { return stop }})
	if !errors.Is(err, stop) {
		t.Errorf("Produced error: %v", err)
	}
	all := model.DecodeOptions{MaxNew: 5, Choose: func(int, []float32) int { return -1 }}
	if _, err := model.Decode(t.Context(), newScript(10), all); err == nil {
		t.Error("a choice of -1 accepted")
	}
}

// countdown is a context whose Err turns to Canceled at its n-th call, so
// a test cancels a Prefill between two given chunks.
type countdown struct {
	context.Context
	n int
}

func (c *countdown) Err() error {
	c.n--
	if c.n < 0 {
		return context.Canceled
	}
	return nil
}

// TestPrefillCancel: Prefill checks its context before every chunk; a
// cancellation after two of five chunks returns context.Canceled and rolls
// the cache back, and the session goes on as if nothing had been fed.
func TestPrefillCancel(t *testing.T) {
	m, _ := loadRandom(t, tinyConfig("llama", 32, 4, 2, 8, ""), kernels.F32)
	ids := randomIDs(40, m.Config().VocabSize, 9)
	s := modeltest.NewSession(t, m, model.SessionOptions{Chunk: 8})
	if err := s.Prefill(t.Context(), ids[:4], nil); err != nil {
		t.Fatal(err)
	}
	ctx := &countdown{Context: t.Context(), n: 2}
	if err := s.Prefill(ctx, ids[4:], nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if s.Len() != 4 || ctx.n != -1 {
		t.Fatalf("after the cancelled Prefill: Len %d (want 4), %d context checks left (want -1: two chunks ran)", s.Len(), ctx.n)
	}
	if err := s.Prefill(t.Context(), ids[4:], nil); err != nil {
		t.Fatal(err)
	}
	fresh := modeltest.NewSession(t, m, model.SessionOptions{Chunk: 8})
	for _, part := range [][]int{ids[:4], ids[4:]} {
		if err := fresh.Prefill(t.Context(), part, nil); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(s.Logits(), fresh.Logits()) {
		t.Fatal("logits after a cancelled and repeated Prefill differ from the same prefill never cancelled")
	}
}

// TestClone: a clone continues exactly as the original, and changing one
// leaves the other alone.
func TestClone(t *testing.T) {
	m, _ := loadRandom(t, tinyConfig("llama", 32, 4, 2, 8, ""), kernels.F32)
	for _, dt := range []model.CacheDType{model.CacheF32, model.CacheBF16} {
		prompt := randomIDs(20, m.Config().VocabSize, 10)
		s := modeltest.NewSession(t, m, model.SessionOptions{CacheDType: dt})
		if err := s.Prefill(t.Context(), prompt, nil); err != nil {
			t.Fatal(err)
		}
		c := s.Clone()
		if c.Options() != s.Options() {
			t.Fatalf("clone options %+v, want %+v", c.Options(), s.Options())
		}
		a := modeltest.Greedy(t, s, nil, 6, nil)
		b := modeltest.Greedy(t, c, nil, 6, nil)
		if !slices.Equal(a, b) {
			t.Fatalf("%v: original generated %v, clone %v", dt, a, b)
		}
		// Fork: a clone truncated to the prompt continues as a fresh prefill.
		f := s.Clone()
		f.Truncate(len(prompt) - 1)
		if err := f.Step(prompt[len(prompt)-1], nil); err != nil {
			t.Fatal(err)
		}
		if got := modeltest.Greedy(t, f, nil, 6, nil); !slices.Equal(got, a) || s.Len() != len(prompt)+5 {
			t.Fatalf("%v: forked clone generated %v, want %v; original length %d", dt, got, a, s.Len())
		}
	}
}

func TestParseCacheDType(t *testing.T) {
	for in, want := range map[string]model.CacheDType{"f32": model.CacheF32, "BF16": model.CacheBF16, "float32": model.CacheF32} {
		got, err := model.ParseCacheDType(in)
		if err != nil || got != want {
			t.Errorf("ParseCacheDType(%q) = %v, %v; want %v", in, got, err, want)
		}
		if back, _ := model.ParseCacheDType(got.String()); back != got {
			t.Errorf("%v does not parse back from its String %q", got, got.String())
		}
	}
	for in, want := range map[string]string{"f16": "float16 overflows", "int8": `"int8": want f32 or bf16`} {
		if _, err := model.ParseCacheDType(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseCacheDType(%q): %v, want an error mentioning %q", in, err, want)
		}
	}
}

// TestSessionsShareModel runs several sessions of one model at once, as
// calibrate's parallel prompts do, with the kernels' pool shared by all:
// each must generate what it generates alone (under -race in CI, this also
// shows that a session never writes to the model it reads).
func TestSessionsShareModel(t *testing.T) {
	defer kernels.SetThreads(kernels.Threads())
	kernels.SetThreads(2)
	for _, compute := range []model.ComputeDType{model.ComputeF32, model.ComputeBF16} {
		m, _ := loadRandomWith(t, tinyConfig("llama", 32, 4, 2, 8, ""), kernels.BF16, model.LoadOptions{Compute: compute})
		const sessions = 4
		prompts := make([][]int, sessions)
		alone := make([][]int, sessions)
		for i := range prompts {
			prompts[i] = randomIDs(40+7*i, m.Config().VocabSize, uint64(20+i))
			alone[i] = modeltest.Greedy(t, modeltest.NewSession(t, m, model.SessionOptions{Chunk: 16}), prompts[i], 8, nil)
		}
		together := make([][]int, sessions)
		errs := make([]error, sessions)
		var wg sync.WaitGroup
		for i := range prompts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := m.NewSession(model.SessionOptions{Chunk: 16})
				if err != nil {
					errs[i] = err
					return
				}
				if errs[i] = s.Prefill(context.Background(), prompts[i], nil); errs[i] != nil {
					return
				}
				res, err := s.Decode(context.Background(), model.DecodeOptions{MaxNew: 8})
				together[i], errs[i] = res.IDs, err
			}()
		}
		wg.Wait()
		for i := range prompts {
			if errs[i] != nil {
				t.Fatalf("%v: session %d: %v", compute, i, errs[i])
			}
			if !slices.Equal(together[i], alone[i]) {
				t.Errorf("%v: session %d generated %v beside the others, %v alone", compute, i, together[i], alone[i])
			}
		}
	}
}

// TestModelReadOnly: the model keeps its own configuration, so neither the
// config passed to New nor a copy from Config changes it afterwards.
func TestModelReadOnly(t *testing.T) {
	cfg, err := model.ParseConfig(tinyConfig("llama", 32, 4, 2, 8, `, "eos_token_id": [2, 5]`), "config.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(cfg, model.RandomWeights(cfg, kernels.F32, 3), model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.NumLayers, cfg.EOS[0] = 0, 99
	got := m.Config()
	got.HiddenSize, got.EOS[1] = 1, 98
	if c := m.Config(); c.NumLayers != 2 || c.HiddenSize != 32 || !slices.Equal(c.EOS, []int{2, 5}) {
		t.Fatalf("after writes to the caller's copies the model has %d layers, hidden %d, EOS %v; want 2, 32, [2 5]", c.NumLayers, c.HiddenSize, c.EOS)
	}
	s := modeltest.NewSession(t, m, model.SessionOptions{})
	if err := s.Prefill(t.Context(), []int{1, 7, 9}, nil); err != nil || len(s.Logits()) != 97 {
		t.Fatalf("prefill after the writes: %v, %d logits (want 97)", err, len(s.Logits()))
	}
}
