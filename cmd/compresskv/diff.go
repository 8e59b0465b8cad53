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
	TopK        int
	JSON        bool
	SameScoring bool
}

// newDiffCommand builds the diff command.
func newDiffCommand(s *streams) *cobra.Command {
	opts := &diffOptions{}
	cmd := &cobra.Command{
		Use:   "diff A.json B.json",
		Short: "Compare two profiles: per-layer top-k head overlap, budget changes, layer-score distance",
		Long: `diff compares two profiles layer by layer: how many of the top-k SRH heads
(k from A's calibration, else --top-k) the two rankings share and their
Jaccard index (shared / union), Kendall's tau-b of the two layers' SRH
scores over all heads (ties are ties, not the ranking's index order), both
layer scores, and the largest budget change over the average budgets both
hold; then the means, the L1 distance of the layer scores and anything that
differs profile-wide (model, calibration presence, averages held by one
only). It is the report ` + "`calibrate --check`" + ` prints.

Profiles scored differently (probes.scoring: greedy vs teacher-forced, the
normalised SRH, a file brought in by compresskv import) measure different
things: diff then prints a WARNING first (and on stderr) and sets
scoring_mismatch in --json; with --same-scoring it exits with code 3
instead.`,
		Example: `  compresskv diff llama-old.json llama.json
  compresskv import Llama-3-8B-Instruct.json --format headkv --model meta-llama/Meta-Llama-3-8B-Instruct -o wu.json
  compresskv diff llama.json wu.json --top-k 8 --json`,
		Args: fileArgs("diff MINE.json THEIRS.json", "MINE.json", "THEIRS.json"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDiff(opts, args[0], args[1], s)
		},
	}
	cmd.Flags().IntVar(&opts.TopK, "top-k", 4, "heads per layer compared when A is not calibrated")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the comparison as JSON")
	cmd.Flags().BoolVar(&opts.SameScoring, "same-scoring", false, "exit with code 3 when the profiles' scoring modes differ")
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
	c := calibrate.Compare(a, b, opts.TopK)
	if c.ScoringMismatch {
		fmt.Fprintf(s.err, "warning: %s\n", scoringWarning(c))
	}
	if opts.JSON {
		if err := writeJSON(s.out, diffReport{A: pathA, B: pathB, Comparison: c}); err != nil {
			return err
		}
	} else if err := printComparison(s.out, c, pathA, pathB); err != nil {
		return err
	}
	if c.ScoringMismatch && opts.SameScoring {
		return fmt.Errorf("%w: %s", errDrift, scoringWarning(c))
	}
	return nil
}

// diffReport is the --json output of diff.
type diffReport struct {
	A string `json:"a"`
	B string `json:"b"`
	calibrate.Comparison
}

// scoringWarning says why scores of different scoring modes do not compare.
func scoringWarning(c calibrate.Comparison) string {
	return fmt.Sprintf("the profiles were scored differently (A: %s, B: %s): their scores measure different things, so the overlap and rank correlation compare orders, not like with like",
		scoringName(c.ScoringA), scoringName(c.ScoringB))
}

// scoringName is probes.scoring, or "unset" for hand-made files.
func scoringName(s string) string {
	if s == "" {
		return "unset"
	}
	return s
}

// printComparison prints a Comparison as a per-layer table and a summary.
func printComparison(w io.Writer, c calibrate.Comparison, nameA, nameB string) error {
	if c.ScoringMismatch {
		if _, err := fmt.Fprintf(w, "WARNING: %s\n", scoringWarning(c)); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(w, "A = %s (%s)\nB = %s (%s)\n", nameA, scoringName(c.ScoringA), nameB, scoringName(c.ScoringB)); err != nil {
		return err
	}
	t := newTable(w)
	k := strconv.Itoa(c.TopK)
	t.Header([]string{"layer", "top-" + k + " A", "top-" + k + " B", "overlap", "jaccard", "kendall tau", "score A", "score B", "max budget change"})
	for _, d := range c.Layers {
		if err := t.Append([]string{
			strconv.Itoa(d.Layer),
			fmt.Sprint(d.HeadsA), fmt.Sprint(d.HeadsB),
			fmt.Sprintf("%d/%d", d.Overlap, max(len(d.HeadsA), len(d.HeadsB))),
			strconv.FormatFloat(d.Jaccard, 'f', 3, 64), formatTau(d.KendallTau),
			strconv.FormatFloat(d.ScoreA, 'f', 4, 64), strconv.FormatFloat(d.ScoreB, 'f', 4, 64),
			strconv.Itoa(d.BudgetChange),
		}); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "mean top-%d Jaccard: %.3f\nmean Kendall tau: %s\nlayer-score L1 distance: %.6g\nmax budget change: %d tokens (averages compared: %v)\n",
		c.TopK, c.MeanJaccard, formatTau(c.MeanKendallTau), c.ScoreL1, c.MaxBudgetChange, c.Averages); err != nil {
		return err
	}
	for _, n := range c.Notes {
		if _, err := fmt.Fprintf(w, "note: %s\n", n); err != nil {
			return err
		}
	}
	return nil
}

// formatTau prints a Kendall tau, or n/a where it is undefined.
func formatTau(tau *float64) string {
	if tau == nil {
		return "n/a"
	}
	return strconv.FormatFloat(*tau, 'f', 3, 64)
}
