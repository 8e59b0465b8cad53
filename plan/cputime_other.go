//go:build !unix

package plan

import "time"

// CPUTime is not available here: callers fall back to wall time.
func CPUTime() (time.Duration, bool) { return 0, false }
