package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// quickstartOptions are the inputs of `compresskv quickstart`.
type quickstartOptions struct {
	dir   string
	model string
}

// newQuickstartCommand builds the quickstart command.
func newQuickstartCommand(s *streams) *cobra.Command {
	opts := &quickstartOptions{}
	cmd := &cobra.Command{
		Use:   "quickstart",
		Short: "Profile, calibrate and plot in one go (the built-in synthetic model by default)",
		Long: `quickstart runs the whole offline pipeline and writes its results into one
folder: profile (head scores on needle probes), calibrate (layer errors and
per-layer budgets), plot (heads.png), and the reference implementation's
files. Without --model it uses the built-in synthetic model, whose planted
retrieval heads must come out on top, so it runs in seconds with nothing
downloaded. It prints each step as the command you would run by hand.`,
		Example: `  compresskv quickstart
  compresskv quickstart --dir out/ --model ~/models/Llama-3.2-1B-Instruct`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runQuickstart(opts, s)
		},
	}
	cmd.Flags().StringVar(&opts.dir, "dir", "compresskv-out", "folder for profile.json, heads.png and reference/")
	cmd.Flags().StringVar(&opts.model, "model", "", "Hugging Face checkpoint folder; empty: the built-in synthetic model")
	return cmd
}

func runQuickstart(opts *quickstartOptions, s *streams) error {
	if err := os.MkdirAll(opts.dir, 0o755); err != nil {
		return err
	}
	profilePath := filepath.Join(opts.dir, "profile.json")
	var model []string
	if opts.model != "" {
		model = []string{"--model", opts.model}
	}
	steps := [][]string{
		append([]string{"profile", "-o", profilePath}, model...),
		append([]string{"calibrate", "--profile", profilePath, "--export-reference", filepath.Join(opts.dir, "reference")}, model...),
		{"plot", profilePath, "-o", filepath.Join(opts.dir, "heads.png")},
		{"inspect", profilePath},
	}
	for _, args := range steps {
		fmt.Fprintf(s.out, "\n$ compresskv %s\n", strings.Join(args, " "))
		// Each step is a fresh command tree, exactly as if typed by hand.
		root := newRootCommand(s)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			return fmt.Errorf("%s: %w", args[0], err)
		}
	}
	return nil
}
