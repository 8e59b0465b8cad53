package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/compresskv/compresskv/configs"
)

// newConfigCommand builds the config command.
func newConfigCommand(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show the embedded defaults (probe grids, templates, calibration constants)",
		Example: `  compresskv config show
  compresskv config show probes-quick > my-grid.yaml   # edit, then: compresskv profile --config my-grid.yaml`,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "show [NAME]",
		Short: "Print one embedded default file, or all of them",
		Long: `show prints the YAML defaults compiled into compresskv. Their keys are flag
names, so a copy of one is a valid --config file.`,
		Example: `  compresskv config show
  compresskv config show probes`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConfigShow(args, s)
		},
	})
	return cmd
}

func runConfigShow(args []string, s *streams) error {
	names := configs.Names()
	if len(args) == 1 {
		name := strings.TrimSuffix(args[0], ".yaml") + ".yaml"
		data, err := configs.Read(name)
		if err != nil {
			return usagef("no embedded config %q (have: %s)", args[0], strings.Join(names, ", "))
		}
		_, err = s.out.Write(data)
		return err
	}
	for i, name := range names {
		data, err := configs.Read(name)
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprintln(s.out)
		}
		fmt.Fprintf(s.out, "# --- %s ---\n", name)
		if _, err := s.out.Write(data); err != nil {
			return err
		}
	}
	return nil
}
