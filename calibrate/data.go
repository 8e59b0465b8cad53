package calibrate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// DefaultTemplate formats a LongBench-style line ({"context": ...,
// "input": ...}) into a prompt.
const DefaultTemplate = "{context}\n\nQuestion: {input}\nAnswer:"

// placeholder matches a template field such as {context}.
var placeholder = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// Prompt is one line of a dataset file: text to tokenise, or token ids
// given directly.
type Prompt struct {
	Text string
	IDs  []int // set for {"ids": [...]} lines; Text is then empty
}

// ReadPrompts reads a calibration dataset file: JSON Lines, one object per
// line, either {"prompt": "..."} (used as is), {"ids": [1, 2, ...]} (token
// ids, no tokenizer involved), or an object whose string fields fill the
// template's {field} placeholders (LongBench's context and input with
// DefaultTemplate). Blank lines are skipped.
func ReadPrompts(path, template string) ([]Prompt, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parsePrompts(path, data, template)
}

// DatasetName is the name a dataset file gets in the profile: its base name
// without extension ("hotpotqa.jsonl" -> "hotpotqa").
func DatasetName(path string) string {
	base := filepath.Base(path)
	return strings.TrimSuffix(base, filepath.Ext(base))
}

func parsePrompts(name string, data []byte, template string) ([]Prompt, error) {
	fields := placeholder.FindAllStringSubmatch(template, -1)
	var prompts []Prompt
	for n, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal(line, &obj); err != nil || obj == nil {
			return nil, fmt.Errorf("%s:%d: want a JSON object per line (%v)", name, n+1, err)
		}
		if p, ok := obj["prompt"]; ok {
			s, ok := p.(string)
			if !ok {
				return nil, fmt.Errorf("%s:%d: \"prompt\" is %T, want a string", name, n+1, p)
			}
			prompts = append(prompts, Prompt{Text: s})
			continue
		}
		if raw, ok := obj["ids"]; ok {
			ids, err := tokenIDs(raw)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: \"ids\": %v", name, n+1, err)
			}
			prompts = append(prompts, Prompt{IDs: ids})
			continue
		}
		if len(fields) == 0 {
			return nil, fmt.Errorf("%s:%d: no \"prompt\" field and the template %q has no {field} placeholders", name, n+1, template)
		}
		var pairs []string
		for _, f := range fields {
			v, ok := obj[f[1]].(string)
			if !ok {
				return nil, fmt.Errorf("%s:%d: no \"prompt\" field and no string field %q for the template", name, n+1, f[1])
			}
			pairs = append(pairs, f[0], v)
		}
		// One pass, so a context containing "{input}" stays as it is.
		prompts = append(prompts, Prompt{Text: strings.NewReplacer(pairs...).Replace(template)})
	}
	if len(prompts) == 0 {
		return nil, fmt.Errorf("%s: no prompts", name)
	}
	return prompts, nil
}

// tokenIDs converts a decoded JSON array to token ids.
func tokenIDs(raw any) ([]int, error) {
	list, ok := raw.([]any)
	if !ok || len(list) == 0 {
		return nil, fmt.Errorf("want a non-empty array of token ids")
	}
	ids := make([]int, len(list))
	for i, v := range list {
		f, ok := v.(float64)
		if !ok || f < 0 || f != float64(int(f)) || f > 1<<31 {
			return nil, fmt.Errorf("entry %d (%v) is not a token id", i, v)
		}
		ids[i] = int(f)
	}
	return ids, nil
}
