//go:build unix

package filelock

import (
	"errors"
	"os"
	"syscall"
)

// Supported reports whether locks are enforced on this system.
const Supported = true

// TryLock takes an exclusive lock on f without waiting. It returns ErrHeld
// when another open file description holds it.
func TryLock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return ErrHeld
		default:
			return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
		}
	}
}

// Unlock releases a lock taken by TryLock (closing f releases it too).
func Unlock(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
