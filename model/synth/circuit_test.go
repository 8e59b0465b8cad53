package synth

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/modeltest"
)

// TestPositionalMargin checks the claim behind positional heads: with the
// weights a_f, sum_f a_f cos(delta*omega_f) is 1 at delta = 0 and at least
// 0.22 lower at every other offset a head can see (delta in
// [-maxPositions, 3]), so a peak logit of positionLogit leaves >= 22 logits
// between the planted position and any other.
func TestPositionalMargin(t *testing.T) {
	var sum float64
	for _, a := range positionWeights {
		sum += a
	}
	if math.Abs(sum-1) > 1e-12 {
		t.Fatalf("positionWeights sum to %v, want 1", sum)
	}
	worst, at := math.Inf(1), 0
	for delta := -maxPositions; delta <= 3; delta++ {
		if delta == 0 {
			continue
		}
		var gap float64
		for f, a := range positionWeights {
			gap += a * (1 - math.Cos(float64(delta)*omega(f)))
		}
		if gap < worst {
			worst, at = gap, delta
		}
	}
	if worst < 0.22 {
		t.Errorf("smallest gap %.4f at offset %d, want >= 0.22", worst, at)
	}
	t.Logf("smallest gap %.4f at offset %d", worst, at)
}

// TestSlowPairs checks that the pairs matching and sink heads use turn by
// less than 0.25 rad over the whole context, and the fast pairs do turn.
func TestSlowPairs(t *testing.T) {
	if got := omega(sinkPair) * maxPositions; got > 0.25 {
		t.Errorf("sink pair turns %.3f rad over %d positions, want <= 0.25", got, maxPositions)
	}
	for b := 0; b < 3; b++ {
		for c := 0; c < matchDim; c++ {
			d := matchCoord(b, c)
			pair := d % halfDim
			if pair < firstMatchPair || d >= headDim {
				t.Fatalf("match block %d coord %d at dim %d (pair %d), outside the slow pairs", b, c, d, pair)
			}
		}
	}
	if got := omega(positionPairs-1) * 1; got < 0.05 {
		t.Errorf("last positional pair turns only %.3f rad per position", got)
	}
}

func TestMatchCoordsDistinct(t *testing.T) {
	seen := map[int]bool{sinkPair: true}
	for b := 0; b < 3; b++ {
		for c := 0; c < matchDim; c++ {
			d := matchCoord(b, c)
			if seen[d] {
				t.Fatalf("dim %d used twice", d)
			}
			seen[d] = true
		}
	}
}

func TestIdentities(t *testing.T) {
	ids := identities(9, 500, 3)
	for tok, e := range ids {
		var n, m float64
		for k, v := range e {
			n += v * v
			if k < matchDim {
				m += v * v
			}
		}
		want, wantMatch := 1.0, matchShare*matchShare
		if tok == 3 {
			want, wantMatch = 0, 0
		}
		if math.Abs(n-want) > 1e-12 || math.Abs(m-wantMatch) > 1e-12 {
			t.Fatalf("token %d: |e|^2 = %v (match part %v), want %v (%v)", tok, n, m, want, wantMatch)
		}
	}
	// Distinct tokens are nearly orthogonal: a random unit pair in 64 dims
	// has cosine sd 1/8; none of 500 tokens should come near 1.
	var worst float64
	for a := 0; a < 500; a++ {
		for b := a + 1; b < 500; b++ {
			var d float64
			for k := range ids[a] {
				d += ids[a][k] * ids[b][k]
			}
			worst = max(worst, math.Abs(d))
		}
	}
	if worst > 0.7 {
		t.Errorf("largest |cosine| between distinct identities %.3f, want < 0.7", worst)
	}
}

// attentionRecorder keeps the attention rows of every decode step:
// rows[step][layer][head][key position].
type attentionRecorder struct{ rows [][][][]float32 }

func (r *attentionRecorder) WantProbs() bool               { return true }
func (r *attentionRecorder) PrefillEnd(*model.PrefillView) {}
func (r *attentionRecorder) DecodeStep(d *model.DecodeView) {
	if d.Layer == 0 {
		r.rows = append(r.rows, nil)
	}
	step := len(r.rows) - 1
	heads := make([][]float32, len(d.Probs))
	for h, row := range d.Probs {
		heads[h] = append([]float32(nil), row...)
	}
	r.rows[step] = append(r.rows[step], heads)
}

// TestHeadPatterns feeds random tokens one at a time and checks where
// every head looks, at every position: previous-token heads at i-Offset,
// sink heads at 0, local heads at i, each with > 0.99 of the mass; and, on
// a repeated stretch, retrieval heads at the token after the earlier copy
// of the current trigram, whose identity the model then predicts.
func TestHeadPatterns(t *testing.T) {
	for _, streaming := range []bool{false, true} {
		headPatterns(t, Options{Seed: 11, Layers: 3, Streaming: streaming})
	}
}

// headPatterns checks, on random tokens with a repeated stretch, that the
// model predicts the repeats and every head attends where its role says:
// positional and retrieval heads put > 0.99 of their mass on their
// target; streaming heads split theirs between the first token (20-70 %)
// and the last 40 positions (most of the rest).
func headPatterns(t *testing.T, o Options) {
	info, m, _ := writeModel(t, o)
	rng := rand.New(rand.NewPCG(1, 2))
	vocab := info.Config.VocabSize - 2 // no specials
	n := 300
	ids := []int{info.Config.BOSTokenID}
	for len(ids) < n {
		ids = append(ids, rng.IntN(vocab))
	}
	// Repeat ids[100:140] at the end: from the third repeated token on,
	// retrieval heads find the earlier copy.
	const src, length = 100, 40
	ids = append(ids, ids[src:src+length]...)

	rec := &attentionRecorder{}
	s := modeltest.NewSession(t, m, model.SessionOptions{})
	predicted := 0
	for i, id := range ids {
		if err := s.Step(id, rec); err != nil {
			t.Fatal(err)
		}
		if i >= n+2 && i+1 < len(ids) && model.Argmax(s.Logits()) == ids[i+1] {
			predicted++
		}
	}
	if want := length - 3; predicted != want {
		t.Errorf("predicted %d of the %d repeated tokens that have a full trigram context", predicted, want)
	}
	for _, h := range info.Heads {
		for i := 4; i < len(ids); i++ {
			row := rec.rows[i][h.Layer][h.Head]
			target := -1
			switch h.Role {
			case RolePreviousToken:
				target = i - h.Offset
			case RoleLocal:
				target = i
			case RoleSink:
				target = 0
			case RoleRetrieval:
				if i >= n+2 && i < n+length {
					target = src + (i - n) + 1
				}
			}
			if h.Role == RoleStreaming && h.Layer == 0 && i >= 200 {
				// Layer 0's streaming head writes the bag: its sharper
				// recency drowns its sink.
				recent := 0.0
				for j := i - 15; j <= i; j++ {
					recent += float64(row[j])
				}
				if recent < 0.7 {
					t.Errorf("layer 0 head %d (streaming, bag): at position %d mass %.3f on the last 16 positions, want >= 0.7", h.Head, i, recent)
					break
				}
				continue
			}
			if h.Role == RoleStreaming && i >= 200 {
				recent := 0.0
				for j := i - 39; j <= i; j++ {
					recent += float64(row[j])
				}
				if row[0] < 0.2 || row[0] > 0.7 || recent < 0.5*(1-float64(row[0])) {
					t.Errorf("layer %d head %d (streaming): at position %d mass %.3f on the first token, %.3f on the last 40 positions", h.Layer, h.Head, i, row[0], recent)
					break
				}
			}
			if target < 0 {
				continue
			}
			if row[target] < 0.99 {
				t.Errorf("layer %d head %d (%s): at position %d mass %.4f on position %d, want > 0.99", h.Layer, h.Head, h.Role, i, row[target], target)
				break
			}
		}
	}
}

// The streaming variant puts one streaming head in every GQA group of the
// retrieval layers (so every retrieval head sits beside one) and one in
// layer 0.
func TestStreamingGroups(t *testing.T) {
	for seed := int64(0); seed < 8; seed++ {
		heads, err := Heads(Options{Seed: seed, Layers: 6, Streaming: true})
		if err != nil {
			t.Fatal(err)
		}
		streams := map[[2]int]int{}
		for _, h := range heads {
			if h.Role == RoleStreaming {
				streams[[2]int{h.Layer, h.KVHead}]++
			}
		}
		if streams[[2]int{0, 0}]+streams[[2]int{0, 1}] != 1 {
			t.Errorf("seed %d layer 0: %d streaming heads, want 1 (three heads are the previous-token circuit)", seed, streams[[2]int{0, 0}]+streams[[2]int{0, 1}])
		}
		for l := 1; l < 6; l++ {
			for g := 0; g < numKVHeads; g++ {
				if streams[[2]int{l, g}] != 1 {
					t.Errorf("seed %d layer %d KV head %d: %d streaming heads, want 1", seed, l, g, streams[[2]int{l, g}])
				}
			}
		}
		if n := len(Planted(Options{Seed: seed, Layers: 6, Streaming: true})); n != 5 {
			t.Errorf("seed %d: %d planted heads, want 5", seed, n)
		}
	}
}
