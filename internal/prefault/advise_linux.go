package prefault

import (
	"os"
	"syscall"
	"unsafe"
)

// madvPopulateWrite is Linux's MADV_POPULATE_WRITE (5.14 and later):
// fault in every page of the range, writable, in one call.
const madvPopulateWrite = 23

// pageSize is the granularity madvise needs its start aligned to.
var pageSize = os.Getpagesize()

// advise populates the whole pages inside b. An older kernel rejects the
// advice (EINVAL); the pages are then faulted on first write as before,
// which is why callers may ignore the error.
func advise(b []byte) error {
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	start := int((uintptr(pageSize) - addr%uintptr(pageSize)) % uintptr(pageSize))
	if len(b)-start < pageSize {
		return nil
	}
	end := len(b) - (len(b)-start)%pageSize
	return syscall.Madvise(b[start:end], madvPopulateWrite)
}
