package plan

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// LoadedRunQueue is the share of the CPUs that other work may keep busy
// (the 1-minute load average over the CPU count) before the machine looks
// loaded: above it a measurement gets visibly less than its threads.
const LoadedRunQueue = 0.5

// MachineLoad returns the 1-minute load average (from /proc/loadavg) and
// the CPU count, and whether the platform reports a load average.
func MachineLoad() (load float64, cpus int, ok bool) {
	cpus = runtime.NumCPU()
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, cpus, false
	}
	load, err = parseLoadAvg(string(data))
	return load, cpus, err == nil
}

// parseLoadAvg reads the first field of /proc/loadavg ("0.92 2.32 6.48
// 2/301 12345").
func parseLoadAvg(text string) (float64, error) {
	fields := strings.Fields(text)
	if len(fields) == 0 {
		return 0, fmt.Errorf("/proc/loadavg: empty")
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("/proc/loadavg: first field %q is not a load average", fields[0])
	}
	return v, nil
}

// LooksLoaded says whether a measurement should not be trusted as a quiet
// machine's: it got less than LoadedShare of its threads' CPU time (share
// > 0 when measured), or other work kept more than LoadedRunQueue of the
// CPUs busy before it started (load >= 0 when known).
func LooksLoaded(share, load float64, cpus int) bool {
	return (share > 0 && share < LoadedShare) || (load >= 0 && cpus > 0 && load > LoadedRunQueue*float64(cpus))
}
