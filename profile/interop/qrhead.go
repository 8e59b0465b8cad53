package interop

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/compresskv/compresskv/profile/schema"
)

// QRHead (princeton-pli/QRHead, src/qrretriever/configs/*.yaml, parsed by
// attn_retriever.py) names its heads in a YAML config:
//
//	attn_head_set: "14-22,13-16,14-28"   # "<layer>-<query head>", best first
//	model_base_class: "Llama-3.1-8B-Instruct"
//	model_name_or_path: "meta-llama/Llama-3.1-8B-Instruct"
//
// (or the special value "full_heads"). It sums the listed heads' scores, so
// only the set matters to it; the published sets are ordered best first,
// and so is ours. The pairs are chosen across layers, which is only
// meaningful because SRH is an attention mass comparable between layers.

type pair struct{ layer, head int }

func exportQRHead(p *schema.Profile, o ExportOptions) ([]file, []string, error) {
	scores := p.Heads.SRH
	if o.Score == "retrieval" {
		scores = p.Heads.Retrieval
	} else if o.Score != "srh" {
		return nil, nil, fmt.Errorf("score %q: want srh or retrieval", o.Score)
	}
	var pairs []pair
	for l, row := range scores {
		for h := range row {
			pairs = append(pairs, pair{l, h})
		}
	}
	// Stable: equal scores keep (layer, head) order.
	slices.SortStableFunc(pairs, func(a, b pair) int {
		sa, sb := scores[a.layer][a.head], scores[b.layer][b.head]
		switch {
		case sa > sb:
			return -1
		case sa < sb:
			return 1
		}
		return 0
	})
	n := min(o.TopPairs, len(pairs))
	names := make([]string, n)
	var warnings []string
	for i, pr := range pairs[:n] {
		names[i] = fmt.Sprintf("%d-%d", pr.layer, pr.head)
		if scores[pr.layer][pr.head] <= 0 && len(warnings) == 0 {
			warnings = append(warnings, fmt.Sprintf("only %d heads score above 0: the set is padded with zero-score heads", i))
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# compresskv: the top %d (layer-query head) pairs by %s, best first\n", n, o.Score)
	fmt.Fprintf(&b, "attn_head_set: %q\n", strings.Join(names, ","))
	if id := p.Model.ID; id != "" {
		_, base, _ := strings.Cut(id, "/")
		fmt.Fprintf(&b, "model_base_class: %q\nmodel_name_or_path: %q\n", base, id)
	}
	return []file{{QRHeadFile, b.Bytes()}}, warnings, nil
}

// importQRHead scores the listed pairs (N of them) N, N-1, ..., 1 over N
// and every other head 0.
func importQRHead(data []byte, name string, want Shape) ([][]float64, []string, error) {
	var c struct {
		AttnHeadSet *string `yaml:"attn_head_set"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, firstLine(err))
	}
	if c.AttnHeadSet == nil {
		return nil, nil, fmt.Errorf("%s: no attn_head_set key (want a QRHead config)", name)
	}
	set := strings.TrimSpace(*c.AttnHeadSet)
	if set == "full_heads" {
		return nil, nil, fmt.Errorf("%s: attn_head_set is full_heads (every head), which ranks nothing", name)
	}
	scores := make([][]float64, want.Layers)
	for l := range scores {
		scores[l] = make([]float64, want.Heads)
	}
	items := strings.Split(set, ",")
	seen := map[pair]bool{}
	for i, it := range items {
		ls, hs, ok := strings.Cut(strings.TrimSpace(it), "-")
		l, err1 := strconv.Atoi(ls)
		h, err2 := strconv.Atoi(hs)
		if !ok || err1 != nil || err2 != nil || l < 0 || h < 0 {
			return nil, nil, fmt.Errorf("%s: attn_head_set item %d %q: want \"<layer>-<head>\"", name, i+1, it)
		}
		if l >= want.Layers || h >= want.Heads {
			return nil, nil, fmt.Errorf("%s: attn_head_set item %d %q is outside the model's %s", name, i+1, it, want)
		}
		if seen[pair{l, h}] {
			return nil, nil, fmt.Errorf("%s: attn_head_set lists %q twice", name, it)
		}
		seen[pair{l, h}] = true
		scores[l][h] = float64(len(items)-i) / float64(len(items))
	}
	return scores, nil, nil
}

// firstLine keeps an error to one line.
func firstLine(err error) error {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return fmt.Errorf("%s", msg)
}
