package interop

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/compresskv/compresskv/profile/schema"
)

// Import reads the file at path in format f and returns a heads-only
// profile for the model m (shape from its config.json): probes.scoring is
// "imported:<f>", heads.srh the imported scores per query head (KV-head
// formats give every query head its KV head's value), retrieval scores
// zero. A file whose shape differs from m is an error naming both. For
// FormatDuo, path may be the pattern's folder; for FormatRef, the folder
// holding head_idx.json.
func Import(path string, f Format, m schema.Model) (*schema.Profile, []string, error) {
	shape := Shape{Layers: m.Layers, Heads: m.Heads, KVHeads: m.KVHeads}
	if shape.Layers <= 0 || shape.Heads <= 0 || shape.KVHeads <= 0 || shape.Heads%shape.KVHeads != 0 {
		return nil, nil, fmt.Errorf("import: model shape %s is not a GQA shape", shape)
	}
	dir := ""
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		dir = path
		switch f {
		case FormatDuo:
			path = filepath.Join(dir, DuoHeadsFile)
		case FormatRef:
			path = filepath.Join(dir, schema.ReferenceHeadFile)
		case FormatHeadKV:
			path = filepath.Join(dir, HeadKVFile)
		case FormatKVPress:
			path = filepath.Join(dir, KVPressPattern)
		case FormatQRHead:
			path = filepath.Join(dir, QRHeadFile)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var scores [][]float64
	var warnings []string
	switch f {
	case FormatRef:
		scores, err = importRef(data, path, shape)
	case FormatHeadKV:
		scores, warnings, err = importHeadKV(data, path, shape)
	case FormatDuo:
		var kv [][]float64
		kv, err = importDuo(data, path, shape)
		if err == nil {
			scores = expandKV(kv, shape)
			cfg := filepath.Join(filepath.Dir(path), DuoConfigFile)
			if c, rerr := os.ReadFile(cfg); rerr == nil {
				warnings, err = readSinkRecent(c, cfg)
			} else {
				warnings = append(warnings, fmt.Sprintf("no %s beside %s (DuoAttention needs its sink_size and recent_size)", DuoConfigFile, path))
			}
		}
	case FormatKVPress:
		var kv [][]float64
		kv, err = UnmarshalNPY(data, path)
		if err == nil {
			err = checkKVShape(path, kv, shape)
		}
		if err == nil {
			for _, row := range kv {
				for g, v := range row {
					row[g] = min(max(v, 0), 1) // as DuoAttentionPress clips the published patterns
				}
			}
			scores = expandKV(kv, shape)
		}
	case FormatQRHead:
		scores, warnings, err = importQRHead(data, path, shape)
	default:
		err = fmt.Errorf("import: unknown format %q", f)
	}
	if err != nil {
		return nil, nil, err
	}
	p, err := newImported(m, f, scores)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, warnings, nil
}
