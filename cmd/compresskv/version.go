package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// version is the tool version written into every profile; set at build time
// with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// newVersionCommand builds the version command.
func newVersionCommand(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the compresskv version",
		Example: "  compresskv version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprintf(s.out, "compresskv %s\n", version)
			return err
		},
	}
}
