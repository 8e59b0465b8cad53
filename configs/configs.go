// Package configs holds compresskv's embedded default settings: probe grids
// (probes.yaml, probes-quick.yaml), prompt templates per model family
// (templates.yaml) and whatever other commands ship as defaults. The files
// are plain YAML whose keys are flag names, so any of them can also be
// copied, edited and passed back with --config.
//
// This package only hands out bytes: it never parses, validates or
// interprets a file (the package that owns a setting does), and it never
// reads anything from disk at run time.
package configs

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
)

//go:embed *.yaml
var files embed.FS

// Read returns the embedded file name (e.g. "probes.yaml").
func Read(name string) ([]byte, error) {
	data, err := files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("configs: no embedded file %q (have %v)", name, Names())
	}
	return data, nil
}

// Names lists the embedded files in name order.
func Names() []string {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}
