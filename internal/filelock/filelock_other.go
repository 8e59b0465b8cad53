//go:build !unix

package filelock

import "os"

// Supported reports whether locks are enforced on this system.
const Supported = false

// TryLock does nothing where flock(2) is missing: runs are not kept apart.
func TryLock(f *os.File) error { return nil }

// Unlock does nothing where flock(2) is missing.
func Unlock(f *os.File) error { return nil }
