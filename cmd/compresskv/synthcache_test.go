package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/compresskv/compresskv/model/synth"
)

// fakeSynthWriter writes placeholder files under synth.Files' names and
// counts its calls; with fail set it writes one file and fails.
type fakeSynthWriter struct {
	calls atomic.Int32
	fail  bool
}

func (w *fakeSynthWriter) write(dir string, o synth.Options) error {
	w.calls.Add(1)
	for i, name := range synth.Files {
		if w.fail && i == 1 {
			return errors.New("disk full")
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte("seed "+synthCacheName(o)), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// leftovers lists what is in root besides the finished model folders.
func leftovers(t *testing.T, root string, keep ...string) []string {
	t.Helper()
	entries, err := os.ReadDir(root)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var extra []string
	for _, e := range entries {
		if !slices.Contains(keep, e.Name()) {
			extra = append(extra, e.Name())
		}
	}
	return extra
}

func TestCachedSynthModel(t *testing.T) {
	o := synth.DefaultOptions()
	name := synthCacheName(o)
	if want := fmt.Sprintf("synth-r%d-seed1", synth.Revision); name != want {
		t.Fatalf("cache name %q, want %q", name, want)
	}

	t.Run("written once, then reused", func(t *testing.T) {
		root := filepath.Join(t.TempDir(), "compresskv")
		w := &fakeSynthWriter{}
		for i := 0; i < 3; i++ {
			dir, err := cachedSynthModel(root, o, w.write)
			if err != nil {
				t.Fatal(err)
			}
			if dir != filepath.Join(root, name) || !synthComplete(dir) {
				t.Fatalf("dir %s (complete %v), want %s", dir, synthComplete(dir), filepath.Join(root, name))
			}
		}
		if n := w.calls.Load(); n != 1 {
			t.Errorf("writer called %d times, want 1", n)
		}
		if extra := leftovers(t, root, name); extra != nil {
			t.Errorf("left in the cache: %v", extra)
		}
	})

	t.Run("incomplete folder is replaced", func(t *testing.T) {
		root := t.TempDir()
		final := filepath.Join(root, name)
		if err := os.MkdirAll(final, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(final, "config.json"), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
		w := &fakeSynthWriter{}
		dir, err := cachedSynthModel(root, o, w.write)
		if err != nil || dir != final || !synthComplete(final) || w.calls.Load() != 1 {
			t.Fatalf("dir %s, err %v, complete %v, calls %d", dir, err, synthComplete(final), w.calls.Load())
		}
	})

	t.Run("failed write leaves nothing", func(t *testing.T) {
		root := t.TempDir()
		w := &fakeSynthWriter{fail: true}
		if _, err := cachedSynthModel(root, o, w.write); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("err %v, want the writer's", err)
		}
		if extra := leftovers(t, root); extra != nil {
			t.Errorf("a failed write left %v", extra)
		}
	})

	t.Run("concurrent runs share one model", func(t *testing.T) {
		root := t.TempDir()
		w := &fakeSynthWriter{}
		var wg sync.WaitGroup
		dirs := make([]string, 6)
		errs := make([]error, 6)
		for i := range dirs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				dirs[i], errs[i] = cachedSynthModel(root, o, w.write)
			}()
		}
		wg.Wait()
		for i := range dirs {
			if errs[i] != nil || dirs[i] != filepath.Join(root, name) {
				t.Errorf("run %d: %s, %v", i, dirs[i], errs[i])
			}
		}
		if !synthComplete(filepath.Join(root, name)) {
			t.Error("no complete model after concurrent writes")
		}
		if extra := leftovers(t, root, name); extra != nil {
			t.Errorf("left in the cache: %v", extra)
		}
	})

	t.Run("unwritable cache", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "a-file")
		if err := os.WriteFile(file, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := cachedSynthModel(filepath.Join(file, "compresskv"), o, (&fakeSynthWriter{}).write); err == nil {
			t.Fatal("a cache under a file worked")
		}
	})
}

// TestSyntheticModelDirFallback: with the cache folder unusable the model
// goes into a temporary folder that cleanup removes.
func TestSyntheticModelDirFallback(t *testing.T) {
	w := &fakeSynthWriter{}
	defer func(prev func(string, synth.Options) error) { writeSynthModel = prev }(writeSynthModel)
	writeSynthModel = w.write

	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	dir, cleanup, err := syntheticModelDir()
	if err != nil || dir != filepath.Join(cache, "compresskv", synthCacheName(synth.DefaultOptions())) {
		t.Fatalf("cached: %s, %v", dir, err)
	}
	cleanup()
	if !synthComplete(dir) {
		t.Fatal("cleanup removed the cached model")
	}

	file := filepath.Join(t.TempDir(), "not-a-folder")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_CACHE_HOME", file)
	dir, cleanup, err = syntheticModelDir()
	if err != nil || !synthComplete(dir) || strings.HasPrefix(dir, file) {
		t.Fatalf("fallback: %s, %v", dir, err)
	}
	cleanup()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cleanup left %s: %v", dir, err)
	}
	if n := w.calls.Load(); n != 2 {
		t.Errorf("writer called %d times, want 2", n)
	}
}
