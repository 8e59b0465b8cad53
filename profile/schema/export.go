package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/compresskv/compresskv/internal/atomicfile"
)

// The file names ExportReference writes. The reference implementation
// (TUDa-HWAI/CompressKV) keeps them as "<model>_head_idx.json" and
// "<model>_layer_score.jsonl"; rename them with the model prefix its scripts
// expect. Despite its suffix the layer-score file holds one JSON object,
// exactly like the reference's.
const (
	ReferenceHeadFile  = "head_idx.json"
	ReferenceLayerFile = "layer_score.jsonl"
)

// ExportReference writes the reference implementation's files into dir
// (created if needed):
//
//   - ReferenceHeadFile: {"0": [11, 25, ...], "1": [...], ...}, keys the
//     layer indices as strings in numeric order, values the SRH ranking
//     (best head first);
//   - ReferenceLayerFile, only when p is calibrated: {"<dataset>": [...],
//     ..., "avg_score": [...]}, the normalised layer scores of each
//     calibration dataset in profile order, then the combined layer scores.
func ExportReference(p *Profile, dir string) error {
	if p == nil {
		return fmt.Errorf("export reference: nil profile")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("export reference: %w", err)
	}
	var b bytes.Buffer
	b.WriteString("{")
	for l, row := range p.Heads.Ranking {
		if l > 0 {
			b.WriteString(", ")
		}
		if err := writeMember(&b, strconv.Itoa(l), row); err != nil {
			return err
		}
	}
	b.WriteString("}\n")
	if err := atomicfile.WriteFile(filepath.Join(dir, ReferenceHeadFile), b.Bytes(), 0o644); err != nil {
		return err
	}
	if p.Calibration == nil {
		return nil
	}
	b.Reset()
	b.WriteString("{\n")
	for _, d := range p.Calibration.Datasets {
		if d.Name == "avg_score" {
			return fmt.Errorf("export reference: a calibration dataset is named %q, which the layer-score file reserves", d.Name)
		}
		b.WriteString("  ")
		if err := writeMember(&b, d.Name, d.LayerScores); err != nil {
			return err
		}
		b.WriteString(",\n")
	}
	b.WriteString("  ")
	if err := writeMember(&b, "avg_score", p.Calibration.LayerScores); err != nil {
		return err
	}
	b.WriteString("\n}\n")
	return atomicfile.WriteFile(filepath.Join(dir, ReferenceLayerFile), b.Bytes(), 0o644)
}

// writeMember writes `"key": value` with value as compact JSON.
func writeMember(b *bytes.Buffer, key string, value any) error {
	k, err := json.Marshal(key)
	if err != nil {
		return fmt.Errorf("export reference: key %q: %w", key, err)
	}
	v, err := json.Marshal(value)
	if err != nil {
		return fmt.Errorf("export reference: %s: %w", key, err)
	}
	b.Write(k)
	b.WriteString(": ")
	b.Write(v)
	return nil
}
