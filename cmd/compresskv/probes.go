package main

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/compresskv/compresskv/needle"
)

// probesOptions are the inputs of `compresskv probes`.
type probesOptions struct {
	Tokenizer  string
	Probes     probeFlags
	FullPrompt bool
	InputIDs   bool
}

// newProbesCommand builds the probes command.
func newProbesCommand(s *streams) *cobra.Command {
	opts := &probesOptions{}
	cmd := &cobra.Command{
		Use:   "probes --tokenizer DIR",
		Short: "Print the needle-in-a-haystack probe grid (prompts and answer spans) as JSONL",
		Long: `probes builds the needle-in-a-haystack prompts that profile runs, without a
model: for every needle, context length and depth it cuts the haystack,
inserts the needle after the last sentence end before the depth point,
wraps the text in the template, tokenises it and locates the answer span.

Each line is one probe: {"index", "context_length", "tokens", "depth",
"needle_id", "span": [start, end], "insert_at", "span_text", "answer"}
(plus "prompt" with --full-prompt and "input_ids", the whole prompt's ids,
BOS included, with --input-ids). A grid position that gives no probe
prints {"skipped": true, "reason": ...}. A summary goes to stderr.

--compat reference builds the prompts exactly as the reference script does
(docs/method.md lists every difference); a probe whose answer span its rule
cannot find is printed with span [-1, -1], as the reference runs it.

Prompt length: as in the reference, the haystack and the needle together
are cut to context length minus --buffer tokens, and the template and
question wrap them, so a prompt's length is its context length minus the
buffer plus the template's and question's tokens: it is shorter or longer
than its context length as those take fewer or more tokens than the buffer
(the quick grid's 256-token prompts are 231-232 Llama 3 tokens). "tokens"
gives the actual length; the buffer keeps the longest prompt inside the
model's context with room for the answer.

Flags not given fall back to configs/probes.yaml (configs/probes-quick.yaml
with --quick): the reference grid of 20 lengths 1000..31500 x 10 depths,
buffer 200, 3 generated needles, the embedded War and Peace haystack, raw
template.`,
		Example: `  # The reference grid on Llama 3 prompts, generated haystack and needles
  compresskv probes --tokenizer ~/models/Llama-3.1-8B-Instruct > probes.jsonl

  # Two lengths, three depths, War and Peace, the model's own chat template
  compresskv probes --tokenizer ~/models/Mistral-7B-Instruct-v0.3 \
      --haystack war-and-peace.txt --lengths 1000,4000 --depths 0,50,100 --template auto

  # The reference's needles file, logistic depths, full prompt text
  compresskv probes --tokenizer ~/models/qwen2.5-7b --needles needles.jsonl \
      --logistic --full-prompt

  # The reference's own prompts, token for token
  compresskv probes --tokenizer ~/models/Mistral-7B-Instruct-v0.3 --needles needles.jsonl \
      --haystack part1 --compat reference --input-ids`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := applyEmbeddedDefaults(cmd.Flags(), probeGridFile(opts.Probes.Quick, false)); err != nil {
				return err
			}
			return runProbes(opts, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Tokenizer, "tokenizer", "", "folder with tokenizer.json (a Hugging Face model folder)")
	addProbeFlags(f, &opts.Probes, gridFlags)
	f.BoolVar(&opts.FullPrompt, "full-prompt", false, `add the prompt text to every line ("prompt")`)
	f.BoolVar(&opts.InputIDs, "input-ids", false, `add the prompt's token ids to every line ("input_ids", BOS included)`)
	return cmd
}

// probeLine and skipLine are the JSONL records, in this key order.
type probeLine struct {
	Index         int     `json:"index"`
	ContextLength int     `json:"context_length"`
	Tokens        int     `json:"tokens"`
	Depth         float64 `json:"depth"`
	NeedleID      string  `json:"needle_id"`
	Span          [2]int  `json:"span"`
	InsertAt      int     `json:"insert_at"`
	SpanText      string  `json:"span_text"`
	Answer        string  `json:"answer"`
	Prompt        *string `json:"prompt,omitempty"`
	InputIDs      []int   `json:"input_ids,omitempty"`
}

type skipLine struct {
	Skipped       bool    `json:"skipped"`
	Index         int     `json:"index"`
	ContextLength int     `json:"context_length"`
	Depth         float64 `json:"depth"`
	NeedleID      string  `json:"needle_id"`
	Reason        string  `json:"reason"`
}

// runProbes builds the probe grid and prints it, probes and skips together
// in grid order.
func runProbes(opts *probesOptions, s *streams) error {
	if opts.Tokenizer == "" {
		return usagef("--tokenizer is required: a folder with tokenizer.json")
	}
	inputs, err := opts.Probes.resolve()
	if err != nil {
		return err
	}
	tok, err := loadTokenizer(opts.Tokenizer)
	if err != nil {
		return err
	}
	probes, skips, err := inputs.build(tok)
	inputs.printWarnings(s.err)
	if err != nil {
		return err
	}
	noSpan := 0
	for p, k := 0, 0; p < len(probes) || k < len(skips); {
		var rec any
		if k == len(skips) || p < len(probes) && probes[p].Index < skips[k].Index {
			pr := &probes[p]
			line := probeLine{
				Index: pr.Index, ContextLength: pr.ContextLength, Tokens: len(pr.IDs), Depth: pr.Depth,
				NeedleID: pr.NeedleID, Span: [2]int{pr.SpanStart, pr.SpanEnd}, InsertAt: pr.InsertAt,
				Answer: pr.Answer,
			}
			if pr.SpanStart >= 0 {
				line.SpanText = tok.Decode(pr.IDs[pr.SpanStart:pr.SpanEnd])
			} else {
				noSpan++
			}
			if opts.FullPrompt {
				line.Prompt = &pr.Prompt
			}
			if opts.InputIDs {
				line.InputIDs = pr.IDs
			}
			rec, p = line, p+1
		} else {
			sk := skips[k]
			rec, k = skipLine{Skipped: true, Index: sk.Index, ContextLength: sk.ContextLength, Depth: sk.Depth, NeedleID: sk.NeedleID, Reason: sk.Reason}, k+1
		}
		if err := writeJSONLine(s.out, rec); err != nil {
			return err
		}
	}
	mode := ""
	if inputs.compat != needle.CompatNone {
		mode = fmt.Sprintf(", compat %s: %d without an answer span", inputs.compat, noSpan)
	}
	if _, err := fmt.Fprintf(s.err, "probes: %d built, %d skipped (%d needles x %d lengths x %d depths, template %s%s)\n",
		len(probes), len(skips), len(inputs.needles), len(inputs.grid.ContextLengths), len(inputs.grid.Depths), inputs.template.Name, mode); err != nil {
		return err
	}
	// Skips counted by reason, most frequent first.
	reasons := map[string]int{}
	for _, sk := range skips {
		reasons[sk.Reason]++
	}
	keys := slices.Collect(maps.Keys(reasons))
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(reasons[b]-reasons[a], strings.Compare(a, b)) })
	for _, r := range keys {
		if _, err := fmt.Fprintf(s.err, "probes: %d skipped: %s\n", reasons[r], r); err != nil {
			return err
		}
	}
	return nil
}
