//go:build unix

package safetensors

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapFile maps size bytes of fd read-only. The pages are shared with the
// page cache, so opening a checkpoint costs no copy and no heap.
func mapFile(fd *os.File, size int) ([]byte, func() error, error) {
	data, err := unix.Mmap(int(fd.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return unix.Munmap(data) }, nil
}

// release drops the whole pages inside b from the resident set. The
// mapping is shared and read-only, so its pages are clean copies of the
// file: MADV_DONTNEED only unmaps them, and a later read faults them back.
func release(b []byte) {
	if len(b) == 0 {
		return
	}
	page := uintptr(os.Getpagesize())
	start := uintptr(unsafe.Pointer(&b[0]))
	lo, hi := (start+page-1)&^(page-1), (start+uintptr(len(b)))&^(page-1)
	if hi <= lo {
		return
	}
	_ = unix.Madvise(b[lo-start:hi-start], unix.MADV_DONTNEED) // advice only: an error changes nothing
}

// mapped is true where Open maps files rather than reading them.
const mapped = true
