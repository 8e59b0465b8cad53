package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Marshal encodes p as indented JSON (two spaces) with a trailing newline.
// Struct fields keep their declared order and map keys are sorted, so equal
// profiles give equal bytes. NaN or Inf anywhere is an error.
func Marshal(p *Profile) ([]byte, error) {
	if p == nil {
		return nil, fmt.Errorf("schema: marshal: nil profile")
	}
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("schema: marshal profile: %w", err)
	}
	return append(data, '\n'), nil
}

// Unmarshal decodes a profile document read from the file called name (used
// only in error messages). It rejects documents whose "schema" is not
// Version before looking at anything else, so a file of another kind or
// version fails with a message that says so. It does not Validate.
func Unmarshal(data []byte, name string) (*Profile, error) {
	var head struct {
		Schema *string `json:"schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%s: not a JSON profile document: %w", name, err)
	}
	if head.Schema == nil {
		return nil, fmt.Errorf("%s: no \"schema\" field; want %q", name, Version)
	}
	if *head.Schema != Version {
		return nil, fmt.Errorf("%s: schema %q is not %s", name, *head.Schema, Version)
	}
	var p Profile
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &p, nil
}
