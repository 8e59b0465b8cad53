package schema

import (
	"fmt"
	"io"
	"os"
)

// MaxFileSize bounds the profile files ReadFile reads. A real profile is a
// few megabytes (the heads are layers x heads numbers, the results one line
// per probe); a file far larger is not a profile, and reading it whole would
// only exhaust memory.
const MaxFileSize = 256 << 20

// maxFileSize is MaxFileSize; tests lower it to test the cap cheaply.
var maxFileSize int64 = MaxFileSize

// ReadFile is the one reader of profile files: every command that takes a
// profile reads it here. It reads at most MaxFileSize bytes, decodes the
// document (Unmarshal) and checks it (Validate); every error names the file.
func ReadFile(path string) (*Profile, error) {
	data, err := ReadBytes(path)
	if err != nil {
		return nil, err
	}
	return Read(data, path)
}

// ReadBytes reads the bytes of a profile file, refusing one larger than
// MaxFileSize before reading it all, for callers that also need the bytes
// (e.g. to fingerprint them) and then call Read.
func ReadBytes(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(data)) > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes, too large for a profile", path, maxFileSize)
	}
	return data, nil
}

// Read decodes and validates a profile document read from the file called
// name (used in error messages).
func Read(data []byte, name string) (*Profile, error) {
	p, err := Unmarshal(data, name)
	if err != nil {
		return nil, err
	}
	if err := Validate(p); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}
