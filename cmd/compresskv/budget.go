package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/compresskv/compresskv/calibrate"
	"github.com/compresskv/compresskv/profile/schema"
)

// budgetOptions are the flags of `compresskv budget`.
type budgetOptions struct {
	Profile string
	Average int
	JSON    bool
}

// newBudgetCommand builds the budget command.
func newBudgetCommand(s *streams) *cobra.Command {
	opts := &budgetOptions{}
	cmd := &cobra.Command{
		Use:   "budget PROFILE --avg N",
		Short: "Print the per-layer KV budgets of a calibrated profile for any average budget",
		Long: `budget allocates avg x layers tokens over the layers of a calibrated profile
from its stored layer scores, with the profile's floor and ceiling factor,
exactly as calibrate does for the averages it stores (docs/method.md,
section 6). Nothing is recomputed on the model.`,
		Example: `  compresskv budget llama.json --avg 256
  compresskv budget llama.json --avg 96 --json`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if opts.Profile != "" && opts.Profile != args[0] {
					return usagef("budget: two profiles given (%s and --profile %s): give one", args[0], opts.Profile)
				}
				opts.Profile = args[0]
			}
			return runBudget(opts, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Profile, "profile", "", "calibrated profile (also the positional argument, as for inspect and plot)")
	_ = f.MarkHidden("profile")
	f.IntVar(&opts.Average, "avg", 0, "average budget per layer (tokens)")
	f.BoolVar(&opts.JSON, "json", false, "print JSON instead of a table")
	return cmd
}

// budgetReport is the --json output of `compresskv budget`.
type budgetReport struct {
	Profile     string    `json:"profile"`
	Average     int       `json:"average"`
	Floor       int       `json:"floor"`
	Ceiling     int       `json:"ceiling"`
	Total       int       `json:"total"`
	LayerScores []float64 `json:"layer_scores"`
	Budgets     []int     `json:"budgets"`
}

func runBudget(opts *budgetOptions, s *streams) error {
	if opts.Profile == "" {
		return usagef("budget needs PROFILE: compresskv budget PROFILE --avg N")
	}
	if opts.Average <= 0 {
		return usagef("--avg %d: want a positive average budget", opts.Average)
	}
	p, err := schema.ReadFile(opts.Profile)
	if err != nil {
		return err
	}
	c := p.Calibration
	if c == nil {
		return fmt.Errorf("%s: profile is not calibrated; run `compresskv calibrate --profile %s` first", opts.Profile, opts.Profile)
	}
	if err := calibrate.CheckAllocation(opts.Average, c.Floor, c.CeilingFactor); err != nil {
		return usagef("--avg: %v", err)
	}
	budgets := calibrate.Allocate(c.LayerScores, opts.Average, c.Floor, c.CeilingFactor)
	if opts.JSON {
		return writeJSON(s.out, budgetReport{
			Profile: opts.Profile, Average: opts.Average, Floor: c.Floor, Ceiling: c.CeilingFactor * opts.Average,
			Total: opts.Average * len(budgets), LayerScores: c.LayerScores, Budgets: budgets,
		})
	}
	if _, err := fmt.Fprintf(s.out, "%s: average %d tokens per layer, floor %d, ceiling %d, total %d\n",
		opts.Profile, opts.Average, c.Floor, c.CeilingFactor*opts.Average, opts.Average*len(budgets)); err != nil {
		return err
	}
	key := strconv.Itoa(opts.Average)
	return printBudgetTable(s.out, c.LayerScores, []int{opts.Average}, map[string][]int{key: budgets})
}

// sortedAverages returns the averages of a budgets map, ascending.
func sortedAverages(budgets map[string][]int) []int {
	var avgs []int
	for k := range budgets {
		if a, err := strconv.Atoi(k); err == nil {
			avgs = append(avgs, a)
		}
	}
	slices.Sort(avgs)
	return avgs
}

// printBudgetTable prints one row per layer: its score and its budget at
// every average, then the totals.
func printBudgetTable(w io.Writer, scores []float64, averages []int, budgets map[string][]int) error {
	t := newTable(w)
	header := []string{"layer", "score"}
	for _, a := range averages {
		header = append(header, "avg "+strconv.Itoa(a))
	}
	t.Header(header)
	for l, sc := range scores {
		row := []string{strconv.Itoa(l), strconv.FormatFloat(sc, 'f', 4, 64)}
		for _, a := range averages {
			row = append(row, strconv.Itoa(budgets[strconv.Itoa(a)][l]))
		}
		if err := t.Append(row); err != nil {
			return err
		}
	}
	total := []string{"total", "1"}
	for _, a := range averages {
		sum := 0
		for _, b := range budgets[strconv.Itoa(a)] {
			sum += b
		}
		total = append(total, strconv.Itoa(sum))
	}
	if err := t.Append(total); err != nil {
		return err
	}
	return t.Render()
}
