package filelock

import "errors"

// ErrHeld is returned by TryLock when another process (or another open of
// the same file in this one) holds the lock.
var ErrHeld = errors.New("locked by another run")
