package plan

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/compresskv/compresskv/model"
)

func TestShapeFLOPsByHand(t *testing.T) {
	// Two layers, 4 query heads of dim 3 sharing 2 KV heads, hidden 12,
	// intermediate 5. Per layer q_proj 12x12 = 144, k/v_proj 2 x 6x12 =
	// 144, o_proj 144, gate/up/down 3 x 5x12 = 180: 612, 1224 in all.
	s := Shape{Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 3, Hidden: 12, Intermediate: 5, Vocab: 7}
	if got := s.LayerParams(); got != 1224 {
		t.Errorf("LayerParams %d, want 1224", got)
	}
	// Three positions from scratch: 2*1224*3 matrix FLOPs, and 1+2+3
	// (query, key) pairs at 4 FLOPs per head dim, head and layer: 4*3*4*2.
	// (A chunk of 3 rows is computed whole in the last layer too.)
	if got := s.PrefillFLOPs(0, 3, 0); got != 7344+96*6 {
		t.Errorf("PrefillFLOPs(0, 3) = %v, want 7920", got)
	}
	// After a prefix of 2: one position, 3 pairs.
	if got := s.PrefillFLOPs(2, 3, 0); got != 2448+96*3 {
		t.Errorf("PrefillFLOPs(2, 3) = %v, want 2736", got)
	}
	// A step at position 9 attends to 10 keys and runs the 7x12 lm_head.
	if got := s.StepFLOPs(9); got != 2448+96*10+2*7*12 {
		t.Errorf("StepFLOPs(9) = %v, want 3576", got)
	}
	// Keys and values of 2 layers x 2 KV heads x 3 dims, 4 bytes each.
	if got := s.KVBytesPerPosition(4); got != 96 {
		t.Errorf("KVBytesPerPosition(4) = %d, want 96", got)
	}
}

// TestLastLayerRowsPriced: the last layer of a chunk computes the keys
// and values of every row and the rest for its last rows only, and the
// work says so.
func TestLastLayerRowsPriced(t *testing.T) {
	// Two layers, 32 query heads of dim 1 sharing one KV head (attention
	// blocks of 128/32 = 4 tokens), hidden 2, intermediate 1. Per layer
	// q_proj 2x32 = 64, k/v_proj 2 x 1x2 = 4, o_proj 64, gate/up/down
	// 3 x 1x2 = 6: 138, of which 134 are not k/v.
	s := Shape{Layers: 2, Heads: 32, KVHeads: 1, HeadDim: 1, Hidden: 2, Intermediate: 1, Vocab: 3}
	// One chunk of 10 rows: the last layer computes at least 4 rows in
	// full, plus whole 4-token blocks: 10 - 4 = 6 rows (4..9), so rows
	// 0..3 get only k/v there. Layer 0: 2*138*10 = 2760 matrix FLOPs and
	// 55 pairs x 4*32 = 7040. Layer 1: 2*4*10 = 80 for k/v, 2*134*6 = 1608
	// for the rest, and rows 4..9's 5+6+..+10 = 45 pairs x 128 = 5760.
	want := 2760.0 + 7040 + 80 + 1608 + 5760 // 17248
	if got := s.PrefillFLOPs(0, 10, 0); math.Abs(got-want) > 1e-9*want {
		t.Errorf("PrefillFLOPs(0, 10) = %v, want %v", got, want)
	}
	// In PrefillWork's units: 4 rows skip 134/138 of one of 2 layers'
	// matrices, and rows 0..3's 1+2+3+4 = 10 pairs of one of 2 layers.
	tokens, pairs := s.PrefillWork(0, 10, 0)
	if math.Abs(tokens-(10-4*134.0/138/2)) > 1e-12 || pairs != 55-10.0/2 {
		t.Errorf("PrefillWork(0, 10) = %v tokens, %v pairs; want %v, 50", tokens, pairs, 10-4*134.0/138/2)
	}
	// Chunks end at multiples of the chunk length (Session.Prefill's
	// cut). Chunks of 6 from position 3: [3, 6) and [6, 12). The first's 3
	// rows are fewer than 4, the second computes all 6 rows (6 - 4 leaves
	// no whole block to skip): nothing skipped. 2*276*9 = 4968 matrix
	// FLOPs and 4+5+..+12 = 72 pairs x 4*32 x 2 layers = 18432: 23400.
	if got := s.PrefillFLOPs(3, 12, 6); got != 4968+18432 {
		t.Errorf("PrefillFLOPs(3, 12) in chunks of 6 = %v, want 23400", got)
	}
	// Chunks of 9 from 3: [3, 9) and [9, 12), 6 and 3 rows: nothing
	// skipped either, the same 23400.
	if got := s.PrefillFLOPs(3, 12, 9); got != 4968+18432 {
		t.Errorf("PrefillFLOPs(3, 12) in chunks of 9 = %v, want 23400", got)
	}
	// One whole chunk of 9, [9, 18), keeps 9 - 4 = 5 rows (13..17): 2*276*9
	// = 4968 matrix FLOPs less rows 9..12's 2*134*4 = 1072, and 10+..+18 =
	// 126 pairs x 128 x 2 layers = 32256 less those rows' 10+11+12+13 = 46
	// pairs in layer 1, 46 x 128 = 5888: 30264.
	if got := s.PrefillFLOPs(9, 18, 9); math.Abs(got-30264) > 1e-9*30264 {
		t.Errorf("PrefillFLOPs(9, 18) in chunks of 9 = %v, want 30264", got)
	}
	// The rates price the same work: 1 s per token, 0.5 s per pair.
	r := Rates{PrefillPerToken: time.Second, PrefillPerPair: 0.5}
	if got, want := r.PrefillTime(s, 0, 10, 0).Seconds(), 10-4*134.0/138/2+0.5*50; math.Abs(got-want) > 1e-9 {
		t.Errorf("PrefillTime(0, 10) = %v s, want %v", got, want)
	}
}

func TestLayerParamsTinyLlama(t *testing.T) {
	cfg, err := model.ParseConfig([]byte(`{"model_type": "llama", "hidden_size": 2048, "num_hidden_layers": 22,
		"num_attention_heads": 32, "num_key_value_heads": 4, "intermediate_size": 5632,
		"vocab_size": 32000, "max_position_embeddings": 2048, "rms_norm_eps": 1e-5,
		"rope_theta": 10000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
		"bos_token_id": 1, "eos_token_id": 2}`), "tinyllama")
	if err != nil {
		t.Fatal(err)
	}
	// Per layer: q_proj and o_proj 2048x2048, k/v_proj 256x2048,
	// gate/up/down 5632x2048: 44,040,192; 22 layers. Plus the two 32000x2048
	// embeddings this gives TinyLlama's 1.1B.
	if got, want := ShapeOf(*cfg).LayerParams(), int64(44040192*22); got != want {
		t.Errorf("LayerParams = %d, want %d", got, want)
	}
}

func TestNewRatesAndCosts(t *testing.T) {
	// tiny: 22 layer parameters, 1 layer x 1 head x dim 2. At 4 FLOP/s a
	// prefilled position's matrices take 2*22/4 = 11 s and a (query, key)
	// pair 4*2/4 = 2 s.
	r := tiny.NewRates(4, time.Second, 0.5, "hand")
	if r.PrefillPerToken != 11*time.Second || r.PrefillPerPair != 2 || r.StepFixed != time.Second || r.StepPerPosition != 0.5 || r.CPUShare != 1 {
		t.Errorf("rates %+v", r)
	}
	if got := r.WithLayerSpeedup(2); got.PrefillPerToken != 5500*time.Millisecond || got.PrefillPerPair != 2 {
		t.Errorf("bf16 rates %+v: want the matrices only twice as fast", got)
	}
	// Attention measured at 16 FLOP/s: a pair's 4*2 FLOPs take 0.5 s;
	// the matrices and decode keep their prices, and an unmeasured rate
	// changes nothing.
	if got := r.WithAttentionRate(tiny, 16); got.PrefillPerToken != 11*time.Second || got.PrefillPerPair != 0.5 || got.StepPerPosition != 0.5 {
		t.Errorf("attention-rate rates %+v: want only a pair at 0.5 s", got)
	}
	if got := r.WithAttentionRate(tiny, 0); got != r {
		t.Errorf("attention rate 0 gave %+v, want %+v", got, r)
	}
	// 1 layer x 2 (keys, values) x 1 KV head x 2 dims x 4 bytes = 16 bytes
	// at 8 bytes/s; the lm_head 3x2 bf16 = 12 bytes at 4 bytes/s.
	if got := tiny.KVReadSeconds(4, 8); got != 2 {
		t.Errorf("KVReadSeconds %v, want 2", got)
	}
	if got := tiny.LMHeadSeconds(2, 4); got != 3 {
		t.Errorf("LMHeadSeconds %v, want 3", got)
	}
}

func TestProjectGridByHand(t *testing.T) {
	// One needle of 1 id, question 2 ids, length 10, buffer 4: 5 haystack
	// ids. Depth 50 puts the needle after 2 of them, depth 100 after all 5:
	//   [0 1 2 n 3 4 5 q] and [0 1 2 3 4 5 n q] (the last question id is
	// fed by the one decode step). They share [0 1 2]: 2 positions in
	// whole chunks of 2.
	seqs := GridSequences([]int{10}, []float64{50, 100}, 1, 4, 1, 2, 1)
	r := tiny.NewRates(4, time.Second, 0.5, "hand")
	// The 4 FLOP/s prices a position's matrices at 11 s; attention,
	// measured at 2 FLOP/s (8 under bf16), prices a pair at 4*2/2 = 4 s
	// (1 s under bf16).
	c := Compute{LayerSpeedup: 2, Attention: 2, AttentionBF16: 8}
	if got := c.AttentionSpeedup(); got != 4 {
		t.Errorf("attention speedup %v, want 8/2 = 4", got)
	}
	g := ProjectGrid(tiny, seqs, Options{Chunk: 2}, r, c)
	// Without reuse each probe prefills 8 positions (11 s each) over 36
	// pairs (4 s each): 88 + 144 = 232 s; its step at position 8 attends
	// to 9 keys: 1 + 0.5*9 = 5.5 s.
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	if want := (Projection{Prefill: sec(464), Decode: sec(11), Total: sec(475)}); g.NoReuse != want {
		t.Errorf("no reuse %+v, want %+v", g.NoReuse, want)
	}
	// With reuse the second probe prefills positions 2..7: 6 x 11 s and
	// (8*9 - 2*3)/2 = 33 pairs x 4 s: 66 + 132 = 198 s.
	if want := (Projection{Prefill: sec(430), Decode: sec(11), Total: sec(441)}); g.Reuse != want {
		t.Errorf("reuse %+v, want %+v", g.Reuse, want)
	}
	// bf16 halves the 11 s and prices a pair at 1 s: 8 x 5.5 + 36 x 1 = 80
	// and 6 x 5.5 + 33 x 1 = 66; decode is unchanged.
	if want := (Projection{Prefill: sec(146), Decode: sec(11), Total: sec(157)}); g.ReuseBF16 != want {
		t.Errorf("reuse + bf16 %+v, want %+v", g.ReuseBF16, want)
	}
	// Attention unmeasured: the pairs keep the rates' 2 s, bf16 speeds the
	// matrices only: 8 x 5.5 + 36 x 2 = 116 and 6 x 5.5 + 33 x 2 = 99.
	u := ProjectGrid(tiny, seqs, Options{Chunk: 2}, r, Compute{LayerSpeedup: 2})
	if want := (Projection{Prefill: sec(320), Decode: sec(11), Total: sec(331)}); u.NoReuse != want {
		t.Errorf("no reuse, attention unmeasured: %+v, want %+v", u.NoReuse, want)
	}
	if want := (Projection{Prefill: sec(215), Decode: sec(11), Total: sec(226)}); u.ReuseBF16 != want {
		t.Errorf("reuse + bf16, attention unmeasured: %+v, want %+v", u.ReuseBF16, want)
	}
	if g.ReusedFraction != 2.0/16 || g.Plain.ReusedTokens != 0 || g.Reused.ReusedTokens != 2 {
		t.Errorf("reused fraction %v, plain %d, reused %d tokens; want 2 of 16", g.ReusedFraction, g.Plain.ReusedTokens, g.Reused.ReusedTokens)
	}
}

func TestMeasureShape(t *testing.T) {
	cfg, err := model.ParseConfig([]byte(`{"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 6,
		"num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 96,
		"vocab_size": 5000, "max_position_embeddings": 16, "rms_norm_eps": 1e-5,
		"rope_theta": 10000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
		"bos_token_id": 1, "eos_token_id": 2}`), "small")
	if err != nil {
		t.Fatal(err)
	}
	sp, err := MeasureShape(cfg, 24, 3, 10)
	if err != nil {
		t.Fatal(err)
	}
	// The lm_head: 5000 x 64 bf16 = 640,000 bytes at 10 GB/s.
	if sp.Layers != 6 || sp.LayersMeasured != 1 || sp.Tokens != 24 || math.Abs(sp.LMHeadSeconds-64e-6) > 1e-12 {
		t.Errorf("speed %+v: want 6 layers, 1 measured, 24 tokens, lm_head 64 µs", sp)
	}
	if !(sp.PrefillSeconds > 0 && sp.PrefillFLOPRate > 0 && sp.StepSeconds > sp.LMHeadSeconds) {
		t.Errorf("speed %+v: want positive times, a step longer than its lm_head", sp)
	}
	// Rates: the prefill priced at the measured rate, the KV read of
	// 6 layers x 2 x 2 x 16 x 4 bytes = 1536 bytes per position at 1 KB/s.
	r := sp.Rates(ShapeOf(*cfg), 4, 1024, "x")
	if math.Abs(r.StepPerPosition-1.5) > 1e-12 || math.Abs(r.StepFixed.Seconds()-sp.StepSeconds) > 1e-9 {
		t.Errorf("rates %+v", r)
	}
}

func TestRateTimes(t *testing.T) {
	r := Rates{PrefillPerToken: time.Second, PrefillPerPair: 0.5, StepFixed: 2 * time.Second, StepPerPosition: 0.25}
	// Positions 2..4 after a prefix of 2: 3 s + 0.5 * (3 + 4 + 5) pairs.
	if got := r.PrefillTime(tiny, 2, 5, 0); got != 9*time.Second {
		t.Errorf("PrefillTime(2, 5) = %v, want 9s", got)
	}
	if got := r.PrefillTime(tiny, 5, 5, 0); got != 0 {
		t.Errorf("PrefillTime(5, 5) = %v, want 0", got)
	}
	// A step at position 7 attends to 8 positions: 2 + 0.25*8.
	if got := r.StepTime(7); got != 4*time.Second {
		t.Errorf("StepTime(7) = %v, want 4s", got)
	}
}

func TestLoad(t *testing.T) {
	if v, err := parseLoadAvg("0.92 2.32 6.48 2/301 12345\n"); err != nil || v != 0.92 {
		t.Errorf("parseLoadAvg = %v, %v; want 0.92", v, err)
	}
	for _, bad := range []string{"", "x 1 2", "-1 0 0"} {
		if _, err := parseLoadAvg(bad); err == nil {
			t.Errorf("parseLoadAvg(%q): want an error", bad)
		}
	}
	for _, tc := range []struct {
		share, load float64
		cpus        int
		want        bool
	}{
		{1, 0.2, 2, false},
		{1, 1.5, 2, true},   // other work on 3/4 of the CPUs
		{0.5, 0.1, 2, true}, // the measurement got half its threads' time
		{0, -1, 2, false},   // neither known
		{0.9, 1, 2, false},  // exactly half busy
	} {
		if got := LooksLoaded(tc.share, tc.load, tc.cpus); got != tc.want {
			t.Errorf("LooksLoaded(%v, %v, %d) = %v, want %v", tc.share, tc.load, tc.cpus, got, tc.want)
		}
	}
}

func TestClock(t *testing.T) {
	c := StartClock()
	x := 0.0
	for i := range 2_000_000 {
		x += float64(i % 7)
	}
	wall, quiet, share := c.Since(1)
	// The quiet time is the wall time less what the threads waited for a
	// CPU: never more than the wall time, and the share in (0, 1].
	if !(quiet > 0 && quiet <= wall && share > 0 && share <= 1) || x == 0 {
		t.Errorf("wall %v, quiet %v, share %v", wall, quiet, share)
	}
	if r := c.Report(1); !strings.HasPrefix(r, "took ") || !strings.Contains(r, " on a quiet machine: the threads got a CPU ") {
		t.Errorf("report %q", r)
	}
}

// TestNoisySplit: a quarter-chunk split pricing a pair at more than twice
// what prefill attention's own rate gives is noise; up to twice, or with
// no direct measurement, it stands.
func TestNoisySplit(t *testing.T) {
	for _, c := range []struct {
		split, direct float64
		want          bool
	}{
		{10e-9, 1e-9, true},   // the 59 h dry run: ten times the direct price
		{2.1e-9, 1e-9, true},  // just past twice
		{2e-9, 1e-9, false},   // twice: a real difference between the prompts
		{1.5e-9, 1e-9, false}, // stories260K-like: the split stands
		{10e-9, 0, false},     // no direct measurement
	} {
		if got := noisySplit(c.split, c.direct); got != c.want {
			t.Errorf("noisySplit(%g, %g) = %v, want %v", c.split, c.direct, got, c.want)
		}
	}
}

// TestSplitAtRate: a 4-token prefill of 2 s has 10 pairs; at 100 FLOP a
// pair and 1000 FLOP/s a pair costs 0.1 s, so the pairs take 1 s and each
// token (2 - 1) / 4 = 0.25 s.
func TestSplitAtRate(t *testing.T) {
	pair, token, ok := splitAtRate(2, 4, 10, 100, 1000, 0.05)
	if !ok || math.Abs(pair-0.1) > 1e-15 || math.Abs(token-0.25) > 1e-15 {
		t.Fatalf("splitAtRate(2 s, 4 tokens) = %g, %g, %v; want 0.1, 0.25, true", pair, token, ok)
	}
	if _, _, ok := splitAtRate(2, 4, 10, 100, 1000, 0.2); ok {
		t.Error("a pair cheaper than the current 0.2 s replaced it")
	}
	// 0.5 s is less than the pairs' 1 s: no time left for the tokens.
	if _, _, ok := splitAtRate(0.5, 4, 10, 100, 1000, 0); ok {
		t.Error("a split leaving the tokens a negative cost was taken")
	}
}
