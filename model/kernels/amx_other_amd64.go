//go:build amd64 && !linux && !purego

package kernels

// requestAMX reports false: AMX is used only where the tile state's
// permission protocol is known (Linux).
func requestAMX() bool { return false }
