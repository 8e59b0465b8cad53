package interop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// importRef reads the reference's head_idx.json ({"0": [heads of layer 0,
// best first], ...}, written by schema.ExportReference) into scores: in a
// layer listing k heads, the i-th listed gets (k-i)/k and unlisted heads 0,
// so the order is kept and nothing else is claimed.
func importRef(data []byte, name string, want Shape) ([][]float64, error) {
	var m map[string][]int
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: not a head_idx.json ({\"<layer>\": [heads, best first]}): %w", name, err)
	}
	if len(m) != want.Layers {
		return nil, fmt.Errorf("%s: rankings for %d layers, but the model has %s", name, len(m), want)
	}
	scores := make([][]float64, want.Layers)
	for l := range scores {
		row, ok := m[strconv.Itoa(l)]
		if !ok {
			return nil, fmt.Errorf("%s: no key %q (want one key per layer, \"0\" to \"%d\")", name, strconv.Itoa(l), want.Layers-1)
		}
		scores[l] = make([]float64, want.Heads)
		seen := map[int]bool{}
		for i, h := range row {
			if h < 0 || h >= want.Heads {
				return nil, fmt.Errorf("%s: layer %d lists head %d, but the model has %d query heads", name, l, h, want.Heads)
			}
			if seen[h] {
				return nil, fmt.Errorf("%s: layer %d lists head %d twice", name, l, h)
			}
			seen[h] = true
			scores[l][h] = float64(len(row)-i) / float64(len(row))
		}
	}
	return scores, nil
}
