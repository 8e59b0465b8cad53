package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// quickstartOptions are the inputs of `compresskv quickstart`.
type quickstartOptions struct {
	dir       string
	model     string
	tokenizer string
	probes    probeFlags
	runtime   runtimeFlags
	threads   int

	// given are the flags typed on the command line (not those filled from
	// COMPRESSKV_* or --config), forwarded to the steps as typed.
	given []*pflag.Flag
	// config is the --config file, handed on to every step.
	config string
	// environ is the environment whose COMPRESSKV_* settings the steps
	// inherit; the echoed commands show them so they replay exactly.
	environ []string
}

// Flags quickstart forwards, by the steps that take them.
var (
	quickstartModelFlags   = []string{"model", "tokenizer", "threads", "chunk", "kv-dtype", "rope", "compute"} // profile and calibrate
	quickstartProfileFlags = []string{"lengths", "depths", "needle-seed", "needles-count", "seed", "template", "haystack", "needles",
		"min-length", "max-length", "intervals", "min-depth", "max-depth", "depth-intervals", "logistic", "buffer", "add-special", "quick"}
)

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
downloaded (the first ` + "`go run`" + ` also compiles compresskv, which takes a minute
or two). With --model it profiles on the quick probe grid
(configs/probes-quick.yaml: 40 probes of 256-1024 tokens, minutes on a 1B
model) rather than the reference's 600 probes of up to 31 500 tokens; the
grid flags below, and --config, change it. It prints each step as the command
you would type by hand, with the COMPRESSKV_* settings it inherited, so the
steps replay exactly.`,
		Example: `  compresskv quickstart
  compresskv quickstart --dir out/ --model ~/models/Llama-3.2-1B-Instruct
  compresskv quickstart --model ~/models/Llama-3.2-1B-Instruct --lengths 512,1024 --depths 0,50,100`,
		Args: usageArgs(cobra.NoArgs),
		// Runs before the root's configuration step so that the flags typed
		// on the command line can be told from those the environment or
		// --config fill in: only the former are forwarded as flags.
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			cmd.Flags().Visit(func(f *pflag.Flag) {
				if f.Name != "dir" && f.Name != "config" {
					opts.given = append(opts.given, f)
				}
			})
			if f := cmd.Flags().Lookup("config"); f != nil {
				opts.config = f.Value.String()
			}
			return cmd.Root().PersistentPreRunE(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.environ = os.Environ()
			return runQuickstart(opts, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.dir, "dir", "compresskv-out", "folder for profile.json, heads.png and reference/")
	f.StringVar(&opts.model, "model", "", "Hugging Face checkpoint folder or id; empty: the built-in synthetic model")
	f.StringVar(&opts.tokenizer, "tokenizer", "", "tokenizer folder or tokenizer.json (default: the model's)")
	f.IntVar(&opts.threads, "threads", 0, "CPU threads (default: all)")
	addRuntimeFlags(f, &opts.runtime)
	addProbeFlags(f, &opts.probes, gridFlags)
	return cmd
}

// quickstartSteps are the commands quickstart runs, each an argument list.
func quickstartSteps(opts *quickstartOptions) [][]string {
	profilePath := filepath.Join(opts.dir, "profile.json")
	var common []string
	if opts.config != "" {
		common = append(common, "--config", opts.config)
	}
	modelArgs := forwardFlags(opts.given, quickstartModelFlags)
	profileArgs := forwardFlags(opts.given, quickstartProfileFlags)
	if opts.model != "" && !opts.probes.Quick {
		// A real model gets the quick grid; the reference grid of 600 long
		// prompts is a day's run on CPUs and must be asked for by name.
		profileArgs = append([]string{"--quick"}, profileArgs...)
	}
	steps := [][]string{
		concat([]string{"profile", "-o", profilePath}, common, modelArgs, profileArgs),
		concat([]string{"calibrate", "--profile", profilePath, "--export-reference", filepath.Join(opts.dir, "reference")}, common, modelArgs),
		concat([]string{"plot", profilePath, "-o", filepath.Join(opts.dir, "heads.png")}, common),
		concat([]string{"inspect", profilePath}, common),
	}
	return steps
}

func runQuickstart(opts *quickstartOptions, s *streams) error {
	if err := os.MkdirAll(opts.dir, 0o755); err != nil {
		return err
	}
	env := compresskvEnv(opts.environ)
	for _, args := range quickstartSteps(opts) {
		fmt.Fprintf(s.out, "\n$ %s\n", shellLine(env, append([]string{"compresskv"}, args...)))
		// Each step is a fresh command tree, exactly as if typed by hand.
		root := newRootCommand(s)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			return fmt.Errorf("%s: %w", args[0], err)
		}
	}
	return nil
}

// forwardFlags renders the given flags whose names are in names as
// command-line arguments, in the order of names.
func forwardFlags(given []*pflag.Flag, names []string) []string {
	var out []string
	for _, name := range names {
		for _, f := range given {
			if f.Name != name {
				continue
			}
			val := f.Value.String()
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				items := sv.GetSlice()
				for i, it := range items {
					// pflag prints float slices as 0.000000; a user typed 0.
					if x, err := strconv.ParseFloat(it, 64); err == nil {
						items[i] = strconv.FormatFloat(x, 'g', -1, 64)
					}
				}
				val = strings.Join(items, ",")
			}
			if f.Value.Type() == "bool" {
				out = append(out, "--"+f.Name+"="+val)
			} else {
				out = append(out, "--"+f.Name, val)
			}
		}
	}
	return out
}

// compresskvEnv returns the COMPRESSKV_* settings of environ, sorted.
func compresskvEnv(environ []string) []string {
	var out []string
	for _, kv := range environ {
		if strings.HasPrefix(kv, "COMPRESSKV_") {
			out = append(out, kv)
		}
	}
	sort.Strings(out)
	return out
}

// shellLine renders an environment prefix and arguments as one line a POSIX
// shell runs as the same command.
func shellLine(env, args []string) string {
	parts := make([]string, 0, len(env)+len(args))
	for _, kv := range env {
		name, val, _ := strings.Cut(kv, "=")
		parts = append(parts, name+"="+shellQuote(val))
	}
	for _, a := range args {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

// shellQuote quotes s for a POSIX shell when it holds anything but plain
// word characters.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./,=:@%+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
