package interop

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/compresskv/compresskv/profile/schema"
)

// DuoAttention (mit-han-lab/duo-attention, duo_attn/utils.py:
// save_full_attention_heads, load_attn_pattern) keeps an attention pattern
// as full_attention_heads.tsv, np.savetxt of a [layers, kv_heads] matrix
// (fmt "%.18e", tab-separated, one row per layer, no header), clipped to
// [0, 1] on load, 1 meaning a retrieval head with the full cache; and a
// config.json beside it whose sink_size and recent_size size the streaming
// heads' cache. Deployment thresholds the values (--threshold 0.5) or keeps
// a quantile (--sparsity). kvpress' DuoAttentionPress reads the same
// matrix and turns the lowest round(size * head_compression_ratio) values
// into streaming heads.

// kvPattern is the per-KV-head pattern both DuoAttention formats hold: the
// KV-head view's srh_max divided by its largest value over the whole model,
// so values lie in [0, 1], keep each layer's srh_max order, and compare
// across layers as DuoAttention's global threshold and kvpress' global
// quantile need.
func kvPattern(p *schema.Profile) ([][]float64, []string, error) {
	kv, err := p.KVView()
	if err != nil {
		return nil, nil, err
	}
	top := 0.0
	for _, row := range kv.SRHMax {
		for _, v := range row {
			top = max(top, v)
		}
	}
	out := make([][]float64, len(kv.SRHMax))
	for l, row := range kv.SRHMax {
		out[l] = make([]float64, len(row))
		for g, v := range row {
			if top > 0 {
				out[l][g] = max(v, 0) / top
			}
		}
	}
	var warnings []string
	if top <= 0 {
		warnings = append(warnings, "every SRH score is 0 (did any probe succeed?): the pattern is all zero, every head a streaming head")
	}
	return out, warnings, nil
}

// pyJSONInts writes a flat JSON object of ints the way json.dump does.
func pyJSONInts(keys []string, values []int) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q: %d", k, values[i])
	}
	b.WriteByte('}')
	return b.Bytes()
}

func exportDuo(p *schema.Profile, o ExportOptions) ([]file, []string, error) {
	pattern, warnings, err := kvPattern(p)
	if err != nil {
		return nil, nil, err
	}
	var b bytes.Buffer
	for _, row := range pattern {
		for g, v := range row {
			if g > 0 {
				b.WriteByte('\t')
			}
			b.WriteString(strconv.FormatFloat(v, 'e', 18, 64)) // np.savetxt's default fmt "%.18e"
		}
		b.WriteByte('\n')
	}
	config := pyJSONInts([]string{"sink_size", "recent_size"}, []int{o.SinkSize, o.RecentSize})
	return []file{{DuoHeadsFile, b.Bytes()}, {DuoConfigFile, config}}, warnings, nil
}

// importDuo reads full_attention_heads.tsv (data) into the [layer][kv
// head] values, clipped to [0, 1] as DuoAttention loads them.
func importDuo(data []byte, name string, want Shape) ([][]float64, error) {
	var rows [][]float64
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 { // np.loadtxt's comments
			text = text[:i]
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		fields := strings.Split(strings.TrimRight(text, "\r"), "\t")
		row := make([]float64, len(fields))
		for i, f := range fields {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%s:%d: column %d: %q is not a finite number", name, line, i+1, f)
			}
			row[i] = min(max(v, 0), 1)
		}
		if len(rows) > 0 && len(row) != len(rows[0]) {
			return nil, fmt.Errorf("%s:%d: %d values, the first row has %d", name, line, len(row), len(rows[0]))
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := checkKVShape(name, rows, want); err != nil {
		return nil, err
	}
	return rows, nil
}

// checkKVShape checks a [layers, kv_heads] pattern against the model.
func checkKVShape(name string, rows [][]float64, want Shape) error {
	cols := 0
	if len(rows) > 0 {
		cols = len(rows[0])
	}
	if len(rows) == want.Layers && cols == want.KVHeads {
		return nil
	}
	hint := ""
	if cols == want.Heads && cols != want.KVHeads {
		hint = " (one column per query head? DuoAttention patterns have one per KV head)"
	}
	return fmt.Errorf("%s: a %d x %d pattern, but the model has %s: want %d rows (layers) x %d columns (KV heads)%s",
		name, len(rows), cols, want, want.Layers, want.KVHeads, hint)
}

// expandKV gives every query head its KV head's value (query head h reads
// KV head h / r).
func expandKV(kv [][]float64, want Shape) [][]float64 {
	r := want.Heads / want.KVHeads
	out := make([][]float64, len(kv))
	for l, row := range kv {
		out[l] = make([]float64, want.Heads)
		for h := range out[l] {
			out[l][h] = row[h/r]
		}
	}
	return out
}

// readSinkRecent reads sink_size and recent_size from a DuoAttention
// config.json; missing keys are reported, not fatal, since compresskv
// does not use them.
func readSinkRecent(data []byte, name string) (warnings []string, err error) {
	var c map[string]any
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for _, k := range []string{"sink_size", "recent_size"} {
		if _, ok := c[k].(float64); !ok {
			warnings = append(warnings, fmt.Sprintf("%s: no numeric %q (DuoAttention needs it to load the pattern)", name, k))
		}
	}
	return warnings, nil
}
