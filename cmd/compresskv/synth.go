package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/compresskv/compresskv/model/synth"
)

// synthOptions are the flags of `compresskv synth`.
type synthOptions struct {
	Out       string
	Seed      int64
	Layers    int
	Streaming bool
	JSON      bool
}

// newSynthCommand builds the synth command.
func newSynthCommand(s *streams) *cobra.Command {
	opts := &synthOptions{}
	def := synth.DefaultOptions()
	cmd := &cobra.Command{
		Use:   "synth",
		Short: "Write the synthetic ground-truth model (planted retrieval heads) as a checkpoint folder",
		Long: `synth writes a small Llama-architecture checkpoint folder (config.json,
model.safetensors, tokenizer.json, tokenizer_config.json) whose weights are
built by hand: layer 0 finds the previous three tokens, and every later layer
has one planted retrieval (induction) head that copies the token that followed
the current three tokens earlier in the prompt; the other heads are sink,
local and previous-token distractors. On needle probes with the
answer-prefix template it answers by copying the needle, so profiling must
rank each planted head first in its layer. This is the model ` + "`compresskv profile`" + `
runs when no --model is given.

It prints the role of every head and the planted retrieval heads (--json:
the whole description, with the sha256 of each file). The same --seed and
--layers always write byte-identical files.`,
		Example: `  # The built-in model (seed 1, 3 layers) into ./synth
  compresskv synth --out synth

  # Another seed, four layers (three retrieval layers), as JSON
  compresskv synth --out /tmp/synth7 --seed 7 --layers 4 --json

  # The variant with a streaming head in every GQA group (for compresskv eval)
  compresskv synth --out synth-streaming --streaming

  # Profile it and check the ranking against the planted heads
  compresskv config show probes-synth > synth-grid.yaml
  compresskv synth --out synth && compresskv profile --model synth --config synth-grid.yaml -o synth-profile.json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSynth(opts, s)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.Out, "out", "o", "", "folder to write the checkpoint into (created if needed)")
	f.Int64Var(&opts.Seed, "seed", def.Seed, "seed of the token identities and of which head plays which role")
	f.IntVar(&opts.Layers, "layers", def.Layers, fmt.Sprintf("number of layers, 2..%d: layer 0 finds previous tokens, each later layer has one retrieval head", synth.MaxLayers))
	f.BoolVar(&opts.Streaming, "streaming", false, "the variant with a streaming head (first token + recent tokens) in every GQA group, beside the retrieval heads")
	f.BoolVar(&opts.JSON, "json", false, "print the model description (config, head roles, planted heads, file hashes) as JSON")
	return cmd
}

func runSynth(opts *synthOptions, s *streams) error {
	if opts.Out == "" {
		return usagef("synth: --out is required (the folder to write the model into)")
	}
	o := synth.Options{Seed: opts.Seed, Layers: opts.Layers, Streaming: opts.Streaming}
	if err := o.Validate(); err != nil {
		return usagef("synth: --layers %d: want 2..%d", opts.Layers, synth.MaxLayers)
	}
	info, err := synth.Write(opts.Out, o)
	if err != nil {
		return err
	}
	if opts.JSON {
		data, err := json.MarshalIndent(info, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(s.out, "%s\n", data)
		return err
	}
	c := info.Config
	fmt.Fprintf(s.out, "wrote %s: %d layers, %d heads (%d kv heads), head_dim %d, hidden %d, vocab %d, seed %d\n\n",
		info.Dir, c.NumHiddenLayers, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim, c.HiddenSize, c.VocabSize, info.Seed)
	tw := tabwriter.NewWriter(s.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "layer\thead\tkv_head\trole")
	for _, h := range info.Heads {
		role := h.Role
		if h.Role == synth.RolePreviousToken {
			role = fmt.Sprintf("%s (i-%d)", h.Role, h.Offset)
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\n", h.Layer, h.Head, h.KVHead, role)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var planted []string
	for _, h := range synth.Planted(o) {
		planted = append(planted, fmt.Sprintf("layer %d head %d", h.Layer, h.Head))
	}
	_, err = fmt.Fprintf(s.out, "\nplanted retrieval heads: %s\n", strings.Join(planted, ", "))
	return err
}
