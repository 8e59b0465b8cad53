package safetensors

import (
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/bad from the test's corpus")

// badFile is a hand-made invalid file and the substring that its error, and
// no other case's error, must contain.
type badFile struct {
	name string // file name under testdata/bad, without extension
	data []byte
	want string
}

func badCorpus() []badFile {
	const f32x2 = `"dtype":"F32","shape":[2]`
	lengthOnly := func(n uint64, extra int) []byte {
		b := binary.LittleEndian.AppendUint64(nil, n)
		return append(b, make([]byte, extra)...)
	}
	return []badFile{
		{"empty", nil, "file is 0 bytes, shorter than the 8-byte header length prefix"},
		{"truncated", []byte{1, 0, 0, 0, 0}, "file is 5 bytes, shorter than the 8-byte header length prefix"},
		{"header-length-2-60", lengthOnly(1<<60, 8), "header length 1152921504606846976 exceeds the 100000000-byte limit"},
		{"header-past-end", lengthOnly(1000, 20), "header length 1000 runs past the end of the file (20 bytes after"},
		{"bad-json", rawFile(`{"a":{"dtype":`, 0), "header is not valid JSON"},
		{"not-object", rawFile(`[1,2]`, 0), `header is not a JSON object (starts with "[")`},
		{"trailing-json", rawFile(`{} {}`, 0), "header has data after its JSON object"},
		{"not-utf8", rawFile("{\"\xff\":1}", 0), "header is not valid UTF-8"},
		{"metadata-not-strings", rawFile(`{"__metadata__":{"format":1}}`, 0), `__metadata__ is not a map of strings to strings: value of "format" is number 1`},
		{"metadata-twice", rawFile(`{"__metadata__":{},"__metadata__":{}}`, 0), "__metadata__ appears twice"},
		{"entry-not-object", rawFile(`{"a":[1]}`, 0), `tensor "a": entry is "[", want an object`},
		{"missing-dtype", rawFile(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, 8), `tensor "a": entry is missing "dtype"`},
		{"missing-shape", rawFile(`{"a":{"dtype":"F32","data_offsets":[0,8]}}`, 8), `tensor "a": entry is missing "shape"`},
		{"missing-offsets", rawFile(`{"a":{`+f32x2+`}}`, 8), `tensor "a": entry is missing "data_offsets"`},
		{"unknown-dtype", rawFile(`{"a":{"dtype":"F99","shape":[2],"data_offsets":[0,8]}}`, 8), `tensor "a": unknown dtype "F99"`},
		{"dtype-not-string", rawFile(`{"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}`, 8), `tensor "a": dtype is number 4, want a string`},
		{"negative-dim", rawFile(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, 8), `tensor "a": negative dimension -2`},
		{"fractional-dim", rawFile(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}}`, 8), `tensor "a": shape: element 0 (1.5) is not an integer`},
		{"huge-dim", rawFile(`{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}`, 8), "(99999999999999999999) overflows 64 bits"},
		{"shape-overflow", rawFile(`{"a":{"dtype":"F32","shape":[65536,65536,65536,65536],"data_offsets":[0,8]}}`, 8), `tensor "a": shape [65536 65536 65536 65536] of F32 overflows`},
		{"offsets-count", rawFile(`{"a":{`+f32x2+`,"data_offsets":[0,8,16]}}`, 8), `tensor "a": data_offsets has 3 numbers, want [begin, end]`},
		{"offsets-negative", rawFile(`{"a":{`+f32x2+`,"data_offsets":[-8,0]}}`, 8), `tensor "a": negative data_offsets [-8 0]`},
		{"offsets-reversed", rawFile(`{"a":{`+f32x2+`,"data_offsets":[8,0]}}`, 8), `tensor "a": data_offsets [8, 0] are reversed`},
		{"offsets-past-end", rawFile(`{"a":{`+f32x2+`,"data_offsets":[8,16]}}`, 8), `tensor "a": data_offsets [8, 16] end past the data area (8 bytes)`},
		{"wrong-dtype-size", rawFile(`{"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,8]}}`, 8), `tensor "a": data_offsets [0, 8] span 8 bytes, but BF16 [2] needs 4 (size mismatch)`},
		{"duplicate-key-in-entry", rawFile(`{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8), `tensor "a": key "dtype" appears twice in the entry`},
		{"duplicate-names", rawFile(`{"a":{`+f32x2+`,"data_offsets":[0,8]},"a":{`+f32x2+`,"data_offsets":[8,16]}}`, 16), `tensor "a": duplicate name: appears twice in the header`},
		{"overlapping", rawFile(`{"a":{`+f32x2+`,"data_offsets":[0,8]},"b":{`+f32x2+`,"data_offsets":[4,12]}}`, 12), `tensor "b": data_offsets [4, 12] overlap tensor "a", which ends at 8`},
		{"zero-size-inside", rawFile(`{"a":{`+f32x2+`,"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}`, 8), `tensor "z": data_offsets [4, 4] overlap tensor "a"`},
		{"gap", rawFile(`{"a":{`+f32x2+`,"data_offsets":[0,8]},"b":{`+f32x2+`,"data_offsets":[12,20]}}`, 20), `tensor "b": gap: bytes [8, 12) of the data area before it belong to no tensor`},
		{"uncovered-tail", rawFile(`{"a":{`+f32x2+`,"data_offsets":[0,8]}}`, 12), "data area not fully covered: its last 4 bytes (from offset 8) belong to no tensor"},
	}
}

// TestBadFiles opens every bad file and checks that it fails with its own
// message, naming the file first.
func TestBadFiles(t *testing.T) {
	corpus := badCorpus()
	dir := t.TempDir()
	errs := make([]string, len(corpus))
	for i, bf := range corpus {
		path := filepath.Join(dir, bf.name+".safetensors")
		if err := os.WriteFile(path, bf.data, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := Open(path)
		if err == nil {
			f.Close()
			t.Errorf("%s: Open succeeded", bf.name)
			continue
		}
		errs[i] = err.Error()
		if !strings.HasPrefix(errs[i], path+": ") {
			t.Errorf("%s: error does not start with the path: %v", bf.name, err)
		}
		if !strings.Contains(errs[i], bf.want) {
			t.Errorf("%s: error %q\n\tdoes not contain %q", bf.name, err, bf.want)
		}
		if len(errs[i]) > 400 {
			t.Errorf("%s: error is %d bytes long", bf.name, len(errs[i]))
		}
	}
	for i, bf := range corpus {
		for j := range corpus {
			if i != j && strings.Contains(errs[j], bf.want) {
				t.Errorf("case %s's message %q also matches case %s: messages must be distinct", bf.name, bf.want, corpus[j].name)
			}
		}
	}
}

// TestBadFilesCommitted opens the committed copies under testdata/bad, so
// the corpus also guards against changes to the generator. Run with
// -update to rewrite them.
func TestBadFilesCommitted(t *testing.T) {
	corpus := badCorpus()
	dir := filepath.Join("testdata", "bad")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		old, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
		for _, p := range old {
			os.Remove(p)
		}
		for _, bf := range corpus {
			if err := os.WriteFile(filepath.Join(dir, bf.name+".safetensors"), bf.data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(p), ".safetensors"))
	}
	for _, bf := range corpus {
		if !slices.Contains(names, bf.name) {
			t.Errorf("testdata/bad/%s.safetensors missing; run go test -run TestBadFilesCommitted -update", bf.name)
			continue
		}
		path := filepath.Join(dir, bf.name+".safetensors")
		f, err := Open(path)
		if err == nil {
			f.Close()
			t.Errorf("%s: Open succeeded", path)
		} else if !strings.Contains(err.Error(), bf.want) {
			t.Errorf("%s: error %q\n\tdoes not contain %q", path, err, bf.want)
		}
	}
	if len(names) != len(corpus) {
		t.Errorf("testdata/bad holds %d files, the corpus has %d cases; run with -update", len(names), len(corpus))
	}
}
