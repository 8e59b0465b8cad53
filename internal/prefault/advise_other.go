//go:build !linux

package prefault

// advise does nothing off Linux: pages are faulted on first write.
func advise([]byte) error { return nil }
