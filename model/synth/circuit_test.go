package synth

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/compresskv/compresskv/model"
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
	o := Options{Seed: 11, Layers: 3}
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
	s := m.NewSession()
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
