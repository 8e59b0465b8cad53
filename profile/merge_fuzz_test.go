package profile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/profile/schema"
)

// shardSeeds writes two finished shard files of a small run (testHeader's
// model, every probe succeeding) and returns their bytes.
func shardSeeds(f *testing.F) [2][]byte {
	dir := f.TempDir()
	h := testHeader()
	var out [2][]byte
	for k := range 2 {
		sh := Shard{Index: k, Count: 2}
		hs := h
		hs.Shard = sh
		path := filepath.Join(dir, sh.String()[:1]+".jsonl")
		c, err := OpenCheckpoint(path, hs, true)
		if err != nil {
			f.Fatal(err)
		}
		for _, i := range h.Indices {
			if sh.Has(i) {
				if err := c.Append(testRecord(i, true)); err != nil {
					f.Fatal(err)
				}
			}
		}
		if err := c.Finish(); err != nil {
			f.Fatal(err)
		}
		if out[k], err = os.ReadFile(path); err != nil {
			f.Fatal(err)
		}
	}
	return out
}

// FuzzMerge checks merge's cross-file checks on two shard files of any
// content: reading and merging never panic, every error is one line naming
// the files, and a merge that succeeds gives a valid profile.
func FuzzMerge(f *testing.F) {
	seeds := shardSeeds(f)
	f.Add(seeds[0], seeds[1])
	f.Add(seeds[0], seeds[0])
	f.Add(seeds[1], []byte(strings.Replace(string(seeds[0]), `"layers":2`, `"layers":3`, 1)))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var parts []*Partial
		for i, data := range [][]byte{a, b} {
			p, err := ParsePartial(data, []string{"a.jsonl", "b.jsonl"}[i])
			if err != nil {
				return
			}
			parts = append(parts, p)
		}
		p, err := Merge(parts)
		if err != nil {
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, ".jsonl") && !strings.HasPrefix(msg, "merge of 2 files: ") {
				t.Fatalf("merge error %q is not one line naming the files", msg)
			}
			return
		}
		if err := schema.Validate(p); err != nil {
			t.Fatalf("merge accepted the shards but wrote an invalid profile: %v", err)
		}
	})
}
