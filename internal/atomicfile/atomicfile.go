// Package atomicfile writes output files so that a reader never sees a
// half-written file: data goes to a temporary file in the same directory,
// is synced, and is renamed over the destination, and the directory is
// synced so that the rename itself survives a power cut. An interrupted run
// leaves either the old file or the new one, never a mix; the temporary
// file a killed run leaves behind is removed by the next write of the same
// output.
//
// It must never: leave the destination partly written; remove a temporary
// file another live process is still writing (each writer holds a
// filelock on its temporary file while it writes).
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/compresskv/compresskv/internal/filelock"
)

// WriteFile writes data to path atomically with the given permissions.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// tempPrefix is how the temporary files of path start.
func tempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp-" }

// Write calls fill with a writer on a temporary file next to path and, if
// fill succeeds, syncs the file, renames it to path and syncs the directory.
// On any error the temporary file is removed and path is left untouched.
// Temporary files of path left by killed writers are removed first.
func Write(path string, perm os.FileMode, fill func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, tempPrefix(path)+"*")
	if err != nil {
		return fmt.Errorf("%s: create temporary file: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = filelock.TryLock(tmp); err != nil {
		return fmt.Errorf("%s: lock temporary file: %w", path, err)
	}
	removeStale(path, tmp.Name())
	if err = fill(tmp); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = tmp.Chmod(perm); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("%s: sync: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("%s: rename: %w", path, err)
	}
	// Closing after the rename keeps the lock until the name is gone.
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("%s: close: %w", path, err)
	}
	if err = syncDir(dir); err != nil {
		return fmt.Errorf("%s: sync folder: %w", path, err)
	}
	return nil
}

// removeStale removes the temporary files of path other than own that no
// live writer holds: a writer killed before its rename (SIGKILL, power cut)
// leaves one, unlocked. Failures are ignored: a file that cannot be removed
// costs disk space, not correctness.
func removeStale(path, own string) {
	if !filelock.Supported {
		return
	}
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := tempPrefix(path)
	for _, e := range entries {
		name := filepath.Join(dir, e.Name())
		if !strings.HasPrefix(e.Name(), prefix) || !e.Type().IsRegular() || name == own {
			continue
		}
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		if filelock.TryLock(f) == nil {
			os.Remove(name)
		}
		f.Close()
	}
}

// syncDir syncs a directory so that a rename in it is on disk. File systems
// that cannot sync a directory (EINVAL) give no stronger guarantee to ask
// for, so that is not an error.
var syncDir = func(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}
