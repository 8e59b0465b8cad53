//go:build race

package kernels

// raceEnabled: the race detector makes sync.Pool drop items on purpose.
const raceEnabled = true
