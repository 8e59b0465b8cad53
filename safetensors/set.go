package safetensors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Names of the checkpoint files in a Hugging Face model folder.
const (
	SingleFileName = "model.safetensors"
	IndexFileName  = "model.safetensors.index.json"
)

// maxIndexSize caps model.safetensors.index.json; real ones are a few
// hundred kilobytes.
const maxIndexSize = 100_000_000

// Set is a checkpoint: one or more safetensors files whose tensors together
// form the model's weights, each tensor in exactly one file.
type Set struct {
	dir    string
	files  []*File
	byName map[string]*File
	names  []string // sorted
}

// OpenDir opens the checkpoint in dir: model.safetensors.index.json and the
// shards it names when present, else model.safetensors, else every
// *.safetensors file in the folder. dir may also be a single .safetensors
// file. With an index, only the shards it names are opened; a tensor that a
// shard holds but the index does not list is still part of the set.
func OpenDir(dir string) (*Set, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if st.Mode().IsRegular() {
		return openFiles(dir, []string{dir})
	}
	index := filepath.Join(dir, IndexFileName)
	if _, err := os.Stat(index); err == nil {
		return openIndex(dir, index)
	}
	single := filepath.Join(dir, SingleFileName)
	if _, err := os.Stat(single); err == nil {
		return openFiles(dir, []string{single})
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s: no %s, %s or *.safetensors file in the folder", dir, IndexFileName, SingleFileName)
	}
	slices.Sort(paths)
	return openFiles(dir, paths)
}

// openFiles opens paths as one set; a tensor name in two files is an error.
func openFiles(dir string, paths []string) (*Set, error) {
	s := &Set{dir: dir, byName: map[string]*File{}}
	for _, p := range paths {
		f, err := Open(p)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.files = append(s.files, f)
		for _, info := range f.header.infos {
			if other, dup := s.byName[info.Name]; dup {
				s.Close()
				return nil, fmt.Errorf("%s: tensor %q is in two files: %s and %s", dir, info.Name, other.path, f.path)
			}
			s.byName[info.Name] = f
			s.names = append(s.names, info.Name)
		}
	}
	slices.Sort(s.names)
	return s, nil
}

// openIndex opens a sharded checkpoint and checks it against its index:
// every shard named must exist and hold the tensors the index places in it.
func openIndex(dir, index string) (*Set, error) {
	raw, err := readCapped(index, maxIndexSize)
	if err != nil {
		return nil, err
	}
	weightMap, err := parseIndex(index, raw)
	if err != nil {
		return nil, err
	}
	var shards []string
	for _, shard := range weightMap {
		if !slices.Contains(shards, shard.file) {
			shards = append(shards, shard.file)
		}
	}
	slices.Sort(shards)
	paths := make([]string, len(shards))
	for i, shard := range shards {
		paths[i] = filepath.Join(dir, shard)
		if _, err := os.Stat(paths[i]); err != nil {
			tensor := ""
			for _, e := range weightMap {
				if e.file == shard {
					tensor = e.tensor
					break
				}
			}
			return nil, fmt.Errorf("%s: weight_map names shard %q (for tensor %q and others), but it is missing: %w", index, shard, tensor, err)
		}
	}
	s, err := openFiles(dir, paths)
	if err != nil {
		return nil, err
	}
	for _, e := range weightMap {
		f := s.byName[e.tensor]
		want := filepath.Join(dir, e.file)
		if f == nil {
			s.Close()
			return nil, fmt.Errorf("%s: tensor %q: weight_map places it in shard %q, but that shard lacks it", index, e.tensor, e.file)
		}
		if f.path != want {
			s.Close()
			return nil, fmt.Errorf("%s: tensor %q: weight_map places it in shard %q, but it is in %s", index, e.tensor, e.file, f.path)
		}
	}
	return s, nil
}

// readCapped reads a small file whole, refusing one bigger than limit.
func readCapped(path string, limit int64) ([]byte, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	raw, err := io.ReadAll(io.LimitReader(fd, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(raw)) > limit {
		return nil, fmt.Errorf("%s: file is bigger than the %d-byte limit", path, limit)
	}
	return raw, nil
}

// indexEntry is one weight_map entry: a tensor and the shard holding it.
type indexEntry struct{ tensor, file string }

// parseIndex reads model.safetensors.index.json:
// {"metadata": {...}, "weight_map": {"tensor name": "shard file name", ...}}.
// It walks tokens so that a tensor listed twice is caught.
func parseIndex(path string, raw []byte) ([]indexEntry, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: malformed index: "+format, append([]any{path}, args...)...)
	}
	if tok, err := token(dec); err != nil || tok != json.Delim('{') {
		return nil, bad("not a JSON object")
	}
	var entries []indexEntry
	haveMap := false
	for dec.More() {
		tok, err := token(dec)
		if err != nil {
			return nil, bad("%v", err)
		}
		if tok != "weight_map" {
			if err := skipValue(dec); err != nil {
				return nil, bad("%v", err)
			}
			continue
		}
		if haveMap {
			return nil, bad("weight_map appears twice")
		}
		haveMap = true
		if tok, err := token(dec); err != nil || tok != json.Delim('{') {
			return nil, bad("weight_map is not an object")
		}
		seen := map[string]string{}
		for dec.More() {
			tok, err := token(dec)
			if err != nil {
				return nil, bad("%v", err)
			}
			tensor, _ := tok.(string)
			tok, err = token(dec)
			if err != nil {
				return nil, bad("%v", err)
			}
			file, ok := tok.(string)
			if !ok {
				return nil, bad("weight_map[%q] is %s, want a shard file name", tensor, describeToken(tok))
			}
			if err := checkShardName(file); err != nil {
				return nil, bad("weight_map[%q]: %v", tensor, err)
			}
			if prev, dup := seen[tensor]; dup {
				return nil, fmt.Errorf("%s: tensor %q: listed twice in weight_map (shards %q and %q)", path, tensor, prev, file)
			}
			seen[tensor] = file
			entries = append(entries, indexEntry{tensor, file})
		}
		if _, err := token(dec); err != nil {
			return nil, bad("%v", err)
		}
	}
	if _, err := token(dec); err != nil {
		return nil, bad("%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, bad("data after the JSON object")
	}
	if !haveMap {
		return nil, bad("no weight_map")
	}
	return entries, nil
}

// checkShardName accepts only a file name in the checkpoint folder: an index
// must not reach outside it.
func checkShardName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) || !fs.ValidPath(name) {
		return fmt.Errorf("shard %q is not a plain file name in the checkpoint folder", name)
	}
	return nil
}

// Dir returns the folder (or single file) the set was opened from.
func (s *Set) Dir() string { return s.dir }

// Files returns the files of the set, sorted by path.
func (s *Set) Files() []*File { return slices.Clone(s.files) }

// Names returns every tensor name of the set, sorted.
func (s *Set) Names() []string { return slices.Clone(s.names) }

// Info returns the description of the named tensor.
func (s *Set) Info(name string) (TensorInfo, bool) {
	f, ok := s.byName[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Info(name)
}

// Tensor returns the named tensor from whichever file holds it.
func (s *Set) Tensor(name string) (Tensor, error) {
	f, ok := s.byName[name]
	if !ok {
		return Tensor{}, fmt.Errorf("%s: tensor %q: not in the checkpoint (%d tensors in %d files)", s.dir, name, len(s.names), len(s.files))
	}
	return f.Tensor(name)
}

// Release is File.Release on the file holding the named tensor.
func (s *Set) Release(name string) {
	if f, ok := s.byName[name]; ok {
		f.Release(name)
	}
}

// Close closes every file of the set and returns the first error.
func (s *Set) Close() error {
	var first error
	for _, f := range s.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
