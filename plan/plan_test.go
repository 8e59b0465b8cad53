package plan

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// tiny is a hand-sized shape: 1 layer, 1 head of dim 2, hidden 2,
// intermediate 1, vocab 3. Its layer matrices hold 2*2 (q) + 2*(2*2) (k,
// v) + 2*2 (o) + 3*2*1 (gate, up, down) = 22 parameters.
var tiny = Shape{Layers: 1, Heads: 1, KVHeads: 1, HeadDim: 2, Hidden: 2, Intermediate: 1, Vocab: 3, MaxContext: 64}

func TestReusable(t *testing.T) {
	for _, tc := range []struct {
		cached, prompt []int
		chunk, want    int
	}{
		{[]int{1, 2, 3, 4, 5}, []int{1, 2, 3, 9}, 1, 3},
		{[]int{1, 2, 3, 4, 5}, []int{1, 2, 3, 9}, 2, 2},
		{[]int{1, 2, 3, 4, 5}, []int{1, 2, 3, 9}, 4, 0},
		{[]int{1, 2, 3, 4}, []int{1, 2, 3, 4}, 3, 3},
		{[]int{1, 2}, []int{1, 2, 3, 4}, 1, 2},
		{nil, []int{1}, 1, 0},
		// Chunks of 8 (at least kernels.MinGEMMRows = 4): the prefix may
		// end inside a chunk if 4 rows remain to its end.
		{append(seq(0, 13), 99), seq(0, 30), 8, 12},             // 13 shared: [12, 16) is the first piece
		{seq(0, 30), seq(0, 13), 8, 9},                          // the whole prompt cached: its last chunk [8, 13) from 9
		{append(seq(0, 10), seq(90, 96)...), seq(0, 30), 8, 10}, // 10 shared: [10, 16) has 6 rows
		{append(seq(0, 10), 99), seq(0, 30), 8, 8},              // the cache's own last chunk [8, 11) had 3 rows: GEMV
		{seq(0, 20), seq(0, 20), 8, 16},                         // all shared: the last chunk [16, 20) again
		{append(seq(0, 13), 99), seq(0, 14), 8, 10},             // the last chunk [8, 14): 4 rows from 10
		{append(seq(0, 9), 99), seq(0, 11), 8, 8},               // the last chunk [8, 11) has 3 rows: GEMV, whole chunks only
		{append(seq(0, 16), 99), seq(0, 30), 8, 16},             // a chunk boundary
	} {
		if got := Reusable(tc.cached, tc.prompt, tc.chunk); got != tc.want {
			t.Errorf("Reusable(%v, %v, %d) = %d, want %d", tc.cached, tc.prompt, tc.chunk, got, tc.want)
		}
	}
}

// seq returns the ints [lo, hi).
func seq(lo, hi int) []int {
	s := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		s = append(s, i)
	}
	return s
}

func TestOrder(t *testing.T) {
	got := Order([][]int{{3}, {1, 2, 5}, {1, 2}, {1, 2, 4, 9}, {1, 2}})
	if want := []int{2, 4, 3, 1, 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

func TestMakeAndProject(t *testing.T) {
	if got := tiny.LayerParams(); got != 22 {
		t.Fatalf("LayerParams %d, want 22", got)
	}
	seqs := []Sequence{
		{Prefill: []int{7}, Steps: 0},
		{Prefill: []int{1, 2, 3, 5, 6}, Steps: 1},
		{Prefill: []int{1, 2, 3, 4}, Steps: 2},
	}
	p := Make(tiny, seqs, Options{Reuse: true, Chunk: 2, KVBytes: 4, WeightBytes: 1000})
	// Order [1 2 3 4], [1 2 3 5 6] (shares 3, keeps 2: whole chunks), [7].
	// Prefill FLOPs: 2*22*n + 4*1*1*2*pairs, pairs = sum of i+1 over the
	// fed positions: [0,4): 176+80; [2,5): 132+96; [0,1): 44+8.
	// Decode: 2*22 + 8*(pos+1) + 2*3*2 per step, at positions 4, 5 and 5.
	want := Plan{Prompts: 3, PromptTokens: 10, PrefillTokens: 8, ReusedTokens: 2, DecodeSteps: 3, LongestPrefill: 5,
		PrefillFLOPs: 536, DecodeFLOPs: 96 + 104 + 104, WeightBytes: 1000, KVCacheBytes: 6 * 16, KVCaches: 1, Reuse: true}
	got := *p
	got.segments, got.steps, got.stepN, got.stepSeg, got.shape, got.chunk = nil, nil, nil, nil, Shape{}, 0
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("plan %+v\nwant %+v", got, want)
	}
	// Prefill: 4*1 + 0.5*10, 3 + 0.5*12, 1 + 0.5*1 = 19.5 s. Decode: two
	// steps from position 4 attend to 5 + 6 keys: 2*2 + 0.25*11; one step
	// at 5 attends to 6: 2 + 0.25*6. 10.25 s.
	pr := p.Project(Rates{PrefillPerToken: time.Second, PrefillPerPair: 0.5, StepFixed: 2 * time.Second, StepPerPosition: 0.25})
	if pr.Prefill != 19500*time.Millisecond || pr.Decode != 10250*time.Millisecond || pr.Total != 29750*time.Millisecond {
		t.Errorf("projection %+v, want 19.5 s + 10.25 s", pr)
	}

	plain := Make(tiny, seqs, Options{Chunk: 2, KVBytes: 2})
	if plain.ReusedTokens != 0 || plain.PrefillTokens != 10 || plain.PrefillFLOPs != 176+80+(220+120)+52 || plain.KVCacheBytes != 6*8 {
		t.Errorf("without reuse: %+v", plain)
	}
	text := p.Format("probes", nil)
	for _, want := range []string{"plan: 3 probes, 10 prompt tokens (longest prefill 5), 8 prefilled after prefix reuse (20 % reused), <= 3 decode steps", "1.0 KB weights (mapped) + 0.1 KB KV cache"} {
		if !strings.Contains(text, want) {
			t.Errorf("format lacks %q:\n%s", want, text)
		}
	}
}

func TestPrefillFLOPsMatchesStepSum(t *testing.T) {
	// Prefilling [from, to) does the layer and attention work of the same
	// positions fed one at a time (less the lm_head of each step), in
	// chunks of 4: every row of such a chunk is computed in the last layer
	// too (model.LastLayerRows).
	s := Shape{Layers: 3, Heads: 4, KVHeads: 2, HeadDim: 8, Hidden: 32, Intermediate: 40, Vocab: 50}
	for _, r := range [][2]int{{0, 1}, {0, 17}, {5, 9}, {100, 228}} {
		sum := 0.0
		for pos := r[0]; pos < r[1]; pos++ {
			sum += s.StepFLOPs(pos) - 2*float64(s.Vocab*s.Hidden)
		}
		if got := s.PrefillFLOPs(r[0], r[1], 4); math.Abs(got-sum) > 1e-9*sum {
			t.Errorf("PrefillFLOPs(%d, %d) = %v, steps sum to %v", r[0], r[1], got, sum)
		}
	}
	if s.PrefillFLOPs(4, 4, 4) != 0 {
		t.Error("an empty range costs nothing")
	}
}

func TestGridSequences(t *testing.T) {
	// 2 needles x lengths {20, 30} x depths {0, 50, 100}, buffer 6, needle
	// 2 ids, question 3 ids: room 12 and 22 haystack ids.
	seqs := GridSequences([]int{20, 30}, []float64{0, 50, 100}, 2, 6, 2, 3, 5)
	if len(seqs) != 12 {
		t.Fatalf("%d sequences, want 12", len(seqs))
	}
	// Needle 0, length 30, depth 50: BOS, haystack 1..11, needle -1 -2,
	// haystack 12..22, question -3 -4 (-5 is the last prompt id, fed by the
	// first decode step).
	want := []int{0}
	for i := 1; i <= 11; i++ {
		want = append(want, i)
	}
	want = append(want, -1, -2)
	for i := 12; i <= 22; i++ {
		want = append(want, i)
	}
	want = append(want, -3, -4)
	if got := seqs[4]; !reflect.DeepEqual(got.Prefill, want) || got.Steps != 5 {
		t.Errorf("needle 0, length 30, depth 50: %v, want %v", got.Prefill, want)
	}
	if seqs[9].Prefill[1] != -6 { // needle 1, length 30, depth 0: its ids follow BOS
		t.Errorf("needle 1's ids: %v", seqs[9].Prefill)
	}
	// Every probe shares the haystack up to its needle: with chunk 1 the
	// reused positions are, per needle, the haystack prefix each probe
	// shares with the probe before it in lexicographic order.
	p := Make(tiny, seqs, Options{Reuse: true, Chunk: 1})
	if p.ReusedTokens == 0 || p.PromptTokens != 2*(3*(1+12+2+2)+3*(1+22+2+2)) {
		t.Errorf("plan %+v", p)
	}
}

func TestDecodesAndCaches(t *testing.T) {
	// One prompt of 4 positions decoded 3 times (eval: 3 methods) for 2
	// steps each at positions 4 and 5, with 2 caches held at once: 6
	// positions x 16 bytes x 2.
	p := Make(tiny, []Sequence{{Prefill: []int{1, 2, 3, 4}, Steps: 2, Decodes: 3}}, Options{Chunk: 1, KVBytes: 4, KVCaches: 2})
	if p.DecodeSteps != 6 || p.DecodeFLOPs != 3*(96+104) || p.KVCacheBytes != 2*6*16 || p.KVCaches != 2 || p.PrefillTokens != 4 {
		t.Errorf("plan %+v", p)
	}
	// Each decode: 2 steps at 2 s + 0.25 s x (5 + 6) keys.
	if pr := p.Project(Rates{StepFixed: 2 * time.Second, StepPerPosition: 0.25}); pr.Decode != 3*6750*time.Millisecond {
		t.Errorf("decode %v, want 3 x 6.75 s", pr.Decode)
	}
	text := p.Format("probes", nil)
	if want := "plan: 1 probes, 4 prompt tokens (longest prefill 4), <= 6 decode steps\nplan: 2.56e-10 TFLOP prefill + <= 6e-10 TFLOP decode; memory 0.0 KB weights (mapped) + 0.2 KB KV caches (2 at once)\n"; text != want {
		t.Errorf("format:\n%s\nwant:\n%s", text, want)
	}
	if empty := Make(tiny, nil, Options{}); empty.Prompts != 0 || empty.KVCacheBytes != 0 {
		t.Errorf("no prompts: %+v", empty)
	}
}

func TestScaledTo(t *testing.T) {
	// One prompt of 2 positions, one step at position 2: 2 x 1 s + 3 pairs
	// x 0.5 s + (2 s + 0.25 x 3 keys) = 6.25 s; it took 12.5 s.
	p := Make(tiny, []Sequence{{Prefill: []int{1, 2}, Steps: 1}}, Options{Chunk: 1})
	r := Rates{PrefillPerToken: time.Second, PrefillPerPair: 0.5, StepFixed: 2 * time.Second, StepPerPosition: 0.25, Source: "m"}
	got := r.ScaledTo(p, 12500*time.Millisecond, "1 probe")
	want := Rates{PrefillPerToken: 2 * time.Second, PrefillPerPair: 1, StepFixed: 4 * time.Second, StepPerPosition: 0.5, Source: "m; scaled by 2.00 to 1 probe"}
	if got != want {
		t.Errorf("scaled %+v, want %+v", got, want)
	}
	if same := r.ScaledTo(p, 0, "x"); same != r {
		t.Errorf("no time: %+v", same)
	}
}

func TestStepShare(t *testing.T) {
	// 4 steps from position 4; half of them priced: 2 steps at 2 s and
	// 0.25 s x (5 + 6) keys.
	p := Make(tiny, []Sequence{{Prefill: []int{1, 2, 3, 4}, Steps: 4}}, Options{Chunk: 1})
	r := Rates{StepFixed: 2 * time.Second, StepPerPosition: 0.25}.WithStepShare(6, 12)
	if r.StepShare != 0.5 {
		t.Fatalf("share %v, want 0.5", r.StepShare)
	}
	if pr := p.Project(r); pr.Decode != 6750*time.Millisecond {
		t.Errorf("decode %v, want 6.75 s", pr.Decode)
	}
	if got := r.WithStepShare(30, 12).StepShare; got != 1 {
		t.Errorf("share above the limit %v, want 1", got)
	}
	if got := (Rates{}).WithStepShare(3, 0).StepShare; got != 0 {
		t.Errorf("no limit: share %v, want 0 (all steps)", got)
	}
	// ScaledTo fits the steps the short run took, whatever the share.
	ran := Make(tiny, []Sequence{{Prefill: []int{1, 2, 3, 4}, Steps: 2}}, Options{Chunk: 1})
	if got := r.ScaledTo(ran, 13500*time.Millisecond, "x"); got.StepFixed != 4*time.Second {
		t.Errorf("scaled %+v, want the rates doubled", got)
	}
}

// TestAffordable: prompts are taken in order while their projected total
// stays within the budget; the first's projection comes back either way.
// One layer of one-wide matrices, 1 s per prefilled token and nothing
// else priced: prompts of 10, 20 and 30 prefill tokens cost 10, 30 and 60
// s in total.
func TestAffordable(t *testing.T) {
	shape := Shape{Layers: 1, Heads: 1, KVHeads: 1, HeadDim: 1, Hidden: 1, Intermediate: 1, Vocab: 1}
	seq := func(n int) Sequence { return Sequence{Prefill: make([]int, n)} }
	seqs := []Sequence{seq(10), seq(20), seq(30)}
	r := Rates{PrefillPerToken: time.Second}
	for _, tc := range []struct {
		budget time.Duration
		want   int
	}{{5 * time.Second, 0}, {10 * time.Second, 1}, {59 * time.Second, 2}, {time.Hour, 3}} {
		n, first := Affordable(shape, seqs, Options{}, r, tc.budget)
		if n != tc.want || first != 10*time.Second {
			t.Errorf("budget %v: %d prompts, first %v; want %d, 10s", tc.budget, n, first, tc.want)
		}
	}
	if n, first := Affordable(shape, nil, Options{}, r, time.Hour); n != 0 || first != 0 {
		t.Errorf("no prompts: %d, %v", n, first)
	}
}

// TestInBatches: once applied, a batch's ratio prices a decode step's
// fixed time (and nothing else), except for a prompt whose prefill alone
// reaches the limit, which decodes alone. Hand-computed: prompts of 10 and
// 100 tokens at 1 ms a token, 4 steps each at 40 ms (no cached-position
// cost), a ratio of 0.25.
func TestInBatches(t *testing.T) {
	shape := Shape{Layers: 1, Heads: 1, KVHeads: 1, HeadDim: 1, Hidden: 1, Intermediate: 1, Vocab: 1}
	p := Make(shape, []Sequence{{Prefill: make([]int, 10), Steps: 4}, {Prefill: make([]int, 100), Steps: 4}}, Options{})
	r := Rates{StepFixed: 40 * time.Millisecond, PrefillPerToken: time.Millisecond, Source: "test", Batch: 6, BatchStepRatio: 0.25}
	for _, c := range []struct {
		what   string
		r      Rates
		decode time.Duration
	}{
		{"not applied", r, 320 * time.Millisecond},
		{"no limit", r.InBatches(0), 80 * time.Millisecond},
		{"50 ms limit", r.InBatches(50 * time.Millisecond), 200 * time.Millisecond},
		{"batch of 1", Rates{StepFixed: r.StepFixed, PrefillPerToken: r.PrefillPerToken, Batch: 1, BatchStepRatio: 0.25}.InBatches(0), 320 * time.Millisecond},
	} {
		pr := p.Project(c.r)
		if pr.Decode != c.decode || pr.Prefill != 110*time.Millisecond {
			t.Errorf("%s: decode %v, prefill %v; want %v, 110ms", c.what, pr.Decode, pr.Prefill, c.decode)
		}
	}
	if got := r.InBatches(time.Minute).Source; !strings.Contains(got, "decoding 6 probes at a time, a step's fixed cost 0.25x per probe (alone after a prefill of 1m0s or more)") {
		t.Errorf("Source %q", got)
	}
}
