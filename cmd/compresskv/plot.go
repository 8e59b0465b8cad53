package main

import (
	"fmt"

	"github.com/spf13/cobra"

	evalfigure "github.com/compresskv/compresskv/calibrate/eval/figure"
	"github.com/compresskv/compresskv/profile/figure"
	"github.com/compresskv/compresskv/profile/schema"
)

// plotOptions are the inputs of `compresskv plot`.
type plotOptions struct {
	profile string
	output  string
	budget  int
}

// newPlotCommand builds the plot command.
func newPlotCommand(s *streams) *cobra.Command {
	opts := &plotOptions{}
	cmd := &cobra.Command{
		Use:   "plot PROFILE|EVAL -o FIGURE.(png|svg)",
		Short: "Draw a profile (head heatmaps, layer budgets) or an eval file (NIAH heatmaps, recall vs budget)",
		Long: `plot draws the layer x query-head heatmap of semantic retrieval (SRH) scores
beside the classic retrieval scores, as the CompressKV paper shows them. When
the profile is calibrated it adds bar charts of the layer scores and of the
per-layer budgets at one average budget (--avg, default 256), and when the
profile holds its probes' results, the needle-in-a-haystack grid of those
probes (context length x depth, green where the needles were retrieved). The
format follows the output file's extension: .png or .svg.

Given a compresskv.eval/v1 file it draws the needle-in-a-haystack heatmap of
every method (context length x depth, colour = mean ROUGE-1 recall, with a
colour bar) at one budget (--avg; default the smallest evaluated), and
the mean recall of every method against the budget.`,
		Example: `  compresskv plot profile.json -o heads.png
  compresskv plot profile.json -o heads.svg --avg 512
  compresskv plot eval.json -o niah.png --avg 64`,
		Args: fileArgs("plot PROFILE|EVAL -o FIGURE.png", "PROFILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.profile = args[0]
			return runPlot(opts, s)
		},
	}
	cmd.Flags().StringVarP(&opts.output, "output", "o", "heads.png", "figure file (.png or .svg)")
	cmd.Flags().IntVar(&opts.budget, "avg", 0, "average budget whose per-layer budgets are drawn (0: 256 or the smallest stored)")
	addAlias(cmd.Flags(), "budget", "avg") // the flag's first name; budget and inspect say --avg
	return cmd
}

func runPlot(opts *plotOptions, s *streams) error {
	if d, ok, err := readEvalFile(opts.profile); ok {
		if err != nil {
			return err
		}
		if err := evalfigure.Save(d, opts.output, evalfigure.Options{Budget: opts.budget}); err != nil {
			return usagef("%v", err)
		}
		_, err = fmt.Fprintf(s.out, "wrote %s\n", opts.output)
		return err
	}
	p, err := schema.ReadFile(opts.profile)
	if err != nil {
		return err
	}
	if err := schema.CheckEvidence(p, schema.DefaultMinSuccess); err != nil {
		fmt.Fprintf(s.err, "compresskv: warning: %s: %v\n", opts.profile, err)
	}
	if err := figure.Save(p, opts.output, figure.Options{Budget: opts.budget}); err != nil {
		return err
	}
	_, err = fmt.Fprintf(s.out, "wrote %s\n", opts.output)
	return err
}
