package prefault

import (
	"errors"
	"syscall"
	"testing"
	"unsafe"
)

// advise must leave every page of a fresh mapping resident, which without
// it only a write to each page would.
func TestAdvisePopulates(t *testing.T) {
	const n = 64 * 4096
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(b)
	if r := resident(t, b); r != 0 {
		t.Fatalf("a fresh mapping has %d resident pages, want 0", r)
	}
	if err := advise(b); errors.Is(err, syscall.EINVAL) {
		t.Skip("this kernel has no MADV_POPULATE_WRITE (Linux 5.14+); pages are faulted on first write")
	} else if err != nil {
		t.Fatal(err)
	}
	if r := resident(t, b); r != n/pageSize {
		t.Fatalf("after advise %d of %d pages are resident", r, n/pageSize)
	}
}

// resident counts the resident pages of b (mincore).
func resident(t *testing.T, b []byte) int {
	vec := make([]byte, (len(b)+pageSize-1)/pageSize)
	_, _, e := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0])))
	if e != 0 {
		t.Fatal(e)
	}
	r := 0
	for _, v := range vec {
		r += int(v & 1)
	}
	return r
}
