package synth

import (
	"fmt"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/modeltest"
	"github.com/compresskv/compresskv/model/tokenizer"
	"github.com/compresskv/compresskv/needle"
)

// probeScores is what one seed's probes gave: [layer][head] sums of the
// semantic retrieval score and of the classic retrieval score over the
// successful probes, and the probe counts.
type probeScores struct {
	srh, retrieval [][]float64
	run, success   int
}

// runProbes decodes every probe greedily as docs/method.md section 2 does
// (prefill all but the last prompt token, then step from it, at most
// maxNew tokens, stopping at a token holding a newline) and scores heads.
// check is called at every step that emits a token of the answer span,
// with the step's attention rows [layer][head][position].
func runProbes(t *testing.T, m *model.Model, tok *tokenizer.Tokenizer, probes []needle.Probe, check func(p needle.Probe, rows [][][]float32)) probeScores {
	t.Helper()
	L := m.Config().NumLayers
	grid := func() [][]float64 {
		g := make([][]float64, L)
		for l := range g {
			g[l] = make([]float64, m.Config().NumHeads)
		}
		return g
	}
	sc := probeScores{srh: grid(), retrieval: grid()}
	const maxNew = 16
	for _, p := range probes {
		s := modeltest.NewSession(t, m, model.SessionOptions{})
		if err := s.Prefill(t.Context(), p.IDs[:len(p.IDs)-1], nil); err != nil {
			t.Fatal(err)
		}
		rec := &attentionRecorder{}
		srh, ret := grid(), grid()
		cur := p.IDs[len(p.IDs)-1]
		var out []int
		for step := 0; step < maxNew; step++ {
			if err := s.Step(cur, rec); err != nil {
				t.Fatal(err)
			}
			next := model.Argmax(s.Logits())
			out = append(out, next)
			rows := rec.rows[step]
			hits := 0
			for i := p.SpanStart; i < p.SpanEnd; i++ {
				if p.IDs[i] == next {
					hits++
				}
			}
			if hits > 0 {
				check(p, rows)
			}
			for l := range rows {
				for h, row := range rows[l] {
					var mass float64
					for j := p.SpanStart; j < p.SpanEnd; j++ {
						mass += float64(row[j])
					}
					srh[l][h] += float64(hits) * mass
					top := 0
					for j, v := range row {
						if v > row[top] {
							top = j
						}
					}
					if top >= p.SpanStart && top < p.SpanEnd && p.IDs[top] == next {
						ret[l][h] += 1 / float64(p.SpanEnd-p.SpanStart)
					}
				}
			}
			if strings.Contains(tok.Decode([]int{next}), "\n") {
				break
			}
			cur = next
		}
		sc.run++
		response := tok.Decode(out)
		if needle.Rouge1Recall(response, p.Answer) <= 0.5 {
			t.Logf("probe %d (%d tokens, depth %v): answer %q, response %q", p.Index, len(p.IDs), p.Depth, p.Answer, response)
			continue
		}
		sc.success++
		for l := range srh {
			for h := range srh[l] {
				sc.srh[l][h] += srh[l][h]
				sc.retrieval[l][h] += ret[l][h]
			}
		}
	}
	return sc
}

// TestNeedleProbes is the acceptance test of the ground truth: on needle
// probes built by the needle package (generated needles and haystack,
// answer-prefix template), for five seeds, greedy decoding recalls the
// answer on >= 90 % of probes; at every step that emits an answer token
// the planted retrieval head of each layer puts > 0.9 of its attention on
// the answer span and every other head < 0.1; and both the SRH score and
// the classic retrieval score rank the planted head first in its layer.
func TestNeedleProbes(t *testing.T) {
	tmpl, err := needle.TemplateFor("answer-prefix")
	if err != nil {
		t.Fatal(err)
	}
	for seed := int64(1); seed <= 5; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			o := Options{Seed: seed, Layers: 3}
			info, m, tok := writeModel(t, o)
			probes, skips, err := needle.Build(tok, needle.GenerateHaystack(seed, 20000), needle.GenerateNeedles(seed, 2), needle.Settings{
				Grid:       needle.Grid{ContextLengths: []int{256, 1024}, Depths: []float64{0, 50, 100}, Buffer: 50},
				Template:   tmpl,
				AddSpecial: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(skips) > 0 || len(probes) != 12 {
				t.Fatalf("%d probes, %d skipped (%v), want 12 and none", len(probes), len(skips), skips)
			}
			roles := map[[2]int]string{}
			for _, h := range info.Heads {
				roles[[2]int{h.Layer, h.Head}] = h.Role
			}
			bad := 0
			sc := runProbes(t, m, tok, probes, func(p needle.Probe, rows [][][]float32) {
				for l := range rows {
					for h, row := range rows[l] {
						var mass float64
						for j := p.SpanStart; j < p.SpanEnd; j++ {
							mass += float64(row[j])
						}
						role := roles[[2]int{l, h}]
						if (role == RoleRetrieval) != (mass > 0.9) || role != RoleRetrieval && mass >= 0.1 {
							if bad++; bad <= 5 {
								t.Errorf("probe %d: layer %d head %d (%s) has %.3f of its attention on the answer span", p.Index, l, h, role, mass)
							}
						}
					}
				}
			})
			if 10*sc.success < 9*sc.run {
				t.Errorf("%d of %d probes recalled the answer, want >= 90 %%", sc.success, sc.run)
			}
			for layer, head := range info.Retrieval {
				for name, scores := range map[string][]float64{"srh": sc.srh[layer], "retrieval": sc.retrieval[layer]} {
					for h, v := range scores {
						if h != head && v >= scores[head] {
							t.Errorf("layer %d: %s score of head %d (%.3f) >= planted head %d (%.3f)", layer, name, h, v, head, scores[head])
						}
					}
					if scores[head] <= 0 {
						t.Errorf("layer %d: planted head %d has %s score %v", layer, head, name, scores[head])
					}
				}
			}
		})
	}
}
