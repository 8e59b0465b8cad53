package main

import (
	"fmt"
	"os"

	"github.com/compresskv/compresskv/profile/schema"
)

// loadProfile reads, decodes and validates a profile file; every error names
// the file.
func loadProfile(path string) (*schema.Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p, err := schema.Unmarshal(data, path)
	if err != nil {
		return nil, err
	}
	if err := schema.Validate(p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// readProfileLoose reads a profile without validating it, for comparisons
// that must also describe broken or hand-edited files.
func readProfileLoose(path string) (*schema.Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return schema.Unmarshal(data, path)
}
