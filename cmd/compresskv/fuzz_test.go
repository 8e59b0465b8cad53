package main

import (
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/viper"
)

// FuzzParseIDList checks that the --decode list parser never panics and
// returns only non-negative ids, each written in the input.
func FuzzParseIDList(f *testing.F) {
	for _, s := range []string{"1,2,3", "[1,2,3]", " 1 2\t3\n", "[1,", "-1", "[-3]", "1,,2", "99999999999999999999", "[1e3]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids, err := parseIDList(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error of more than one line: %q", err)
			}
			return
		}
		for _, id := range ids {
			if id < 0 {
				t.Fatalf("parseIDList(%q) returned id %d", s, id)
			}
		}
		// What was accepted reads back the same from its canonical form.
		parts := make([]string, len(ids))
		for i, id := range ids {
			parts[i] = strconv.Itoa(id)
		}
		again, err := parseIDList(strings.Join(parts, ","))
		if err != nil || !slices.Equal(again, ids) {
			t.Fatalf("parseIDList(%q) = %v, which reads back as %v, %v", s, ids, again, err)
		}
	})
}

// FuzzConfigYAML checks that a --config file of any content sets the flags
// of a command with many flag kinds (ints, floats, lists, bools, strings)
// or fails with a one-line error naming the file: never a panic.
func FuzzConfigYAML(f *testing.F) {
	f.Add("lengths: [256, 512]\ndepths: [0, 50]\nthreads: 2\n")
	f.Add("profile:\n  max-new: 5\n  resume: false\n  template: raw\n")
	f.Add("lengths: {a: 1}\n")
	f.Add("depths: [x]\nneedles-count: 1e99\n")
	f.Add("- a\n- b\n")
	f.Add(": :\n\t")
	// In memory (applyConfigData, the part after reading the file): the
	// file layer is readConfigFile, tested by TestConfigFileLimits.
	const path = "c.yaml"
	f.Fuzz(func(t *testing.T, data string) {
		cmd := newProfileCommand(&streams{in: strings.NewReader(""), out: io.Discard, err: io.Discard})
		err := applyConfigData(cmd, viper.New(), path, []byte(data))
		if err != nil && (strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), path)) {
			t.Fatalf("error %q is not one line naming the file", err)
		}
	})
}
