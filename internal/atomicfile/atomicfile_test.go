package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/compresskv/compresskv/internal/filelock"
)

func TestWriteFileReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.json")
	if err := WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "new" {
		t.Fatalf("got %q, %v; want \"new\"", got, err)
	}
}

func TestWriteFailureKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.json")
	if err := WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(path, 0o644, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want wrapped boom", err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != "old" {
		t.Fatalf("file = %q after failed write, want \"old\"", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary file left behind: %v", entries)
	}
}

func TestWriteRemovesStaleTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.json")
	// What a writer killed before its rename leaves: an unlocked temporary
	// file of the same output. Another output's temporary file, and one a
	// live writer holds, stay.
	stale := filepath.Join(dir, ".p.json.tmp-123456")
	other := filepath.Join(dir, ".q.json.tmp-123456")
	held := filepath.Join(dir, ".p.json.tmp-999999")
	for _, name := range []string{stale, other, held} {
		if err := os.WriteFile(name, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h, err := os.Open(held)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := filelock.TryLock(h); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	var names []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{".p.json.tmp-999999", ".q.json.tmp-123456", "p.json"}
	if !filelock.Supported {
		want = []string{".p.json.tmp-123456", ".p.json.tmp-999999", ".q.json.tmp-123456", "p.json"}
	}
	if !slices.Equal(names, want) {
		t.Fatalf("folder holds %v, want %v", names, want)
	}
}

func TestWriteSyncsTheFolderAfterRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.json")
	var synced []string
	defer func(f func(string) error) { syncDir = f }(syncDir)
	syncDir = func(d string) error {
		// The rename is done when the folder is synced.
		if got, err := os.ReadFile(path); err != nil || string(got) != "new" {
			t.Errorf("folder synced before the rename: %q, %v", got, err)
		}
		synced = append(synced, d)
		return nil
	}
	if err := WriteFile(path, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(synced, []string{dir}) {
		t.Fatalf("synced folders %v, want [%s]", synced, dir)
	}
	syncDir = func(string) error { return errors.New("disk gone") }
	if err := WriteFile(path, []byte("x"), 0o644); err == nil || err.Error() != path+": sync folder: disk gone" {
		t.Fatalf("a failed folder sync: %v", err)
	}
}
