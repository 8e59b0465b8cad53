//go:build amd64 && !purego

package kernels

import "syscall"

// requestAMX asks Linux for the AMX tile state (arch_prctl
// ARCH_REQ_XCOMP_PERM, XTILEDATA): without the grant the first tile
// instruction faults. The grant is for the whole process; the kernel
// saves the tiles on context switches and signals.
func requestAMX() bool {
	const archReqXcompPerm, xfeatureXtiledata = 0x1023, 18
	_, _, errno := syscall.RawSyscall(syscall.SYS_ARCH_PRCTL, archReqXcompPerm, xfeatureXtiledata, 0)
	return errno == 0
}
