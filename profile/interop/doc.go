// Package interop converts compresskv profiles to and from the head-pattern
// files of neighbouring KV-cache projects, so a profile drops into their
// inference code and their published head files can be compared with ours:
//
//   - FormatRef: the CompressKV reference's head_idx.json (and
//     layer_score.jsonl), written by schema.ExportReference;
//   - FormatHeadKV: the Retrieval_Head / HeadKV / SparseMM score JSON,
//     {"<layer>-<head>": [score, ...], ...};
//   - FormatDuo: DuoAttention's full_attention_heads.tsv + config.json;
//   - FormatKVPress: kvpress' DuoAttentionPress pattern as a NumPy .npy
//     array, and PerLayerCompressionPress ratios as JSON;
//   - FormatQRHead: QRHead's YAML head set (attn_head_set: "14-22,...").
//
// Every layout was checked against the projects' own source; docs/interop.md
// names the files. Export writes bytes those projects' Python reads back
// unchanged (json.dump spacing and float repr, np.savetxt's %.18e, the .npy
// v1.0 header); Import turns any of them into a heads-only profile whose
// probes.scoring is "imported:<format>" and whose heads.srh holds the
// imported score (not an SRH). Formats lose information (see Format.Loses):
// tests check exactly what survives a round trip.
//
// The package reads and writes files and builds profiles; it never runs a
// model and never imports the packages that do.
package interop
