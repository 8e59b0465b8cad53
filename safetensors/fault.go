package safetensors

import (
	"crypto/sha256"
	"fmt"
	"runtime"
	"runtime/debug"
	"unsafe"
)

// ChangedError is a read of a mapped file that faulted: the file was
// truncated (or rewritten by a program that truncates first) while it was
// mapped, so the kernel has no page for the address and, by default, kills
// the process with SIGBUS. Readers that run with debug.SetPanicOnFault get
// a panic instead, which Fault turns into this error.
type ChangedError struct {
	Path string
}

func (e *ChangedError) Error() string {
	return e.Path + " changed while compresskv was reading it (truncated or rewritten by another program); restore the file and run again"
}

// faultAddr returns the address of a memory fault recovered from a panic:
// with debug.SetPanicOnFault the runtime panics with a runtime.Error
// carrying an Addr method instead of crashing.
func faultAddr(r any) (uintptr, bool) {
	re, ok := r.(runtime.Error)
	if !ok {
		return 0, false
	}
	a, ok := re.(interface{ Addr() uintptr })
	if !ok {
		return 0, false
	}
	return a.Addr(), true
}

// contains reports whether addr is inside the file's mapping.
func (f *File) contains(addr uintptr) bool {
	if !mapped || f.unmap == nil || len(f.data) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(f.data)))
	return addr >= start && addr-start < uintptr(len(f.data))
}

// Fault returns a *ChangedError when r, a value recovered from a panic, is
// a memory fault inside this file's mapping, and nil for anything else
// (which the caller should panic with again: it is a bug, not a file).
func (f *File) Fault(r any) error {
	if addr, ok := faultAddr(r); ok && f.contains(addr) {
		return &ChangedError{Path: f.path}
	}
	return nil
}

// Fault is File.Fault for every file of the set.
func (s *Set) Fault(r any) error {
	for _, f := range s.files {
		if err := f.Fault(r); err != nil {
			return err
		}
	}
	return nil
}

// sumBlock is how many bytes Sum hashes between progress calls.
const sumBlock = 8 << 20

// Sum returns the SHA-256 of the whole file, header included (what
// sha256sum prints for it, and the blob name of a Hugging Face LFS file),
// read from the mapping. progress, when set, is called after every block
// with its length. A file truncated under the mapping gives a
// *ChangedError, not a crash.
func (f *File) Sum(progress func(n int)) (sum [sha256.Size]byte, err error) {
	if f.data == nil {
		return sum, fmt.Errorf("%s: file is closed", f.path)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if err = f.Fault(r); err == nil {
				panic(r)
			}
		}
	}()
	h := sha256.New()
	for off := 0; off < len(f.data); off += sumBlock {
		b := f.data[off:min(off+sumBlock, len(f.data))]
		h.Write(b)
		if progress != nil {
			progress(len(b))
		}
	}
	h.Sum(sum[:0])
	return sum, nil
}
