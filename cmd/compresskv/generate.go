package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/tokenizer"
	"github.com/compresskv/compresskv/safetensors"
)

// generateOptions are the flags of `compresskv generate`.
type generateOptions struct {
	Model   string
	Prompt  string
	IDs     []int
	MaxNew  int
	JSON    bool
	Logits  string
	Runtime runtimeFlags
	Threads int
}

// newGenerateCommand builds the generate command.
func newGenerateCommand(s *streams) *cobra.Command {
	opts := &generateOptions{}
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Greedy generation with a checkpoint (check that a model runs and matches a reference)",
		Long: `generate loads a Hugging Face checkpoint folder, feeds a prompt (text through
the folder's tokenizer.json, or token ids), and decodes greedily until
--max-new tokens or an end-of-sequence token. It prints the generated ids
and, when the folder has a tokenizer, their text.

--logits writes a safetensors file with input_ids (I32 [n]) and logits
(F32 [n, vocab]) of every fed position: the prompt, then each generated
token fed one at a time (the layout of a reference.safetensors).`,
		Example: `  # The built-in synthetic model, written out as a checkpoint folder first
  compresskv synth --out synth
  compresskv generate --model synth --prompt "The pass code is" --max-new 24

  # A Hugging Face checkpoint (a folder, or an id in the local Hugging Face cache)
  compresskv generate --model meta-llama/Llama-3.2-1B --prompt "Once upon a time" --max-new 60

  # Greedy ids from BOS, as JSON, with every position's logits saved
  compresskv generate --model synth --ids 1 --max-new 32 --json --logits out.safetensors`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGenerate(opts, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Model, "model", "", "checkpoint folder (config.json + *.safetensors)")
	f.StringVar(&opts.Prompt, "prompt", "", "prompt text, encoded with the folder's tokenizer.json (BOS added)")
	f.IntSliceVar(&opts.IDs, "ids", nil, "prompt as comma-separated token ids, e.g. 1,2,3")
	f.IntVar(&opts.MaxNew, "max-new", 32, "maximum number of tokens to generate")
	f.BoolVar(&opts.JSON, "json", false, `print {"input_ids":[...],"generated_ids":[...],"text":"..."}`)
	f.StringVar(&opts.Logits, "logits", "", "write input_ids and logits of every fed position to this safetensors file")
	addRuntimeFlags(f, &opts.Runtime)
	f.IntVar(&opts.Threads, "threads", 0, "CPU threads (default: all)")
	return cmd
}

// generateResult is the --json output.
type generateResult struct {
	InputIDs     []int   `json:"input_ids"`
	GeneratedIDs []int   `json:"generated_ids"`
	Text         *string `json:"text,omitempty"`
}

func runGenerate(opts *generateOptions, s *streams) error {
	if opts.Model == "" {
		return usagef("--model is required")
	}
	if (opts.Prompt == "") == (len(opts.IDs) == 0) {
		return usagef("give exactly one of --prompt and --ids")
	}
	if opts.MaxNew < 0 {
		return usagef("--max-new %d: want a count >= 0", opts.MaxNew)
	}
	if err := checkThreads(opts.Threads); err != nil {
		return err
	}
	defer limitThreads(opts.Threads)()

	lm, err := opts.Runtime.load(opts.Model, "", s.err)
	if err != nil {
		return err
	}
	defer lm.close()
	m := lm.model
	// The tokenizer is optional with --ids: ids in, ids out.
	var tok *tokenizer.Tokenizer
	if !lm.hasTokenizer() {
		if opts.Prompt != "" {
			return fmt.Errorf("--prompt needs a tokenizer.json in %s (or give --ids)", opts.Model)
		}
	} else if tok, err = lm.tokenizer(); err != nil {
		return err
	}
	prompt := opts.IDs
	if opts.Prompt != "" {
		prompt = tok.Encode(opts.Prompt, true)
	}

	stops := slices.Clone(m.Config().EOS)
	if tok != nil {
		stops = append(stops, tok.EOS()...)
	}
	fed, generated, logits, err := greedy(m, lm.session, prompt, opts.MaxNew, func(id int) bool { return slices.Contains(stops, id) }, opts.Logits != "")
	if err != nil {
		return err
	}
	if opts.Logits != "" {
		if err := writeLogits(opts.Logits, opts.Model, fed, logits, m.Config().VocabSize); err != nil {
			return err
		}
	}

	res := generateResult{InputIDs: prompt, GeneratedIDs: generated}
	if res.GeneratedIDs == nil {
		res.GeneratedIDs = []int{}
	}
	if tok != nil {
		text := tok.Decode(generated)
		res.Text = &text
	}
	if opts.JSON {
		return writeJSONLine(s.out, res)
	}
	ids := make([]string, len(generated))
	for i, id := range generated {
		ids[i] = strconv.Itoa(id)
	}
	if _, err := fmt.Fprintf(s.out, "generated ids: %s\n", strings.Join(ids, " ")); err != nil {
		return err
	}
	if res.Text != nil {
		_, err = fmt.Fprintf(s.out, "%s%s\n", opts.Prompt, *res.Text)
	}
	return err
}

// greedy feeds prompt and decodes greedily up to maxNew tokens or a stop
// token. With keepLogits every generated token is also fed (one at a time)
// so that fed and logits ([len(fed), vocab]) cover every position; without
// it the last token is not fed.
func greedy(m *model.Model, so model.SessionOptions, prompt []int, maxNew int, stop func(int) bool, keepLogits bool) (fed, generated []int, logits []float32, err error) {
	s, err := m.NewSession(so)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx := context.Background()
	if keepLogits {
		logits, err = s.PrefillAll(ctx, prompt, nil)
	} else {
		err = s.Prefill(ctx, prompt, nil)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	fed = slices.Clone(prompt)
	if maxNew == 0 {
		return fed, nil, logits, nil
	}
	res, err := s.Decode(ctx, model.DecodeOptions{
		MaxNew:     maxNew,
		Stop:       func(_, id int) bool { return stop(id) },
		FeedLast:   keepLogits,
		KeepLogits: keepLogits,
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return append(fed, res.Fed...), res.IDs, append(logits, res.Logits...), nil
}

// writeLogits writes input_ids (I32 [n]) and logits (F32 [n, vocab]).
func writeLogits(path, modelDir string, ids []int, logits []float32, vocab int) error {
	ids32 := make([]int32, len(ids))
	for i, id := range ids {
		ids32[i] = int32(id)
	}
	err := safetensors.WriteFile(path, []safetensors.WriteTensor{
		{Name: "input_ids", DType: safetensors.I32, Shape: []int{len(ids)}, Data: safetensors.I32Bytes(ids32)},
		{Name: "logits", DType: safetensors.F32, Shape: []int{len(ids), vocab}, Data: safetensors.F32Bytes(logits)},
	}, map[string]string{"source": "compresskv generate", "model": filepath.Base(modelDir)})
	if err != nil {
		return fmt.Errorf("--logits %s: %w", path, err)
	}
	return nil
}
