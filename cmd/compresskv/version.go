package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is the tool version written into every profile; set at build time
// with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// fullVersion is version plus the commit the binary was built from, read
// from the build information Go stamps into binaries built inside a git
// checkout (go build, go install). `go run` and tests carry no commit.
func fullVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return describeVersion(version, nil)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	return describeVersion(version, settings)
}

// describeVersion formats a version with the vcs.* build settings.
func describeVersion(v string, settings map[string]string) string {
	rev := settings["vcs.revision"]
	if rev == "" {
		return v + " (commit unknown: built without git information, e.g. by go run)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	s := v + " (commit " + rev
	if t := settings["vcs.time"]; t != "" {
		s += ", " + t
	}
	if settings["vcs.modified"] == "true" {
		s += ", with uncommitted changes"
	}
	return s + ")"
}

// newVersionCommand builds the version command (also: compresskv --version).
func newVersionCommand(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the compresskv version and the commit it was built from",
		Long:    "version prints the compresskv version and the commit it was built from (as --version does).",
		Example: "  compresskv version",
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprintf(s.out, "compresskv %s\n", fullVersion())
			return err
		},
	}
}
