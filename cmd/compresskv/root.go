package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Exit codes, documented in docs/usage.md.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitDrift   = 3
)

// usageError marks an error in how the command was called (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usage error (exit code 2).
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// errDrift is returned (wrapped) by checks that found a profile drifted
// beyond tolerance (exit code 3).
var errDrift = errors.New("profile drifted beyond tolerance")

// streams are the I/O of one invocation; commands never touch os.Std*.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

// commands builds every subcommand. A new command is one line here and a
// newXCommand(s) in its own file; help lists them sorted by name.
func commands(s *streams) []*cobra.Command {
	return []*cobra.Command{
		newQuickstartCommand(s),
		newProfileCommand(s),
		newMergeCommand(s),
		newCalibrateCommand(s),
		newEvalCommand(s),
		newBudgetCommand(s),
		newDiffCommand(s),
		newExportCommand(s),
		newImportCommand(s),
		newInspectCommand(s),
		newPlotCommand(s),
		newProbesCommand(s),
		newGenerateCommand(s),
		newTokenizeCommand(s),
		newSynthCommand(s),
		newBenchCommand(s),
		newConfigCommand(s),
		newVersionCommand(s),
	}
}

// newRootCommand builds the command tree for one invocation.
func newRootCommand(s *streams) *cobra.Command {
	v := viper.New()
	var configFile string
	root := &cobra.Command{
		Use:   "compresskv",
		Short: "Profile semantic retrieval heads and calibrate per-layer KV-cache budgets",
		Long: `compresskv implements the offline half of CompressKV (Lin et al., arXiv 2508.02401)
in pure Go: it finds the semantic retrieval heads of each layer of a
grouped-query-attention model on generated needle-in-a-haystack prompts,
measures how much each layer's attention output suffers when its KV cache is
cut, and writes one JSON profile (head ranking + per-layer budgets) that an
inference engine loads beside the model weights.

Every flag can also be set in a YAML file (--config) or in an environment
variable COMPRESSKV_<FLAG> (dashes become underscores, e.g.
COMPRESSKV_MAX_NEW=20); a flag given on the command line wins over both, and
the environment wins over the file.`,
		Example: `  # Everything on the built-in synthetic model (nothing to download):
  # compresskv-out/profile.json, heads.png and the reference files, in seconds
  compresskv quickstart

  # The same steps by hand
  compresskv profile -o profile.json && compresskv calibrate --profile profile.json

  # A Hugging Face checkpoint folder
  compresskv profile --model ~/models/Llama-3.1-8B-Instruct -o llama.json`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return applyConfig(cmd, v, configFile)
		},
	}
	root.Version = fullVersion()
	root.SetVersionTemplate("compresskv {{.Version}}\n")
	root.SetIn(s.in)
	root.SetOut(s.out)
	root.SetErr(s.err)
	root.PersistentFlags().StringVar(&configFile, "config", "", "YAML file with flag values (keys are flag names, optionally under a command name)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(commands(s)...)
	return root
}

// applyConfig fills every flag the user did not set on the command line from
// the environment (COMPRESSKV_FLAG_NAME) or the config file (key
// "<command>.<flag>" or "<flag>"), in that order of precedence.
func applyConfig(cmd *cobra.Command, v *viper.Viper, configFile string) error {
	var data []byte
	if configFile != "" {
		var err error
		if data, err = readConfigFile(configFile); err != nil {
			return err
		}
	}
	return applyConfigData(cmd, v, configFile, data)
}

// maxConfigSize caps a --config file: flag values fit in a few kilobytes,
// and the file is read whole.
const maxConfigSize = 1 << 20

// readConfigFile reads a --config file, refusing one over maxConfigSize.
func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("--config %s: %v", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, usagef("--config %s: %v", path, err)
	}
	if len(data) > maxConfigSize {
		return nil, usagef("--config %s: file is bigger than %d bytes; a config holds flag values", path, maxConfigSize)
	}
	return data, nil
}

// applyConfigData is applyConfig with the config file's bytes already
// read (data, from configFile; configFile "" for none): the part the
// fuzzer runs, in memory.
func applyConfigData(cmd *cobra.Command, v *viper.Viper, configFile string, data []byte) error {
	v.SetEnvPrefix("COMPRESSKV")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_", ".", "_"))
	if configFile != "" {
		v.SetConfigType("yaml")
		if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
			// The YAML parser's errors span lines ("unmarshal errors:\n
			// line 1: ..."); errors here are one line.
			return usagef("--config %s: %s", configFile, strings.Join(strings.Fields(err.Error()), " "))
		}
	}
	var ferr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if ferr != nil || f.Changed || f.Name == "config" || f.Name == "help" {
			return
		}
		env := "COMPRESSKV_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if val, ok := os.LookupEnv(env); ok {
			if err := setFlag(f, val); err != nil {
				ferr = usagef("%s=%q: %v", env, val, err)
			}
			return
		}
		for _, key := range []string{cmd.Name() + "." + f.Name, f.Name} {
			if configFile != "" && v.IsSet(key) {
				if err := setFlag(f, v.Get(key)); err != nil {
					ferr = usagef("%s: %s: %v", configFile, key, err)
				}
				return
			}
		}
	})
	return ferr
}

// setFlag sets a flag from a config or environment value; lists from YAML
// become repeated Set calls for slice flags.
func setFlag(f *pflag.Flag, val any) error {
	if list, ok := val.([]any); ok {
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			items := make([]string, len(list))
			for i, x := range list {
				items[i] = fmt.Sprint(x)
			}
			if err := sv.Replace(items); err != nil {
				return err
			}
			f.Changed = true
			return nil
		}
		parts := make([]string, len(list))
		for i, x := range list {
			parts[i] = fmt.Sprint(x)
		}
		val = strings.Join(parts, ",")
	}
	if err := f.Value.Set(fmt.Sprint(val)); err != nil {
		return err
	}
	f.Changed = true
	return nil
}

// run executes one invocation and returns its exit code.
func run(args []string, in io.Reader, out, errOut io.Writer) int {
	return execute(newRootCommand(&streams{in: in, out: out, err: errOut}), args, errOut)
}

// execute runs root with args and maps its error to an exit code.
func execute(root *cobra.Command, args []string, errOut io.Writer) int {
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(errOut, "compresskv: %v\n", err)
	var ue usageError
	switch {
	case errors.As(err, &ue), isCobraUsage(err):
		return exitUsage
	case errors.Is(err, errDrift):
		return exitDrift
	}
	return exitFailure
}

// isCobraUsage recognises the one usage error cobra returns untyped and
// before any of our validators run: a command name it does not know (flag
// errors pass through SetFlagErrorFunc, argument counts through usageArgs).
func isCobraUsage(err error) bool {
	return strings.HasPrefix(err.Error(), "unknown command ")
}

// usageArgs makes a cobra argument-count check's error a usage error (exit
// code 2) without matching its message text.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// fileArgs requires exactly the named positional files, with a usage error
// that shows the command line (cobra's own says "accepts 1 arg(s), received
// 0").
func fileArgs(usage string, names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == len(names) {
			return nil
		}
		if len(args) < len(names) {
			return usagef("%s needs %s: compresskv %s", cmd.Name(), strings.Join(names[len(args):], " and "), usage)
		}
		return usagef("%s takes %d file argument(s), got %d (%s): compresskv %s", cmd.Name(), len(names), len(args), strings.Join(args, " "), usage)
	}
}
