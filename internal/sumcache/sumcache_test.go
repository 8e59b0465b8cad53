package sumcache

import (
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// setup writes a file and returns its path, its stat and a cache holding
// sum for it.
func setup(t *testing.T, sum [sha256.Size]byte) (string, os.FileInfo, Cache) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	if err := os.WriteFile(path, []byte("weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	c := Cache{Dir: filepath.Join(dir, "cache")}
	if err := c.Put(path, info, sum); err != nil {
		t.Fatal(err)
	}
	return path, info, c
}

func stat(t *testing.T, path string) os.FileInfo {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestHitAndMisses(t *testing.T) {
	sum := sha256.Sum256([]byte("anything: the cache stores what it is given"))
	path, info, c := setup(t, sum)
	if got, ok := c.Get(path, info); !ok || got != sum {
		t.Fatalf("Get after Put = %x, %v; want %x, true", got, ok, sum)
	}
	// The same file by a relative path and through a symbolic link hits.
	wd, _ := os.Getwd()
	if rel, err := filepath.Rel(wd, path); err == nil {
		if _, ok := c.Get(rel, info); !ok {
			t.Errorf("Get by the relative path %s missed", rel)
		}
	}
	link := filepath.Join(t.TempDir(), "link.safetensors")
	if err := os.Symlink(path, link); err == nil {
		if _, ok := c.Get(link, stat(t, link)); !ok {
			t.Error("Get through a symbolic link missed")
		}
	}
	if _, ok := (Cache{}).Get(path, info); ok {
		t.Error("the zero Cache hit")
	}
	if _, ok := c.Get(filepath.Join(filepath.Dir(path), "other.safetensors"), info); ok {
		t.Error("another path hit")
	}

	// A new modification time misses.
	later := info.ModTime().Add(time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get(path, stat(t, path)); ok {
		t.Error("hit after the modification time changed")
	}
	// So does a new size, with the old modification time put back.
	if err := os.WriteFile(path, []byte("weights, longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get(path, stat(t, path)); ok {
		t.Error("hit after the size changed")
	}
}

// TestRewriteInPlaceMisses: a file rewritten with bytes of the same length
// and its modification time restored (what a careless copy tool does) is
// told apart by its change time, which no user can set back.
func TestRewriteInPlaceMisses(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("inode and change time are keyed on Linux only")
	}
	path, info, c := setup(t, [sha256.Size]byte{1})
	time.Sleep(10 * time.Millisecond) // coarse-clock file systems
	if err := os.WriteFile(path, []byte("WEIGHTS"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	now := stat(t, path)
	if now.Size() != info.Size() || !now.ModTime().Equal(info.ModTime()) {
		t.Fatalf("setup: size %d mtime %v, want %d %v", now.Size(), now.ModTime(), info.Size(), info.ModTime())
	}
	if _, ok := c.Get(path, now); ok {
		t.Error("hit after the file was rewritten in place with its mtime restored")
	}
}

// TestDamagedEntriesMiss: no damaged entry is trusted.
func TestDamagedEntriesMiss(t *testing.T) {
	sum := sha256.Sum256([]byte("x"))
	path, info, c := setup(t, sum)
	files, _ := filepath.Glob(filepath.Join(c.Dir, "*.json"))
	if len(files) != 1 {
		t.Fatalf("cache folder holds %v, want one entry", files)
	}
	name := files[0]
	good, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var e map[string]any
	if err := json.Unmarshal(good, &e); err != nil {
		t.Fatal(err)
	}
	if e["format"] != Format || e["sha256"] != hexOf(sum) || e["size"] != float64(7) {
		t.Fatalf("entry %s", good)
	}
	// A digit of the sum changed (the entry's check no longer matches).
	flipped := strings.Replace(string(good), hexOf(sum)[:4], flip(hexOf(sum)[:4]), 1)
	for _, damaged := range []struct{ name, data string }{
		{"empty", ""},
		{"truncated", string(good[:len(good)/2])},
		{"not json", "sha256 " + hexOf(sum)},
		{"sum digit changed", flipped},
		{"unknown key", strings.Replace(string(good), `"format"`, `"note": 1, "format"`, 1)},
		{"two values", string(good) + string(good)},
		{"huge", strings.Repeat(" ", maxEntrySize+1)},
	} {
		if err := os.WriteFile(name, []byte(damaged.data), 0o644); err != nil {
			t.Fatal(err)
		}
		if got, ok := c.Get(path, info); ok {
			t.Errorf("%s entry: hit with %x", damaged.name, got)
		}
	}
	// An entry with a valid check but another file's path is a miss too
	// (two paths whose names collide cannot borrow each other's sums).
	other := entry{Format: Format, Path: "/elsewhere/model.safetensors", Size: 7, SHA256: hexOf(sum)}
	other.Check = other.check()
	data, _ := json.Marshal(other)
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get(path, info); ok {
		t.Error("an entry for another path hit")
	}
	// Put repairs the entry.
	if err := c.Put(path, info, sum); err != nil {
		t.Fatal(err)
	}
	if got, ok := c.Get(path, info); !ok || got != sum {
		t.Errorf("after Put: %x, %v", got, ok)
	}
}

func hexOf(sum [sha256.Size]byte) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 0, 2*len(sum))
	for _, x := range sum {
		b = append(b, digits[x>>4], digits[x&15])
	}
	return string(b)
}

// flip changes every hex digit of s to another one.
func flip(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '0' {
			b[i] = '1'
		} else {
			b[i] = '0'
		}
	}
	return string(b)
}

// TestMinSize: a file below MinSize gets no entry and never hits, so
// throw-away checkpoints leave nothing in the cache; at MinSize it does.
func TestMinSize(t *testing.T) {
	sum := sha256.Sum256([]byte("small"))
	path, info, open := setup(t, sum) // a 7-byte file, cached without a floor
	small := Cache{Dir: t.TempDir(), MinSize: 8}
	if err := small.Put(path, info, sum); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(small.Dir); len(entries) != 0 {
		t.Errorf("Put of a 7-byte file with MinSize 8 wrote %d entries", len(entries))
	}
	if _, ok := (Cache{Dir: open.Dir, MinSize: 8}).Get(path, info); ok {
		t.Error("Get of a 7-byte file with MinSize 8 hit an existing entry")
	}
	if _, ok := (Cache{Dir: open.Dir, MinSize: 7}).Get(path, info); !ok {
		t.Error("Get of a 7-byte file with MinSize 7 missed")
	}
}
