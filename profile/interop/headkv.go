package interop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/compresskv/compresskv/profile/schema"
)

// The Retrieval_Head score file (nightdessert/Retrieval_Head,
// retrieval_head_detection.py; read the same way by HeadKV's
// headkv/snapkv_utils.py and SparseMM): one line of json.dump output,
// {"<layer>-<query head>": [score of each successful probe, ...], ...}.
// Readers take np.mean of each list. HeadKV then normalises the means by
// their sum and reshapes them to [layers, heads] in the file's key order,
// so every key must be present, layer-major; and an all-zero file breaks
// that normalisation.

func exportHeadKV(p *schema.Profile, o ExportOptions) ([]file, []string, error) {
	scores := p.Heads.SRH
	switch o.Score {
	case "srh":
	case "retrieval":
		scores = p.Heads.Retrieval
	default:
		return nil, nil, fmt.Errorf("score %q: want srh or retrieval", o.Score)
	}
	var b bytes.Buffer
	b.WriteByte('{')
	allZero := true
	for l, row := range scores {
		for h, s := range row {
			if math.IsNaN(s) || math.IsInf(s, 0) {
				return nil, nil, fmt.Errorf("heads.%s[%d][%d] is %v", o.Score, l, h, s)
			}
			if l > 0 || h > 0 {
				b.WriteString(", ")
			}
			// A profile keeps means, not the per-probe lists: a one-element
			// list has the same np.mean.
			fmt.Fprintf(&b, `"%d-%d": [%s]`, l, h, pyFloat(s))
			allZero = allZero && s == 0
		}
	}
	b.WriteByte('}') // json.dump writes no final newline; the readers take readline()
	var warnings []string
	if allZero {
		warnings = append(warnings, fmt.Sprintf("every %s score is 0: HeadKV divides the scores by their sum and would get NaN", o.Score))
	}
	return []file{{HeadKVFile, b.Bytes()}}, warnings, nil
}

// importHeadKV reads a score file into [layer][query head] means.
func importHeadKV(data []byte, name string, want Shape) ([][]float64, []string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, fmt.Errorf("%s: not a head score file: want a JSON object {\"<layer>-<head>\": [scores], ...}", name)
	}
	type entry struct {
		layer, head int
		mean        float64
	}
	var entries []entry
	seen := map[[2]int]bool{}
	layers, heads := 0, 0
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		key, _ := t.(string)
		ls, hs, ok := strings.Cut(key, "-")
		l, err1 := strconv.Atoi(ls)
		h, err2 := strconv.Atoi(hs)
		if !ok || err1 != nil || err2 != nil || l < 0 || h < 0 {
			return nil, nil, fmt.Errorf("%s: key %q: want \"<layer>-<head>\"", name, key)
		}
		var list []json.Number
		if err := dec.Decode(&list); err != nil {
			return nil, nil, fmt.Errorf("%s: key %q: want a list of numbers: %w", name, key, err)
		}
		if len(list) == 0 {
			return nil, nil, fmt.Errorf("%s: key %q has no scores (np.mean of it is NaN)", name, key)
		}
		sum := 0.0
		for _, n := range list {
			v, err := n.Float64()
			if err != nil || math.IsInf(v, 0) {
				return nil, nil, fmt.Errorf("%s: key %q: score %s is not a finite number", name, key, n)
			}
			sum += v
		}
		if seen[[2]int{l, h}] {
			return nil, nil, fmt.Errorf("%s: key %q appears twice", name, key)
		}
		seen[[2]int{l, h}] = true
		entries = append(entries, entry{l, h, sum / float64(len(list))})
		layers, heads = max(layers, l+1), max(heads, h+1)
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	if layers != want.Layers || heads != want.Heads {
		return nil, nil, fmt.Errorf("%s: scores for %d layers x %d query heads, but the model has %s", name, layers, heads, want)
	}
	if len(entries) != layers*heads {
		for l := range layers {
			for h := range heads {
				if !seen[[2]int{l, h}] {
					return nil, nil, fmt.Errorf("%s: no key \"%d-%d\" (%d of %d heads present; HeadKV reshapes the scores to [layers, heads] and needs all)", name, l, h, len(entries), layers*heads)
				}
			}
		}
	}
	scores := make([][]float64, layers)
	for l := range scores {
		scores[l] = make([]float64, heads)
	}
	var warnings []string
	allZero := true
	for i, e := range entries {
		scores[e.layer][e.head] = e.mean
		allZero = allZero && e.mean == 0
		if len(warnings) == 0 && (e.layer != i/heads || e.head != i%heads) {
			warnings = append(warnings, fmt.Sprintf("%s: keys are not in layer-major order (key %d is \"%d-%d\"): HeadKV reshapes them in file order and would mix heads up", name, i, e.layer, e.head))
		}
	}
	if allZero {
		warnings = append(warnings, fmt.Sprintf("%s: every score is 0: the ranking is head order, and HeadKV's normalisation would divide by zero", name))
	}
	return scores, warnings, nil
}
