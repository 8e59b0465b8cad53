package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/compresskv/compresskv/calibrate/eval"
	"github.com/compresskv/compresskv/profile"
)

// mergeOptions are the flags of `compresskv merge`.
type mergeOptions struct {
	Parts           []string
	Output          string
	ExportReference string
	JSON            bool
}

// newMergeCommand builds the merge command.
func newMergeCommand(s *streams) *cobra.Command {
	opts := &mergeOptions{}
	cmd := &cobra.Command{
		Use:   "merge SHARD-FILE...",
		Short: "Combine the shard files of a sharded `profile` or `eval` run into one profile or eval file",
		Long: `merge reads the shard files that ` + "`compresskv profile --shard i/n`" + ` wrote
(<output>.shard-i-of-n.jsonl) and writes the profile a single, unsharded run
would have written, byte for byte. Every shard must be finished, all must
come from the same model (fingerprint) and probe settings, and together they
must hold every probe exactly once; otherwise merge names the missing or
repeated probe indices. See docs/sharding.md.

Shard files of ` + "`compresskv eval --shard i/n`" + ` are merged the same way into the
compresskv.eval/v1 file one unsharded eval run writes (-o names it).`,
		Example: `  compresskv merge profile.json.shard-*-of-8.jsonl -o profile.json
  compresskv merge a.jsonl b.jsonl -o profile.json --export-reference ref/
  compresskv merge eval.json.shard-*-of-4.jsonl -o eval.json`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Parts = args
			return runMerge(opts, s)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.Output, "output", "o", "profile.json", "profile file to write")
	f.StringVar(&opts.ExportReference, "export-reference", "", "also write the reference implementation's head_idx.json into this folder")
	f.BoolVar(&opts.JSON, "json", false, "print the summary as JSON")
	return cmd
}

func runMerge(opts *mergeOptions, s *streams) error {
	if len(opts.Parts) == 0 {
		return usagef("merge: name at least one shard file")
	}
	if opts.Output == "" {
		return usagef("--output must not be empty")
	}
	if err := refuseOwnInput(opts.Output, opts.Parts); err != nil {
		return err
	}
	if isEvalShard(opts.Parts[0]) {
		return mergeEval(opts, s)
	}
	parts := make([]*profile.Partial, 0, len(opts.Parts))
	for _, path := range opts.Parts {
		p, err := profile.ReadPartial(path)
		if err != nil {
			return err
		}
		parts = append(parts, p)
	}
	p, err := profile.Merge(parts)
	if err != nil {
		return err
	}
	if err := writeProfile(p, opts.Output, opts.ExportReference); err != nil {
		return err
	}
	return printSummary(s.out, summarize(p, opts.Output), opts.JSON, "")
}

// isEvalShard reports whether path starts with an eval shard header.
func isEvalShard(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false // the profile reader reports it
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadBytes('\n')
	return err == nil && eval.IsPartial(line)
}

// mergeEval merges eval shard files into one eval document.
func mergeEval(opts *mergeOptions, s *streams) error {
	parts := make([]*eval.Partial, 0, len(opts.Parts))
	for _, path := range opts.Parts {
		p, err := eval.ReadPartial(path)
		if err != nil {
			return err
		}
		parts = append(parts, p)
	}
	d, err := eval.Merge(parts)
	if err != nil {
		return err
	}
	if err := writeEval(d, opts.Output); err != nil {
		return err
	}
	if opts.JSON {
		return writeJSON(s.out, d.Summary)
	}
	fmt.Fprintf(s.out, "%s: %d probes from %d shard files\n", opts.Output, len(d.Probes), len(parts))
	return printEvalTable(s.out, d)
}

// refuseOwnInput refuses an output that is one of the inputs (by name or,
// through links, by file): writing it would destroy a shard before the
// merge is known to be good.
func refuseOwnInput(output string, inputs []string) error {
	out, outErr := os.Stat(output)
	for _, in := range inputs {
		if filepath.Clean(in) == filepath.Clean(output) {
			return usagef("--output %s is one of the shard files merged; write the profile to another file", output)
		}
		if outErr != nil {
			continue
		}
		if st, err := os.Stat(in); err == nil && os.SameFile(st, out) {
			return usagef("--output %s is the shard file %s (the same file); write the profile to another file", output, in)
		}
	}
	return nil
}
