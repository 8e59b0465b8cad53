package plan

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// RunQueueWait returns the time this process's threads have spent
// runnable but waiting for a CPU (the second field of every
// /proc/self/task/*/schedstat), and whether the platform reports it. Over
// a stretch of work, CPU time over CPU time plus this wait is the share of
// the CPU the work got when it wanted one: 1 on a quiet machine whatever
// the number of threads the work keeps busy.
func RunQueueWait() (time.Duration, bool) {
	files, err := filepath.Glob("/proc/self/task/*/schedstat")
	if err != nil || len(files) == 0 {
		return 0, false
	}
	var total int64
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue // a thread that exited meanwhile
		}
		fields := strings.Fields(string(data))
		if len(fields) < 2 {
			return 0, false
		}
		wait, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return 0, false
		}
		total += wait
	}
	return time.Duration(total), true
}

// StartClock takes the snapshot a run's quiet time is measured from.
func StartClock() Clock { return snapshot() }

// Since returns the wall time since the clock started, the time the same
// work takes on a quiet machine and the share of the CPU it got when it
// wanted one (see quietSince).
func (u Clock) Since(threads int) (wall, quiet time.Duration, share float64) {
	return u.quietSince(threads)
}

// Report says how long the work since the clock started took, and on a
// quiet machine: the line a run prints at its end, to set against its plan.
func (u Clock) Report(threads int) string {
	wall, quiet, share := u.quietSince(threads)
	return fmt.Sprintf("took %s (%s on a quiet machine: the threads got a CPU %.0f %% of the time they wanted one)",
		roundDuration(wall), roundDuration(quiet), 100*share)
}

// Clock is a snapshot of the wall clock, the process's CPU time and its
// run-queue wait, to say how long the work since took on a quiet machine
// (Since).
type Clock struct {
	cpu, wait time.Duration
	at        time.Time
	ok        bool // CPU time known
	waitOK    bool // run-queue wait known
}

func snapshot() Clock {
	u := Clock{at: time.Now()}
	u.cpu, u.ok = CPUTime()
	u.wait, u.waitOK = RunQueueWait()
	return u
}

// quietSince returns the wall time since u and the time the same work
// takes on a quiet machine, with the share of the CPU it got: the wall
// time scaled by CPU / (CPU + run-queue wait) where the platform reports
// both; else CPU time over threads when shorter than the wall time (exact
// when the work keeps every thread busy, optimistic when it does not).
func (u Clock) quietSince(threads int) (wall, quiet time.Duration, share float64) {
	now := snapshot()
	wall = now.at.Sub(u.at)
	quiet, share = wall, 1
	if !u.ok || !now.ok {
		return wall, quiet, share
	}
	cpu := now.cpu - u.cpu
	if u.waitOK && now.waitOK {
		if wait := max(now.wait-u.wait, 0); cpu+wait > 0 {
			share = float64(cpu) / float64(cpu+wait)
			return wall, time.Duration(float64(wall) * share), share
		}
		return wall, quiet, share
	}
	if q := cpu / time.Duration(max(threads, 1)); q > 0 && wall > 0 {
		share = min(float64(q)/float64(wall), 1)
		quiet = min(q, wall)
	}
	return wall, quiet, share
}
