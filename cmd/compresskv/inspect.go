package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/compresskv/compresskv/calibrate"
	"github.com/compresskv/compresskv/profile"
	"github.com/compresskv/compresskv/profile/schema"
)

// inspectOptions are the inputs of `compresskv inspect`.
type inspectOptions struct {
	profile string
	top     int
	avg     int
	json    bool
}

// newInspectCommand builds the inspect command.
func newInspectCommand(s *streams) *cobra.Command {
	opts := &inspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect PROFILE|EVAL",
		Short: "Summarise a profile (model, probes, top heads, layer budgets) or an eval file (method x budget table)",
		Long: `inspect prints what a profile holds: the model it belongs to, how many probes
ran and succeeded, the top SRH heads of every layer with their scores (and,
when the profile holds a ranking-stability bootstrap, each head's chance of
being in the layer's top-k and the layer's mean top-k Jaccard) and,
when the profile is calibrated, each layer's score and budget at one average
budget (--avg; any value, computed from the stored layer scores when it is not
one of the stored averages).

Given a compresskv.eval/v1 file (written by compresskv eval) it prints the
method x budget table: mean ROUGE-1 recall, success and exact-match rates,
the kept fraction of the KV cache and the KV memory kept.`,
		Example: `  compresskv inspect profile.json
  compresskv inspect profile.json --top 8 --avg 512
  compresskv inspect profile.json --json | jq '.layers[0]'
  compresskv inspect eval.json`,
		Args: fileArgs("inspect PROFILE|EVAL", "PROFILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.profile = args[0]
			return runInspect(opts, s)
		},
	}
	cmd.Flags().IntVar(&opts.top, "top", 4, "heads to list per layer")
	cmd.Flags().IntVar(&opts.avg, "avg", 256, "average budget for the budget column")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON instead of tables")
	return cmd
}

// inspectLayer is one row of the inspect report.
type inspectLayer struct {
	Layer    int       `json:"layer"`
	TopHeads []int     `json:"top_heads"`
	TopSRH   []float64 `json:"top_srh"`
	// TopInTopK is each listed head's bootstrap chance of being in the
	// layer's SRH top-k; TopKJaccard the layer's mean top-k Jaccard.
	TopInTopK   []float64 `json:"top_in_top_k,omitempty"`
	TopKJaccard *float64  `json:"top_k_jaccard,omitempty"`
	LayerScore  *float64  `json:"layer_score,omitempty"`
	Budget      *int      `json:"budget,omitempty"`
}

// inspectStability summarises heads.stability.
type inspectStability struct {
	Probes      int     `json:"probes"`
	Resamples   int     `json:"resamples"`
	TopK        int     `json:"top_k"`
	MinJaccard  float64 `json:"min_top_k_jaccard"`
	MeanJaccard float64 `json:"mean_top_k_jaccard"`
}

// inspectReport is the machine-readable form of `compresskv inspect`.
type inspectReport struct {
	Model       schema.Model        `json:"model"`
	Tool        schema.Tool         `json:"tool"`
	Scoring     string              `json:"scoring"`
	Run         int                 `json:"probes_run"`
	Successful  int                 `json:"probes_successful"`
	Skipped     int                 `json:"probes_skipped"`
	SkipReasons map[string]int      `json:"skip_reasons,omitempty"`
	Warning     string              `json:"warning,omitempty"` // the ranking rests on too few successful probes
	SuccessRate float64             `json:"success_rate"`
	Stability   *inspectStability   `json:"stability,omitempty"`
	UntilStable *schema.UntilStable `json:"until_stable,omitempty"`
	Calibrated  bool                `json:"calibrated"`
	AvgBudget   int                 `json:"avg_budget,omitempty"`
	Layers      []inspectLayer      `json:"layers"`
}

func runInspect(opts *inspectOptions, s *streams) error {
	if opts.top < 1 {
		return usagef("--top must be at least 1, got %d", opts.top)
	}
	if d, ok, err := readEvalFile(opts.profile); ok {
		if err != nil {
			return err
		}
		if opts.json {
			return writeJSON(s.out, d.Summary)
		}
		fmt.Fprintf(s.out, "%s: %s (%d layers x %d heads, %d KV), %d probes; profile %s\n", opts.profile, d.Model.Architecture, d.Model.Layers, d.Model.Heads, d.Model.KVHeads, len(d.Probes), orNone(d.Profile.Fingerprint))
		return printEvalTable(s.out, d)
	}
	p, err := schema.ReadFile(opts.profile)
	if err != nil {
		return err
	}
	rep, err := buildInspectReport(p, opts)
	if err != nil {
		return err
	}
	if rep.Warning != "" {
		fmt.Fprintf(s.err, "compresskv: warning: %s: %s\n", opts.profile, rep.Warning)
	}
	if opts.json {
		return writeJSON(s.out, rep)
	}
	return printInspect(s.out, rep)
}

func buildInspectReport(p *schema.Profile, opts *inspectOptions) (*inspectReport, error) {
	rep := &inspectReport{
		Model: p.Model, Tool: p.Tool, Scoring: p.Probes.Scoring,
		Run: p.Probes.Run, Successful: p.Probes.Successful, Skipped: p.Probes.Skipped,
		SkipReasons: p.Probes.SkipReasons,
	}
	if err := schema.CheckEvidence(p, schema.DefaultMinSuccess); err != nil {
		rep.Warning = err.Error()
	}
	rep.UntilStable = p.Probes.UntilStable
	st := p.Heads.Stability
	if st != nil && len(st.TopKJaccard) > 0 {
		sum := 0.0
		for _, j := range st.TopKJaccard {
			sum += j
		}
		rep.Stability = &inspectStability{Probes: st.Probes, Resamples: st.Resamples, TopK: st.TopK,
			MinJaccard: profile.MinJaccard(st), MeanJaccard: sum / float64(len(st.TopKJaccard))}
	}
	if p.Probes.Run > 0 {
		rep.SuccessRate = float64(p.Probes.Successful) / float64(p.Probes.Run)
	}
	var budgets []int
	if c := p.Calibration; c != nil {
		rep.Calibrated = true
		rep.AvgBudget = opts.avg
		if b, ok := c.Budgets[strconv.Itoa(opts.avg)]; ok {
			budgets = b
		} else {
			if err := calibrate.CheckAllocation(opts.avg, c.Floor, c.CeilingFactor); err != nil {
				return nil, usagef("--avg %d: %v", opts.avg, err)
			}
			budgets = calibrate.Allocate(c.LayerScores, opts.avg, c.Floor, c.CeilingFactor)
		}
	}
	for l, rank := range p.Heads.Ranking {
		row := inspectLayer{Layer: l}
		for _, h := range rank[:min(opts.top, len(rank))] {
			row.TopHeads = append(row.TopHeads, h)
			row.TopSRH = append(row.TopSRH, p.Heads.SRH[l][h])
			if st != nil {
				row.TopInTopK = append(row.TopInTopK, st.TopKProbability[l][h])
			}
		}
		if st != nil {
			j := st.TopKJaccard[l]
			row.TopKJaccard = &j
		}
		if c := p.Calibration; c != nil {
			score, budget := c.LayerScores[l], budgets[l]
			row.LayerScore, row.Budget = &score, &budget
		}
		rep.Layers = append(rep.Layers, row)
	}
	return rep, nil
}

func printInspect(w io.Writer, rep *inspectReport) error {
	m := rep.Model
	fmt.Fprintf(w, "model: %s, %d layers, %d query heads, %d KV heads, head_dim %d\n", m.Architecture, m.Layers, m.Heads, m.KVHeads, m.HeadDim)
	fmt.Fprintf(w, "fingerprint: %s\n", m.Fingerprint)
	if m.ID != "" {
		fmt.Fprintf(w, "hugging face: %s@%s (commit %s)\n", m.ID, m.Revision, m.Commit)
	}
	fmt.Fprintf(w, "made by: %s %s (%s scoring)\n", rep.Tool.Name, rep.Tool.Version, rep.Scoring)
	fmt.Fprintf(w, "probes: %d run, %d successful (%.1f %%), %d skipped%s\n", rep.Run, rep.Successful, 100*rep.SuccessRate, rep.Skipped, skipReasons(rep.SkipReasons))
	if rep.Warning != "" {
		fmt.Fprintf(w, "WARNING: %s\n", rep.Warning)
	}
	if u := rep.UntilStable; u != nil {
		how := "ran the whole grid"
		if u.Stopped {
			how = "stopped early"
		}
		fmt.Fprintf(w, "until stable: top-k Jaccard >= %g for %d probes in %s order; %s\n", u.Jaccard, u.Window, u.Order, how)
	}
	st := rep.Stability
	if st != nil {
		fmt.Fprintf(w, "ranking stability: top-%d Jaccard min %.3f, mean %.3f (bootstrap of %d probes, %d resamples); p = chance of being in the top-%d\n",
			st.TopK, st.MinJaccard, st.MeanJaccard, st.Probes, st.Resamples, st.TopK)
	}
	fmt.Fprintln(w)
	t := newTable(w)
	header := []any{"layer", "top heads (SRH)"}
	if st != nil {
		header[1] = "top heads (SRH, p)"
		header = append(header, fmt.Sprintf("top-%d Jaccard", st.TopK))
	}
	if rep.Calibrated {
		header = append(header, "layer score", fmt.Sprintf("budget @ avg %d", rep.AvgBudget))
	}
	t.Header(header...)
	for _, l := range rep.Layers {
		heads := ""
		for i, h := range l.TopHeads {
			if i > 0 {
				heads += "  "
			}
			if l.TopInTopK != nil {
				heads += fmt.Sprintf("%d (%.3g, p %.2f)", h, l.TopSRH[i], l.TopInTopK[i])
			} else {
				heads += fmt.Sprintf("%d (%.3g)", h, l.TopSRH[i])
			}
		}
		row := []any{l.Layer, heads}
		if st != nil {
			row = append(row, fmt.Sprintf("%.3f", *l.TopKJaccard))
		}
		if l.LayerScore != nil {
			row = append(row, fmt.Sprintf("%.4f", *l.LayerScore), *l.Budget)
		}
		if err := t.Append(row...); err != nil {
			return err
		}
	}
	return t.Render()
}

// skipReasons lists why probes were skipped, most frequent first, as
// " (12 span not found, 3 longer than the model's context)".
func skipReasons(reasons map[string]int) string {
	if len(reasons) == 0 {
		return ""
	}
	keys := make([]string, 0, len(reasons))
	for k := range reasons {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if reasons[keys[i]] != reasons[keys[j]] {
			return reasons[keys[i]] > reasons[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", reasons[k], k)
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
