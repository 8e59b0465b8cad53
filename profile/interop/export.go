package interop

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/compresskv/compresskv/internal/atomicfile"
	"github.com/compresskv/compresskv/profile/schema"
)

// The file names Export writes (and Import expects by default).
const (
	HeadKVFile        = "head_score.json"            // Retrieval_Head names it head_score/<model>.json
	DuoHeadsFile      = "full_attention_heads.tsv"   // DuoAttention's attn_load_dir file
	DuoConfigFile     = "config.json"                // beside it: sink_size, recent_size
	KVPressPattern    = "duo_attention_pattern.npy"  // [layers, kv_heads] float64
	KVPressPressFile  = "duo_attention_press.json"   // sink_size, recent_size for DuoAttentionPress
	KVPressRatiosFile = "per_layer_compression.json" // PerLayerCompressionPress compression_ratios
	QRHeadFile        = "qr_head.yaml"               // QRHead's config with attn_head_set
)

// Defaults of the export options.
const (
	DefaultSinkSize   = 128 // sink_size of DuoAttention's published patterns and of kvpress' on-the-fly DuoAttentionPress
	DefaultRecentSize = 256 // recent_size of the same
	DefaultTopPairs   = 16  // QRHead's published head sets hold 16 pairs
)

// ExportOptions tune the formats that need more than the profile.
type ExportOptions struct {
	Score      string  // headkv: "srh" (default) or "retrieval": which matrix becomes the scores
	SinkSize   int     // duo, kvpress: streaming heads' sink tokens (0: DefaultSinkSize)
	RecentSize int     // duo, kvpress: streaming heads' recent tokens (0: DefaultRecentSize)
	TopPairs   int     // qrhead: how many (layer, head) pairs (0: DefaultTopPairs)
	Ratios     *Ratios // kvpress: also write PerLayerCompressionPress ratios
}

func (o ExportOptions) withDefaults() ExportOptions {
	if o.Score == "" {
		o.Score = "srh"
	}
	if o.SinkSize == 0 {
		o.SinkSize = DefaultSinkSize
	}
	if o.RecentSize == 0 {
		o.RecentSize = DefaultRecentSize
	}
	if o.TopPairs == 0 {
		o.TopPairs = DefaultTopPairs
	}
	return o
}

// Result lists what Export wrote and what the target will not like.
type Result struct {
	Files    []string // paths written, in order
	Warnings []string // one line each
}

// Export writes p in format f into dir (created if needed). Every file is
// written atomically.
func Export(p *schema.Profile, f Format, dir string, o ExportOptions) (Result, error) {
	o = o.withDefaults()
	if o.SinkSize < 0 || o.RecentSize < 0 || o.TopPairs < 0 {
		return Result{}, fmt.Errorf("export %s: sink %d, recent %d, top pairs %d: none may be negative", f, o.SinkSize, o.RecentSize, o.TopPairs)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, fmt.Errorf("export %s: %w", f, err)
	}
	var files []file
	var warnings []string
	var err error
	switch f {
	case FormatRef:
		if err := schema.ExportReference(p, dir); err != nil {
			return Result{}, err
		}
		r := Result{Files: []string{filepath.Join(dir, schema.ReferenceHeadFile)}}
		if p.Calibration != nil {
			r.Files = append(r.Files, filepath.Join(dir, schema.ReferenceLayerFile))
		} else {
			r.Warnings = append(r.Warnings, "the profile is not calibrated: only "+schema.ReferenceHeadFile+" was written (the reference also reads "+schema.ReferenceLayerFile+")")
		}
		return r, nil
	case FormatHeadKV:
		files, warnings, err = exportHeadKV(p, o)
	case FormatDuo:
		files, warnings, err = exportDuo(p, o)
	case FormatKVPress:
		files, warnings, err = exportKVPress(p, o)
	case FormatQRHead:
		files, warnings, err = exportQRHead(p, o)
	default:
		return Result{}, fmt.Errorf("export: unknown format %q", f)
	}
	if err != nil {
		return Result{}, fmt.Errorf("export %s: %w", f, err)
	}
	r := Result{Warnings: warnings}
	for _, fl := range files {
		path := filepath.Join(dir, fl.name)
		if err := atomicfile.WriteFile(path, fl.data, 0o644); err != nil {
			return Result{}, err
		}
		r.Files = append(r.Files, path)
	}
	return r, nil
}

// file is one output of a format.
type file struct {
	name string
	data []byte
}
