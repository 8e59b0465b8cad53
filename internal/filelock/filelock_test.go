package filelock

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestTryLockExcludes(t *testing.T) {
	if !Supported {
		t.Skip("no flock on this system")
	}
	path := filepath.Join(t.TempDir(), "x.lock")
	open := func() *os.File {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	a, b := open(), open()
	defer a.Close()
	defer b.Close()
	if err := TryLock(a); err != nil {
		t.Fatal(err)
	}
	// Two opens are two file descriptions: the second is refused, at once.
	if err := TryLock(b); !errors.Is(err, ErrHeld) {
		t.Fatalf("second TryLock: %v, want ErrHeld", err)
	}
	if err := Unlock(a); err != nil {
		t.Fatal(err)
	}
	if err := TryLock(b); err != nil {
		t.Fatalf("TryLock after Unlock: %v", err)
	}
	// Closing the holder releases the lock too.
	b.Close()
	if err := TryLock(a); err != nil {
		t.Fatalf("TryLock after the holder closed: %v", err)
	}
}
