package interop

import (
	"bytes"
	"fmt"
	"math"
	"strconv"

	"github.com/compresskv/compresskv/profile/schema"
)

// kvpress (NVIDIA/kvpress):
//
//   - DuoAttentionPress (kvpress/presses/duo_attention_press.py) holds
//     sink_size, recent_size and a [layers, kv_heads] float array of head
//     scores; it makes the lowest round(size * head_compression_ratio)
//     entries streaming heads. The array is written as a NumPy .npy file and
//     the two sizes as JSON.
//   - PerLayerCompressionPress (per_layer_compression_press.py) takes one
//     compression_ratio per layer: the fraction of the prompt's KV pairs
//     removed, since its presses keep n_kept = int(k_len * (1 - ratio))
//     (scorer_press.py). A per-layer budget B of a prompt of n tokens is the
//     ratio 1 - B/n, which depends on n: the file is written for one
//     --prompt-length.

// Ratios asks for the PerLayerCompressionPress file: the per-layer budgets
// of one average budget, for prompts of PromptLength tokens.
type Ratios struct {
	PromptLength int
	Average      int   // the average budget Budgets belong to (recorded in the file)
	Budgets      []int // one per layer, tokens
}

func exportKVPress(p *schema.Profile, o ExportOptions) ([]file, []string, error) {
	pattern, warnings, err := kvPattern(p)
	if err != nil {
		return nil, nil, err
	}
	npy, err := MarshalNPY(pattern)
	if err != nil {
		return nil, nil, err
	}
	files := []file{
		{KVPressPattern, npy},
		{KVPressPressFile, append(pyJSONInts([]string{"sink_size", "recent_size"}, []int{o.SinkSize, o.RecentSize}), '\n')},
	}
	if o.Ratios != nil {
		data, w, err := ratiosFile(*o.Ratios, p.Model.Layers)
		if err != nil {
			return nil, nil, err
		}
		files = append(files, file{KVPressRatiosFile, data})
		warnings = append(warnings, w...)
	}
	return files, warnings, nil
}

// ratiosFile writes {"prompt_length": n, "average_budget": avg,
// "budgets": [...], "compression_ratios": [...]}.
func ratiosFile(r Ratios, layers int) ([]byte, []string, error) {
	if r.PromptLength <= 0 {
		return nil, nil, fmt.Errorf("prompt length %d: want a positive number of tokens", r.PromptLength)
	}
	if len(r.Budgets) != layers {
		return nil, nil, fmt.Errorf("%d budgets for %d layers", len(r.Budgets), layers)
	}
	var warnings []string
	ratios := make([]float64, layers)
	capped := 0
	for l, b := range r.Budgets {
		if b < 0 {
			return nil, nil, fmt.Errorf("layer %d: budget %d is negative", l, b)
		}
		if b >= r.PromptLength {
			capped++
		}
		ratios[l] = CompressionRatio(b, r.PromptLength)
	}
	if capped > 0 {
		warnings = append(warnings, fmt.Sprintf("%d of %d layers have a budget of at least the prompt length %d: their ratio is 0 (nothing removed)", capped, layers, r.PromptLength))
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"prompt_length": %d, "average_budget": %d, "budgets": [`, r.PromptLength, r.Average)
	for l, v := range r.Budgets {
		if l > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(v))
	}
	b.WriteString(`], "compression_ratios": [`)
	for l, v := range ratios {
		if l > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pyFloat(v))
	}
	b.WriteString("]}\n")
	return b.Bytes(), warnings, nil
}

// CompressionRatio is the kvpress compression_ratio that keeps exactly
// budget of n prompt tokens: 1 - budget/n, nudged by an ulp where float
// rounding would make int(n * (1 - ratio)) miss budget; 0 when budget >= n.
func CompressionRatio(budget, n int) float64 {
	if budget >= n {
		return 0
	}
	kept := func(r float64) int { return int(float64(n) * (1 - r)) }
	r := 1 - float64(budget)/float64(n)
	for kept(r) < budget {
		r = math.Nextafter(r, 0)
	}
	for r < 1 && kept(r) > budget {
		r = math.Nextafter(r, 1)
	}
	return r
}
