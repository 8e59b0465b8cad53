package selection

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/compresskv/compresskv/model/kernels"
)

// perHead views flat keys [tokens, kvHeads, headDim] (the layout the tests
// fill) as the per-KV-head float32 matrices a Layer holds, copying each
// head's rows as a KV cache stores them.
func perHead(flat []float32, tokens, kvHeads, d int) []kernels.Matrix {
	out := make([]kernels.Matrix, kvHeads)
	for g := range out {
		m := kernels.Matrix{Rows: tokens, Cols: d, DType: kernels.F32, F32: make([]float32, tokens*d)}
		for j := 0; j < tokens; j++ {
			copy(m.F32[j*d:(j+1)*d], flat[(j*kvHeads+g)*d:(j*kvHeads+g+1)*d])
		}
		out[g] = m
	}
	return out
}

// spikeLayer builds a layer with head dim 2 whose keys are zero except the
// given spikes: keys[pos][kvHead] = vec. Queries of query head h are all
// queries[h] (the same at every window position). A spike of 200 against a
// query of 10 gives a logit near 1414, so exp(0 - 1414) underflows to
// exactly 0 in float64 and the attention a query pays is exact.
func spikeLayer(tokens, heads, kvHeads, window int, queries [][2]float32, spikes map[[2]int][2]float32) Layer {
	l := Layer{Tokens: tokens, Heads: heads, KVHeads: kvHeads, HeadDim: 2,
		Queries: make([]float32, window*heads*2)}
	keys := make([]float32, tokens*kvHeads*2)
	for i := 0; i < window; i++ {
		for h := 0; h < heads; h++ {
			copy(l.Queries[(i*heads+h)*2:], queries[h][:])
		}
	}
	for at, vec := range spikes {
		copy(keys[(at[0]*kvHeads+at[1])*2:], vec[:])
	}
	l.Keys = perHead(keys, tokens, kvHeads, 2)
	return l
}

func TestPool(t *testing.T) {
	tests := []struct {
		name   string
		x      []float64
		kernel int
		how    Pooling
		want   []float64
	}{
		// count_include_pad: the edge window holds 3 real values but still divides by 5.
		{"avg left edge", []float64{5, 0, 0, 0, 0, 0, 0, 0}, 5, PoolAvg, []float64{1, 1, 1, 0, 0, 0, 0, 0}},
		{"avg right edge", []float64{0, 0, 0, 0, 0, 0, 0, 10}, 5, PoolAvg, []float64{0, 0, 0, 0, 0, 2, 2, 2}},
		{"avg spreads to neighbours", []float64{0, 0, 0, 5, 0, 0, 0, 0}, 5, PoolAvg, []float64{0, 1, 1, 1, 1, 1, 0, 0}},
		{"avg kernel 3", []float64{3, 6, 9}, 3, PoolAvg, []float64{3, 6, 5}},
		{"max pads with -inf", []float64{1, 3, 2, 0, 0, 0, 0, 9}, 5, PoolMax, []float64{3, 3, 3, 3, 2, 9, 9, 9}},
		{"max negative edges", []float64{-4, -1, -7}, 5, PoolMax, []float64{-1, -1, -1}},
		{"kernel 1 is identity", []float64{2, 7, 1}, 1, PoolAvg, []float64{2, 7, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pool(tt.x, tt.kernel, tt.how); !slices.Equal(got, tt.want) {
				t.Errorf("pool(%v, %d, %s) = %v, want %v", tt.x, tt.kernel, tt.how, got, tt.want)
			}
		})
	}
}

func TestHeadScoresCausalWindow(t *testing.T) {
	// n=20, w=4: prefix positions 0..15. Key 5 and key 17 (inside the
	// window) both carry a spike. Query 0 of the window sits at position 16
	// and cannot see key 17, so it pays 1 to key 5; queries 1..3 split 0.5 /
	// 0.5. Summed: 2.5 at position 5, 0 elsewhere; pooled (kernel 5) 0.5 at
	// 3..7. Without the causal mask the sum would be 2.0.
	p := Params{Window: 4, Kernel: 5, Pooling: PoolAvg}
	l := spikeLayer(20, 1, 1, 4, [][2]float32{{10, 0}}, map[[2]int][2]float32{{5, 0}: {200, 0}, {17, 0}: {200, 0}})
	got, err := HeadScores(l, 0, p)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, 16)
	for j := 3; j <= 7; j++ {
		want[j] = 0.5
	}
	if !slices.Equal(got, want) {
		t.Errorf("HeadScores = %v, want %v", got, want)
	}
}

func TestHeadScoresUniform(t *testing.T) {
	// All keys zero: every query spreads evenly over the positions it sees.
	// Query i (position 6+i of n=10, w=4) sees 7+i keys, so a prefix
	// position gets sum_i 1/(7+i) = 1/7+1/8+1/9+1/10; kernel 1 keeps it.
	p := Params{Window: 4, Kernel: 1, Pooling: PoolAvg}
	l := spikeLayer(10, 1, 1, 4, [][2]float32{{1, 1}}, nil)
	got, err := HeadScores(l, 0, p)
	if err != nil {
		t.Fatal(err)
	}
	want := 1.0/7 + 1.0/8 + 1.0/9 + 1.0/10
	for j, v := range got {
		if math.Abs(v-want) > 1e-15 {
			t.Errorf("score[%d] = %v, want %v", j, v, want)
		}
	}
}

func TestCompressKV(t *testing.T) {
	// n=20, w=4, one KV head read by query heads 0 and 1. Head 0 looks at
	// key 5, head 1 at key 12. Pooled, head 0 puts 4/5 on 3..7 and head 1
	// 4/5 on 10..14.
	p := Params{Window: 4, Kernel: 5, Pooling: PoolAvg}
	l := spikeLayer(20, 2, 1, 4, [][2]float32{{10, 0}, {0, 10}},
		map[[2]int][2]float32{{5, 0}: {200, 0}, {12, 0}: {0, 200}})
	window := []int{16, 17, 18, 19}
	tests := []struct {
		name   string
		heads  []int
		budget int
		want   []int
	}{
		// 5 tied at 0.8: ties go to the lowest positions.
		{"ties lowest index", []int{0}, 7, append([]int{3, 4, 5}, window...)},
		// 3..7 first, then the zero scores tie: position 0.
		{"spread then zeros", []int{0}, 10, append([]int{0, 3, 4, 5, 6, 7}, window...)},
		// Averaged over both heads: 10 positions tied at 0.4.
		{"two heads", []int{0, 1}, 10, append([]int{3, 4, 5, 6, 7, 10}, window...)},
		{"head order does not matter", []int{1, 0}, 10, append([]int{3, 4, 5, 6, 7, 10}, window...)},
		{"other head", []int{1}, 9, append([]int{10, 11, 12, 13, 14}, window...)},
		{"prompt fits", []int{0}, 20, all(20)},
		{"prompt fits loosely", []int{0}, 64, all(20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CompressKV(l, tt.heads, tt.budget, p)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("CompressKV(heads %v, budget %d) = %v, want %v", tt.heads, tt.budget, got, tt.want)
			}
		})
	}
}

func TestCompressKVMaxPooling(t *testing.T) {
	// Key 5 gets all of head 0's attention at every query (sum 4). Max
	// pooling copies the spike's 4 onto 3..7 (average pooling would give 0.8).
	p := Params{Window: 4, Kernel: 5, Pooling: PoolMax}
	l := spikeLayer(20, 1, 1, 4, [][2]float32{{10, 0}}, map[[2]int][2]float32{{5, 0}: {200, 0}})
	scores, err := HeadScores(l, 0, p)
	if err != nil {
		t.Fatal(err)
	}
	for j, v := range scores {
		want := 0.0
		if j >= 3 && j <= 7 {
			want = 4
		}
		if v != want {
			t.Errorf("max-pooled score[%d] = %v, want %v", j, v, want)
		}
	}
	got, err := CompressKV(l, []int{0}, 6, p)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{3, 4, 16, 17, 18, 19}; !slices.Equal(got, want) {
		t.Errorf("CompressKV max pooling = %v, want %v", got, want)
	}
}

func TestSnapKVGrouping(t *testing.T) {
	// H=4, G=2, r=2, n=24, w=4. KV head 0 has an x spike at 5 and a y
	// spike at 12; KV head 1 a y spike at 15. Heads 0,1 query x, heads 2,3
	// query y. True reads (h / r): heads 0,1 -> kv 0 (spike 5); heads 2,3 ->
	// kv 1 (spike 15).
	p := Params{Window: 4, Kernel: 5, Pooling: PoolAvg}
	l := spikeLayer(24, 4, 2, 4, [][2]float32{{10, 0}, {10, 0}, {0, 10}, {0, 10}},
		map[[2]int][2]float32{{5, 0}: {200, 0}, {12, 0}: {0, 200}, {15, 1}: {0, 200}})
	window := []int{20, 21, 22, 23}
	t.Run("h/r", func(t *testing.T) {
		got, err := SnapKV(l, 11, p)
		if err != nil {
			t.Fatal(err)
		}
		want := [][]int{
			append([]int{0, 1, 3, 4, 5, 6, 7}, window...),      // heads 0,1 on kv 0: spike 5
			append([]int{0, 1, 13, 14, 15, 16, 17}, window...), // heads 2,3 on kv 1: spike 15
		}
		for g := range want {
			if !slices.Equal(got[g], want[g]) {
				t.Errorf("kv head %d kept %v, want %v", g, got[g], want[g])
			}
		}
	})
	t.Run("reference h mod G", func(t *testing.T) {
		q := p
		q.ReferenceGrouping = true
		got, err := SnapKV(l, 11, q)
		if err != nil {
			t.Fatal(err)
		}
		// kv 0 averages heads 0 (spike 5) and 2 (spike 15); kv 1 heads 1 and 3: the same.
		mixed := append([]int{3, 4, 5, 6, 7, 13, 14}, window...)
		for g := range got {
			if !slices.Equal(got[g], mixed) {
				t.Errorf("kv head %d kept %v, want %v", g, got[g], mixed)
			}
		}
	})
}

func TestPyramidBudget(t *testing.T) {
	tests := []struct {
		layer, layers, budget, window, tokens, beta, want int
	}{
		// base 56, min 2, max 110, steps 108//31 = 3.
		{0, 32, 64, 8, 1000, 20, 118},
		{1, 32, 64, 8, 1000, 20, 115},
		{31, 32, 64, 8, 1000, 20, 25},
		// Short prompt: max capped at 92, min 20, steps 72//31 = 2.
		{0, 32, 64, 8, 100, 20, 100},
		{31, 32, 64, 8, 100, 20, 38},
		// Very short prompt: max 12, min 100 -> steps (-88)//4 = -22 (floor), budgets rise.
		{0, 5, 64, 8, 20, 20, 20},
		{4, 5, 64, 8, 20, 20, 108},
		{3, 1, 64, 8, 1000, 20, 64},
	}
	for _, tt := range tests {
		if got := PyramidBudget(tt.layer, tt.layers, tt.budget, tt.window, tt.tokens, tt.beta); got != tt.want {
			t.Errorf("PyramidBudget(layer %d of %d, budget %d, window %d, tokens %d, beta %d) = %d, want %d",
				tt.layer, tt.layers, tt.budget, tt.window, tt.tokens, tt.beta, got, tt.want)
		}
	}
}

func TestPyramidKV(t *testing.T) {
	// 2 layers, budget 10, w 4, n 24, beta 20: base 6, min 0, max 12,
	// steps 12: layer 0 keeps 16, layer 1 keeps 4 (window only, rejected).
	p := Params{Window: 4, Kernel: 5, Pooling: PoolAvg}
	l := spikeLayer(24, 1, 1, 4, [][2]float32{{10, 0}}, map[[2]int][2]float32{{5, 0}: {200, 0}})
	got, err := PyramidKV(l, 0, 2, 10, 0, p)
	if err != nil {
		t.Fatal(err)
	}
	want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 20, 21, 22, 23}
	if len(got) != 1 || !slices.Equal(got[0], want) {
		t.Errorf("PyramidKV layer 0 = %v, want [%v]", got, want)
	}
	if _, err := PyramidKV(l, 1, 2, 10, 0, p); err == nil {
		t.Error("PyramidKV layer 1 with a window-only budget: want an error")
	}
}

func TestStreamingLLM(t *testing.T) {
	tests := []struct {
		tokens, budget int
		want           []int
	}{
		{10, 6, []int{0, 1, 2, 3, 8, 9}},
		{10, 10, all(10)},
		{6, 32, all(6)},
		{10, 4, []int{0, 1, 2, 3}},
		{10, 2, []int{0, 1}},
		{40, 8, []int{0, 1, 2, 3, 36, 37, 38, 39}},
	}
	for _, tt := range tests {
		if got := StreamingLLM(tt.tokens, tt.budget); !slices.Equal(got, tt.want) {
			t.Errorf("StreamingLLM(%d, %d) = %v, want %v", tt.tokens, tt.budget, got, tt.want)
		}
	}
}

// TestInvariants checks, on random layers, what every policy promises:
// sorted unique positions, exactly budget of them when the prompt is longer,
// the window always included.
func TestInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 50; trial++ {
		kvHeads := 1 + rng.IntN(3)
		heads := kvHeads * (1 + rng.IntN(3))
		d := 1 + rng.IntN(6)
		p := Params{Window: 1 + rng.IntN(6), Kernel: 1 + 2*rng.IntN(4), Pooling: PoolAvg}
		if rng.IntN(2) == 0 {
			p.Pooling = PoolMax
		}
		n := p.Window + rng.IntN(60)
		budget := p.Window + 1 + rng.IntN(40)
		l := Layer{Tokens: n, Heads: heads, KVHeads: kvHeads, HeadDim: d,
			Queries: make([]float32, p.Window*heads*d)}
		for i := range l.Queries {
			l.Queries[i] = float32(rng.NormFloat64() * 3)
		}
		keys := make([]float32, n*kvHeads*d)
		for i := range keys {
			keys[i] = float32(rng.NormFloat64() * 3)
		}
		l.Keys = perHead(keys, n, kvHeads, d)
		check := func(name string, kept []int) {
			t.Helper()
			want := min(n, budget)
			if len(kept) != want {
				t.Fatalf("trial %d %s: kept %d positions, want %d", trial, name, len(kept), want)
			}
			for i := 1; i < len(kept); i++ {
				if kept[i] <= kept[i-1] {
					t.Fatalf("trial %d %s: kept %v not strictly ascending", trial, name, kept)
				}
			}
			if kept[0] < 0 || kept[len(kept)-1] != n-1 {
				t.Fatalf("trial %d %s: kept %v out of range for %d tokens", trial, name, kept, n)
			}
			if !slices.Equal(kept[len(kept)-p.Window:], all(n)[n-p.Window:]) {
				t.Fatalf("trial %d %s: kept %v misses the window", trial, name, kept)
			}
		}
		topHeads := []int{rng.IntN(heads)}
		kept, err := CompressKV(l, topHeads, budget, p)
		if err != nil {
			t.Fatal(err)
		}
		check("CompressKV", kept)
		perHead, err := SnapKV(l, budget, p)
		if err != nil {
			t.Fatal(err)
		}
		for g := range perHead {
			check("SnapKV", perHead[g])
		}
		// With one query head per KV head, SnapKV and CompressKV with that head agree.
		if heads == kvHeads {
			for g := range perHead {
				one, _ := CompressKV(l, []int{g}, budget, p)
				if !slices.Equal(one, perHead[g]) {
					t.Fatalf("trial %d: SnapKV kv %d = %v, CompressKV head %d = %v", trial, g, perHead[g], g, one)
				}
			}
		}
	}
}

func TestErrors(t *testing.T) {
	p := DefaultParams()
	good := spikeLayer(40, 2, 1, 8, [][2]float32{{1, 0}, {0, 1}}, nil)
	bad := good
	bad.Keys = bad.Keys[:0]
	tests := []struct {
		name string
		run  func() error
	}{
		{"budget not above window", func() error { _, err := CompressKV(good, []int{0}, 8, p); return err }},
		{"no heads", func() error { _, err := CompressKV(good, nil, 16, p); return err }},
		{"head out of range", func() error { _, err := CompressKV(good, []int{2}, 16, p); return err }},
		{"short keys", func() error { _, err := CompressKV(bad, []int{0}, 16, p); return err }},
		{"even kernel", func() error { _, err := SnapKV(good, 16, Params{Window: 8, Kernel: 4, Pooling: PoolAvg}); return err }},
		{"unknown pooling", func() error { _, err := HeadScores(good, 0, Params{Window: 8, Kernel: 5, Pooling: "mean"}); return err }},
		{"heads not divisible", func() error {
			l := good
			l.KVHeads = 3
			_, err := SnapKV(l, 16, p)
			return err
		}},
		{"parse pooling", func() error { _, err := ParsePooling("median"); return err }},
	}
	for _, tt := range tests {
		if err := tt.run(); err == nil {
			t.Errorf("%s: want an error", tt.name)
		}
	}
	if pl, err := ParsePooling("maxpool"); err != nil || pl != PoolMax {
		t.Errorf("ParsePooling(maxpool) = %q, %v", pl, err)
	}
}

func TestTopNaN(t *testing.T) {
	got := top([]float64{math.NaN(), 1, math.NaN(), 1, 0.5}, 3)
	if want := []int{1, 3, 4}; !slices.Equal(got, want) {
		t.Errorf("top with NaN = %v, want %v", got, want)
	}
}

func BenchmarkCompressKV(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	p := DefaultParams()
	n, heads, kvHeads, d := 4096, 32, 8, 128
	l := Layer{Tokens: n, Heads: heads, KVHeads: kvHeads, HeadDim: d,
		Queries: make([]float32, p.Window*heads*d)}
	for i := range l.Queries {
		l.Queries[i] = float32(rng.NormFloat64())
	}
	keys := make([]float32, n*kvHeads*d)
	for i := range keys {
		keys[i] = float32(rng.NormFloat64())
	}
	l.Keys = perHead(keys, n, kvHeads, d)
	for b.Loop() {
		if _, err := CompressKV(l, []int{0, 5, 9, 31}, 32, p); err != nil {
			b.Fatal(err)
		}
	}
}

// One Scores serves every budget: selecting from scores computed once
// gives what a fresh one-shot selection gives at each budget (selection
// must not change the stored scores).
func TestScoresMatchOneShot(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, grouping := range []bool{false, true} {
		p := DefaultParams()
		p.ReferenceGrouping = grouping
		l := randomLayer(rng, 90, 8, 2, 16, p.Window)
		s, err := NewScores(l, nil, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, budget := range []int{9, 20, 47, 89, 90, 200} {
			want, err := SnapKV(l, budget, p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.SnapKV(budget)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("grouping %v budget %d: SnapKV %v, from scores %v", grouping, budget, want, got)
			}
			heads := []int{5, 2, 7}
			wantC, err := CompressKV(l, heads, budget, p)
			if err != nil {
				t.Fatal(err)
			}
			gotC, err := s.CompressKV(heads, budget)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(gotC, wantC) {
				t.Errorf("budget %d: CompressKV %v, from scores %v", budget, wantC, gotC)
			}
		}
	}
	l := randomLayer(rng, 40, 4, 2, 8, 8)
	some, err := NewScores(l, []int{1}, DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := some.SnapKV(16); err == nil {
		t.Error("SnapKV from one scored head: no error")
	}
	if _, err := some.CompressKV([]int{2}, 16); err == nil {
		t.Error("CompressKV with an unscored head: no error")
	}
}

// randomLayer draws a layer of n tokens with normal queries and keys.
func randomLayer(rng *rand.Rand, n, heads, kvHeads, d, window int) Layer {
	l := Layer{Tokens: n, Heads: heads, KVHeads: kvHeads, HeadDim: d,
		Queries: make([]float32, window*heads*d)}
	for i := range l.Queries {
		l.Queries[i] = float32(rng.NormFloat64())
	}
	keys := make([]float32, n*kvHeads*d)
	for i := range keys {
		keys[i] = float32(rng.NormFloat64())
	}
	l.Keys = perHead(keys, n, kvHeads, d)
	return l
}

// TestBF16KeysReadInPlace checks that keys held as bf16 words (a bf16 KV
// cache) score exactly as the same values held as float32: the policy
// widens each bf16 row itself instead of needing a float32 copy.
func TestBF16KeysReadInPlace(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	p := DefaultParams()
	n, heads, kvHeads, d := 40, 4, 2, 8
	l := randomLayer(rng, n, heads, kvHeads, d, p.Window)
	bf := l
	bf.Keys = nil
	for _, m := range l.Keys {
		words := make([]uint16, len(m.F32))
		for i, v := range m.F32 {
			words[i] = uint16(math.Float32bits(v) >> 16)            // truncate to bf16
			m.F32[i] = math.Float32frombits(uint32(words[i]) << 16) // the value bf16 holds
		}
		bf.Keys = append(bf.Keys, kernels.Matrix{Rows: m.Rows, Cols: m.Cols, DType: kernels.BF16, U16: words})
	}
	for h := 0; h < heads; h++ {
		want, err := HeadScores(l, h, p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := HeadScores(bf, h, p)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("head %d: bf16 keys score %v, float32 keys of the same values %v", h, got[:4], want[:4])
		}
	}
	short := bf
	short.Keys = slices.Clone(bf.Keys)
	short.Keys[1].U16 = short.Keys[1].U16[:d]
	if _, err := HeadScores(short, 0, p); err == nil {
		t.Error("a key matrix holding fewer values than its shape: no error")
	}
}
