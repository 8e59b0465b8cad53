package main

import (
	"github.com/spf13/cobra"

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
		Short: "Combine the shard files of a sharded `profile` run into one profile",
		Long: `merge reads the shard files that ` + "`compresskv profile --shard i/n`" + ` wrote
(<output>.shard-i-of-n.jsonl) and writes the profile a single, unsharded run
would have written, byte for byte. Every shard must be finished, all must
come from the same model (fingerprint) and probe settings, and together they
must hold every probe exactly once; otherwise merge names the missing or
repeated probe indices. See docs/sharding.md.`,
		Example: `  compresskv merge profile.json.shard-*-of-8.jsonl -o profile.json
  compresskv merge a.jsonl b.jsonl -o profile.json --export-reference ref/`,
		Args: cobra.MinimumNArgs(1),
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
