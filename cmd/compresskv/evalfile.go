package main

import (
	"encoding/json"
	"os"

	"github.com/compresskv/compresskv/calibrate/eval"
)

// readEvalFile reads path as an eval document when its "schema" says it is
// one (ok); otherwise ok is false and the caller reads a profile.
func readEvalFile(path string) (d *eval.Document, ok bool, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false, nil // the profile reader reports it
	}
	var head struct {
		Schema string `json:"schema"`
	}
	if json.Unmarshal(data, &head) != nil || head.Schema != eval.Version {
		return nil, false, nil
	}
	d, err = eval.Unmarshal(data, path)
	return d, true, err
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
