package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/compresskv/compresskv/configs"
	"github.com/compresskv/compresskv/model/tokenizer"
	"github.com/compresskv/compresskv/needle"
)

// probesOptions are the inputs of `compresskv probes`.
type probesOptions struct {
	Tokenizer  string
	Spec       needle.Spec
	Template   string
	AddSpecial bool
	FullPrompt bool
	Quick      bool
}

func init() {
	register(func(s *streams) *cobra.Command {
		opts := &probesOptions{}
		cmd := &cobra.Command{
			Use:   "probes --tokenizer DIR",
			Short: "Print the needle-in-a-haystack probe grid (prompts and answer spans) as JSONL",
			Long: `probes builds the needle-in-a-haystack prompts that profile runs, without a
model: for every needle, context length and depth it cuts the haystack,
inserts the needle after the last sentence end before the depth point,
wraps the text in the template, tokenises it and locates the answer span.

Each line is one probe: {"index", "context_length", "tokens", "depth",
"needle_id", "span": [start, end], "span_text", "answer"} (plus "prompt"
with --full-prompt). A grid position that gives no probe prints
{"skipped": true, "reason": ...}. A summary goes to stderr.

Flags not given fall back to configs/probes.yaml (configs/probes-quick.yaml
with --quick): the reference grid of 20 lengths 1000..31500 x 10 depths,
buffer 200, 3 generated needles, generated haystack, raw template.`,
			Example: `  # The reference grid on Llama 3 prompts, generated haystack and needles
  compresskv probes --tokenizer ~/models/Llama-3.1-8B-Instruct > probes.jsonl

  # Two lengths, three depths, War and Peace, the model's own chat template
  compresskv probes --tokenizer ~/models/Mistral-7B-Instruct-v0.3 \
      --haystack war-and-peace.txt --lengths 1000,4000 --depths 0,50,100 --template auto

  # The reference's needles file, logistic depths, full prompt text
  compresskv probes --tokenizer ~/models/qwen2.5-7b --needles needles.jsonl \
      --logistic --full-prompt`,
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				name := "probes.yaml"
				if opts.Quick {
					name = "probes-quick.yaml"
				}
				if err := applyProbeDefaults(cmd.Flags(), name); err != nil {
					return err
				}
				return runProbes(opts, s)
			},
		}
		f := cmd.Flags()
		sp := &opts.Spec
		f.StringVar(&opts.Tokenizer, "tokenizer", "", "folder with tokenizer.json (a Hugging Face model folder)")
		f.StringVar(&sp.Haystack, "haystack", "", `haystack: "generated" (seeded prose) or a .txt file or folder of .txt files`)
		f.StringVar(&sp.Needles, "needles", "", "needle JSONL file (reference format: needle, question, real_needle); empty: generated needles")
		f.Int64Var(&sp.NeedleSeed, "needle-seed", 0, "seed of the generated needles")
		f.IntVar(&sp.NeedlesCount, "needles-count", 0, "number of generated needles")
		f.Int64Var(&sp.Seed, "seed", 0, "seed of the generated haystack")
		f.IntSliceVar(&sp.Lengths, "lengths", nil, "context lengths in tokens (overrides --min-length/--max-length/--intervals)")
		f.IntVar(&sp.MinLength, "min-length", 0, "shortest context length in tokens")
		f.IntVar(&sp.MaxLength, "max-length", 0, "longest context length in tokens")
		f.IntVar(&sp.Intervals, "intervals", 0, "number of context lengths, spaced linearly")
		f.Float64SliceVar(&sp.Depths, "depths", nil, "needle depths in percent (overrides --min-depth/--max-depth/--depth-intervals)")
		f.Float64Var(&sp.MinDepth, "min-depth", 0, "smallest needle depth in percent")
		f.Float64Var(&sp.MaxDepth, "max-depth", 0, "largest needle depth in percent")
		f.IntVar(&sp.DepthIntervals, "depth-intervals", 0, "number of depths")
		f.BoolVar(&sp.Logistic, "logistic", false, "space depths logistically (the reference's sigmoid option) instead of linearly")
		f.IntVar(&sp.Buffer, "buffer", 0, "tokens of each context length kept free for the question and answer")
		f.StringVar(&opts.Template, "template", "", "prompt template: "+strings.Join(needle.TemplateNames(), ", ")+
			`, "auto" (from the tokenizer's chat template), or a custom text with {context} and {question}`)
		f.BoolVar(&opts.AddSpecial, "add-special", true, "add the tokenizer's special tokens (BOS) to the prompt")
		f.BoolVar(&opts.FullPrompt, "full-prompt", false, `add the prompt text to every line ("prompt")`)
		f.BoolVar(&opts.Quick, "quick", false, "use the quick probe grid (configs/probes-quick.yaml) for flags not given")
		return cmd
	})
}

// applyProbeDefaults fills every flag that the command line, the
// environment and --config left unset from an embedded probe grid, whose
// keys are flag names.
func applyProbeDefaults(flags *pflag.FlagSet, name string) error {
	data, err := configs.Read(name)
	if err != nil {
		return err
	}
	var values map[string]any
	if err := yaml.Unmarshal(data, &values); err != nil {
		return fmt.Errorf("configs/%s: %w", name, err)
	}
	for key, val := range values {
		f := flags.Lookup(key)
		if f == nil || f.Changed {
			continue
		}
		if err := setFlag(f, val); err != nil {
			return fmt.Errorf("configs/%s: %s: %w", name, key, err)
		}
	}
	return nil
}

// probeLine and skipLine are the JSONL records, in this key order.
type probeLine struct {
	Index         int     `json:"index"`
	ContextLength int     `json:"context_length"`
	Tokens        int     `json:"tokens"`
	Depth         float64 `json:"depth"`
	NeedleID      string  `json:"needle_id"`
	Span          [2]int  `json:"span"`
	SpanText      string  `json:"span_text"`
	Answer        string  `json:"answer"`
	Prompt        *string `json:"prompt,omitempty"`
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
	grid, err := opts.Spec.Grid()
	if err != nil {
		return usagef("%v", err)
	}
	var tmpl needle.Template
	if opts.Template != "auto" {
		if tmpl, err = needle.TemplateFor(opts.Template); err != nil {
			return usagef("--template: %v", err)
		}
	}
	needles, _, err := opts.Spec.NeedleSet()
	if err != nil {
		if opts.Spec.Needles == "" {
			return usagef("--needles-count: %v", err)
		}
		return err
	}
	haystack, _, err := opts.Spec.HaystackText(grid.MaxLength())
	if err != nil {
		return err
	}
	tok, err := tokenizer.Load(opts.Tokenizer)
	if err != nil {
		return err
	}
	if opts.Template == "auto" {
		// The family of the tokenizer's own chat template; raw without one.
		if tmpl, err = needle.TemplateFor(needle.DetectTemplateText(tok.ChatTemplate())); err != nil {
			return err
		}
	}
	probes, skips, err := needle.Build(tok, haystack, needles, needle.Settings{
		Grid: grid, Template: tmpl, AddSpecial: opts.AddSpecial,
		NeedleSeed: opts.Spec.NeedleSeed, HaystackSeed: opts.Spec.Seed,
	})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(s.out)
	enc.SetEscapeHTML(false) // chat templates are full of <|...|>
	for p, k := 0, 0; p < len(probes) || k < len(skips); {
		var rec any
		if k == len(skips) || p < len(probes) && probes[p].Index < skips[k].Index {
			pr := &probes[p]
			line := probeLine{
				Index: pr.Index, ContextLength: pr.ContextLength, Tokens: len(pr.IDs), Depth: pr.Depth,
				NeedleID: pr.NeedleID, Span: [2]int{pr.SpanStart, pr.SpanEnd},
				SpanText: tok.Decode(pr.IDs[pr.SpanStart:pr.SpanEnd]), Answer: pr.Answer,
			}
			if opts.FullPrompt {
				line.Prompt = &pr.Prompt
			}
			rec, p = line, p+1
		} else {
			sk := skips[k]
			rec, k = skipLine{Skipped: true, Index: sk.Index, ContextLength: sk.ContextLength, Depth: sk.Depth, NeedleID: sk.NeedleID, Reason: sk.Reason}, k+1
		}
		if err := enc.Encode(rec); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(s.err, "probes: %d built, %d skipped (%d needles x %d lengths x %d depths, template %s)\n",
		len(probes), len(skips), len(needles), len(grid.ContextLengths), len(grid.Depths), tmpl.Name)
	return err
}
