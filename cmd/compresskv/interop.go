package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/compresskv/compresskv/calibrate"
	"github.com/compresskv/compresskv/internal/atomicfile"
	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/hfhub"
	"github.com/compresskv/compresskv/profile/interop"
	"github.com/compresskv/compresskv/profile/schema"
)

func formatNames() string {
	names := make([]string, len(interop.Formats))
	for i, f := range interop.Formats {
		names[i] = string(f)
	}
	return strings.Join(names, "|")
}

// exportOptions are the flags of `compresskv export`.
type exportOptions struct {
	Format       string
	Out          string
	Score        string
	SinkSize     int
	RecentSize   int
	TopPairs     int
	PromptLength int
	Average      int
	MinSuccess   int // refuse a ranking resting on fewer successful probes
}

// newExportCommand builds the export command.
func newExportCommand(s *streams) *cobra.Command {
	opts := &exportOptions{}
	cmd := &cobra.Command{
		Use:   "export PROFILE --format " + formatNames() + " -o DIR",
		Short: "Write a profile's heads in another project's format (CompressKV reference, HeadKV, DuoAttention, kvpress, QRHead)",
		Long: `export writes the head pattern of a profile in the file format another
KV-cache project reads (docs/interop.md has each layout and its source):

  ref      head_idx.json (+ layer_score.jsonl when calibrated): the CompressKV reference
  headkv   head_score.json, {"<layer>-<head>": [score]}: Retrieval_Head, HeadKV, SparseMM
  duo      full_attention_heads.tsv + config.json: DuoAttention (one value per KV head)
  kvpress  duo_attention_pattern.npy + duo_attention_press.json for DuoAttentionPress, and
           with --prompt-length, per_layer_compression.json for PerLayerCompressionPress
  qrhead   qr_head.yaml with attn_head_set: QRHead (the top --top-pairs heads)

The KV-head formats (duo, kvpress) are written from the profile's KV-head
view (heads.kv.srh_max, scaled so the largest is 1). Warnings (an all-zero
profile, budgets longer than the prompt) go to stderr.`,
		Example: `  compresskv export llama.json --format duo -o duo-pattern/
  compresskv export llama.json --format kvpress --prompt-length 8192 --avg 512 -o kvpress/
  compresskv export llama.json --format qrhead --top-pairs 16 -o qrhead/`,
		Args: fileArgs("export PROFILE --format FORMAT -o DIR", "PROFILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExport(opts, args[0], s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Format, "format", "", "target format: "+formatNames())
	f.StringVarP(&opts.Out, "out", "o", "", "output folder (created if needed)")
	f.StringVar(&opts.Score, "score", "srh", "headkv, qrhead: the scores written, srh or retrieval (the classic retrieval score)")
	f.IntVar(&opts.SinkSize, "sink-size", interop.DefaultSinkSize, "duo, kvpress: sink tokens of streaming heads")
	f.IntVar(&opts.RecentSize, "recent-size", interop.DefaultRecentSize, "duo, kvpress: recent tokens of streaming heads")
	f.IntVar(&opts.MinSuccess, "min-success", schema.DefaultMinSuccess, "refuse a profile whose ranking rests on fewer successful probes (0 exports anyway)")
	f.IntVar(&opts.TopPairs, "top-pairs", interop.DefaultTopPairs, "qrhead: (layer, head) pairs in the head set")
	f.IntVar(&opts.PromptLength, "prompt-length", 0, "kvpress: also write PerLayerCompressionPress ratios for prompts of this many tokens (needs a calibrated profile)")
	f.IntVar(&opts.Average, "avg", 256, "kvpress with --prompt-length: the average budget per layer the ratios keep")
	return cmd
}

func runExport(opts *exportOptions, path string, s *streams) error {
	format, err := interop.ParseFormat(opts.Format)
	if err != nil {
		return usagef("--format: %v", err)
	}
	if opts.Out == "" {
		return usagef("-o DIR is required")
	}
	if opts.Score != "srh" && opts.Score != "retrieval" {
		return usagef("--score %q: want srh or retrieval", opts.Score)
	}
	if opts.SinkSize < 0 || opts.RecentSize < 0 || opts.TopPairs < 1 || opts.PromptLength < 0 {
		return usagef("--sink-size, --recent-size, --prompt-length must not be negative and --top-pairs must be at least 1")
	}
	p, err := schema.ReadFile(path)
	if err != nil {
		return err
	}
	if err := schema.CheckEvidence(p, opts.MinSuccess); err != nil {
		// An engine would load the pattern as if it meant something.
		return fmt.Errorf("%s: %v; an inference engine would load an arbitrary head pattern (--min-success 0 exports anyway)", path, err)
	}
	o := interop.ExportOptions{Score: opts.Score, SinkSize: opts.SinkSize, RecentSize: opts.RecentSize, TopPairs: opts.TopPairs}
	if opts.PromptLength > 0 {
		if format != interop.FormatKVPress {
			return usagef("--prompt-length is for --format kvpress")
		}
		budgets, err := budgetsFor(p, opts.Average, path)
		if err != nil {
			return err
		}
		o.Ratios = &interop.Ratios{PromptLength: opts.PromptLength, Average: opts.Average, Budgets: budgets}
	}
	r, err := interop.Export(p, format, opts.Out, o)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(s.err, "warning: %s\n", w)
	}
	for _, f := range r.Files {
		fmt.Fprintf(s.out, "wrote %s\n", f)
	}
	fmt.Fprintf(s.out, "note: %s keeps the head order but loses %s\n", format, format.Loses())
	return nil
}

// budgetsFor is the per-layer budget vector of average avg: stored in the
// profile, or allocated from its layer scores as `compresskv budget` does.
func budgetsFor(p *schema.Profile, avg int, path string) ([]int, error) {
	c := p.Calibration
	if c == nil {
		return nil, usagef("%s: not calibrated: --prompt-length needs per-layer budgets (run compresskv calibrate first)", path)
	}
	if b, ok := c.Budgets[strconv.Itoa(avg)]; ok {
		return b, nil
	}
	if avg <= 0 {
		return nil, usagef("--avg %d: want a positive average budget", avg)
	}
	if err := calibrate.CheckAllocation(avg, c.Floor, c.CeilingFactor); err != nil {
		return nil, usagef("--avg: %v", err)
	}
	return calibrate.Allocate(c.LayerScores, avg, c.Floor, c.CeilingFactor), nil
}

// importOptions are the flags of `compresskv import`.
type importOptions struct {
	Format string
	Model  string
	Out    string
}

// newImportCommand builds the import command.
func newImportCommand(s *streams) *cobra.Command {
	opts := &importOptions{}
	cmd := &cobra.Command{
		Use:   "import FILE --format " + formatNames() + " --model M -o profile.json",
		Short: "Turn another project's head file into a heads-only compresskv profile",
		Long: `import reads a head-pattern file of another project (the formats of
compresskv export; docs/interop.md) and writes a heads-only profile: no
probes, no calibration, probes.scoring "imported:<format>", heads.srh the
imported scores (one per query head; KV-head formats give each query head
its KV head's value). --model names the model the file belongs to, a
checkpoint folder or a Hugging Face id from the local cache; only its
config.json is read, and a file whose shape differs from it is refused.
Compare the result with compresskv diff, or calibrate it like any profile.`,
		Example: `  compresskv import Mistral-7B-Instruct-v0.2.json --format headkv --model mistralai/Mistral-7B-Instruct-v0.2 -o retrieval-heads.json
  compresskv import attn_patterns/Llama-3-8B/ --format duo --model ~/models/Llama-3-8B -o duo.json`,
		Args: fileArgs("import FILE --format FORMAT --model MODEL -o PROFILE", "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImport(opts, args[0], s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Format, "format", "", "source format: "+formatNames())
	f.StringVar(&opts.Model, "model", "", "the model's checkpoint folder or Hugging Face id org/name[@revision] (only config.json is read); empty: the built-in synthetic model")
	f.StringVarP(&opts.Out, "out", "o", "", "profile to write")
	return cmd
}

func runImport(opts *importOptions, path string, s *streams) error {
	format, err := interop.ParseFormat(opts.Format)
	if err != nil {
		return usagef("--format: %v", err)
	}
	if opts.Out == "" {
		return usagef("-o profile.json is required")
	}
	m, err := importModel(opts.Model)
	if err != nil {
		return err
	}
	p, warnings, err := interop.Import(path, format, m)
	if err != nil {
		return err
	}
	p.Tool.Version = version
	for _, w := range warnings {
		fmt.Fprintf(s.err, "warning: %s\n", w)
	}
	data, err := schema.Marshal(p)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(opts.Out, data, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(s.out, "wrote %s: %d layers x %d heads from %s (%s)\n", opts.Out, m.Layers, m.Heads, path, format)
	return nil
}

// importModel reads the shape of --model from its config.json alone.
func importModel(spec string) (schema.Model, error) {
	var snap hfhub.Snapshot
	dir, name := spec, "--model "+spec
	if spec == "" {
		d, cleanup, err := syntheticModelDir()
		if err != nil {
			return schema.Model{}, fmt.Errorf("the built-in synthetic model: %w", err)
		}
		defer cleanup()
		dir, name = d, "the built-in synthetic model"
	} else {
		var err error
		if snap, err = hfhub.Resolve(spec, hfhub.Env{}); err != nil {
			return schema.Model{}, usagef("--model %w", err)
		}
		dir = snap.Dir
	}
	c, err := model.LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return schema.Model{}, fmt.Errorf("%s: %w", name, err)
	}
	return schema.Model{
		Architecture: c.Architecture, Layers: c.NumLayers, Heads: c.NumHeads, KVHeads: c.NumKVHeads, HeadDim: c.HeadDim,
		ID: snap.ID, Revision: snap.Revision, Commit: snap.Commit,
	}, nil
}
