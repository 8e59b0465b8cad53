package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/compresskv/compresskv/calibrate"
	"github.com/compresskv/compresskv/profile/schema"
)

// diffOptions are the flags of `compresskv diff`.
type diffOptions struct {
	TopK int
}

// newDiffCommand builds the diff command.
func newDiffCommand(s *streams) *cobra.Command {
	opts := &diffOptions{}
	cmd := &cobra.Command{
		Use:   "diff A.json B.json",
		Short: "Compare two profiles: per-layer top-k head overlap, budget changes, layer-score distance",
		Long: `diff compares two profiles layer by layer: how many of the top-k SRH heads
(k from A's calibration, else --top-k) the two rankings share, both layer
scores, and the largest budget change over the average budgets both hold;
then the L1 distance of the layer scores and anything that differs
profile-wide (model, calibration presence, averages held by one only).
It is the report ` + "`calibrate --check`" + ` prints.`,
		Example: `  compresskv diff llama-old.json llama.json`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDiff(opts, args[0], args[1], s)
		},
	}
	cmd.Flags().IntVar(&opts.TopK, "top-k", 4, "heads per layer compared when A is not calibrated")
	return cmd
}

func runDiff(opts *diffOptions, pathA, pathB string, s *streams) error {
	if opts.TopK < 1 {
		return usagef("--top-k %d: want at least 1", opts.TopK)
	}
	a, err := schema.ReadFile(pathA)
	if err != nil {
		return err
	}
	b, err := schema.ReadFile(pathB)
	if err != nil {
		return err
	}
	return printComparison(s.out, calibrate.Compare(a, b, opts.TopK), pathA, pathB)
}

// printComparison prints a Comparison as a per-layer table and a summary.
func printComparison(w io.Writer, c calibrate.Comparison, nameA, nameB string) error {
	if _, err := fmt.Fprintf(w, "A = %s\nB = %s\n", nameA, nameB); err != nil {
		return err
	}
	t := newTable(w)
	k := strconv.Itoa(c.TopK)
	t.Header([]string{"layer", "top-" + k + " A", "top-" + k + " B", "overlap", "score A", "score B", "max budget change"})
	for _, d := range c.Layers {
		if err := t.Append([]string{
			strconv.Itoa(d.Layer),
			fmt.Sprint(d.HeadsA), fmt.Sprint(d.HeadsB),
			fmt.Sprintf("%d/%d", d.Overlap, max(len(d.HeadsA), len(d.HeadsB))),
			strconv.FormatFloat(d.ScoreA, 'f', 4, 64), strconv.FormatFloat(d.ScoreB, 'f', 4, 64),
			strconv.Itoa(d.BudgetChange),
		}); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "layer-score L1 distance: %.6g\nmax budget change: %d tokens (averages compared: %v)\n",
		c.ScoreL1, c.MaxBudgetChange, c.Averages); err != nil {
		return err
	}
	for _, n := range c.Notes {
		if _, err := fmt.Fprintf(w, "note: %s\n", n); err != nil {
			return err
		}
	}
	return nil
}
