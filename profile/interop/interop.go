package interop

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/compresskv/compresskv/profile/schema"
)

// Format names a neighbour's file format.
type Format string

// The formats Export and Import know.
const (
	FormatRef     Format = "ref"     // CompressKV reference: head_idx.json, layer_score.jsonl
	FormatHeadKV  Format = "headkv"  // Retrieval_Head / HeadKV / SparseMM score JSON
	FormatDuo     Format = "duo"     // DuoAttention full_attention_heads.tsv + config.json
	FormatKVPress Format = "kvpress" // kvpress DuoAttentionPress pattern (.npy) and PerLayerCompressionPress ratios
	FormatQRHead  Format = "qrhead"  // QRHead YAML head set
)

// Formats lists every format in the order help texts show them.
var Formats = []Format{FormatRef, FormatHeadKV, FormatDuo, FormatKVPress, FormatQRHead}

// ParseFormat checks a --format value.
func ParseFormat(s string) (Format, error) {
	f := Format(strings.ToLower(s))
	if slices.Contains(Formats, f) {
		return f, nil
	}
	names := make([]string, len(Formats))
	for i, f := range Formats {
		names[i] = string(f)
	}
	return "", fmt.Errorf("format %q: want one of %s", s, strings.Join(names, ", "))
}

// Loses says what a round trip through the format does not keep.
func (f Format) Loses() string {
	switch f {
	case FormatRef:
		return "the scores: only each layer's order of query heads is kept"
	case FormatHeadKV:
		return "nothing the ranking needs: each head's mean score is written as a one-element list (the per-probe lists are not in a profile)"
	case FormatDuo, FormatKVPress:
		return "the query-head order inside a KV group and the srh_mean tie-break: one value per KV head (srh_max scaled to [0, 1])"
	case FormatQRHead:
		return "everything but the top pairs: only the order of the listed (layer, head) pairs is kept"
	}
	return ""
}

// ScoringPrefix starts probes.scoring of imported profiles.
const ScoringPrefix = "imported:"

// IsImported reports whether a profile came from Import.
func IsImported(p *schema.Profile) bool { return strings.HasPrefix(p.Probes.Scoring, ScoringPrefix) }

// Shape is the model shape an import is checked against.
type Shape struct {
	Layers, Heads, KVHeads int
}

func (s Shape) String() string {
	return fmt.Sprintf("%d layers x %d query heads (%d KV heads)", s.Layers, s.Heads, s.KVHeads)
}

// newImported builds the heads-only profile of an import: scores
// [layer][query head] become heads.srh (ranked as compresskv ranks SRH:
// descending, ties by lower index), retrieval scores are zero, and there
// are no probes.
func newImported(m schema.Model, f Format, scores [][]float64) (*schema.Profile, error) {
	zeros := make([][]float64, m.Layers)
	for l := range zeros {
		zeros[l] = make([]float64, m.Heads)
	}
	kv, err := schema.KVView(scores, m.KVHeads)
	if err != nil {
		return nil, err
	}
	p := &schema.Profile{
		Schema: schema.Version,
		Tool:   schema.Tool{Name: "compresskv"},
		Model:  m,
		Probes: schema.ProbeInfo{
			Scoring:        ScoringPrefix + string(f),
			ContextLengths: []int{},
			Depths:         []float64{},
			SkipReasons:    map[string]int{},
			Results:        []schema.ProbeResult{},
		},
		Heads: schema.Heads{
			SRH:              scores,
			Retrieval:        zeros,
			Ranking:          rank(scores),
			RetrievalRanking: rank(zeros),
			KV:               kv,
		},
	}
	if err := schema.Validate(p); err != nil {
		return nil, fmt.Errorf("imported an invalid profile: %w", err)
	}
	return p, nil
}

// rank orders each row's indices by score descending, ties by lower index
// (the rule schema.Validate checks).
func rank(scores [][]float64) [][]int {
	out := make([][]int, len(scores))
	for l, row := range scores {
		idx := make([]int, len(row))
		for h := range idx {
			idx[h] = h
		}
		slices.SortStableFunc(idx, func(a, b int) int {
			switch {
			case row[a] > row[b]:
				return -1
			case row[a] < row[b]:
				return 1
			}
			return 0
		})
		out[l] = idx
	}
	return out
}

// pyFloat formats x as Python's repr(float) does, which is what json.dump
// writes: the shortest round-trip digits, fixed notation with at least one
// decimal for 1e-4 <= |x| < 1e16 (and 0), else d.ddde±XX.
func pyFloat(x float64) string {
	if x == 0 {
		if math.Signbit(x) {
			return "-0.0"
		}
		return "0.0"
	}
	e := strconv.FormatFloat(x, 'e', -1, 64)
	exp, err := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	if err == nil && exp >= -4 && exp < 16 {
		f := strconv.FormatFloat(x, 'f', -1, 64)
		if !strings.Contains(f, ".") {
			f += ".0"
		}
		return f
	}
	return e // Go's shortest %e matches repr: "1e-05", "1.5e+16"
}
