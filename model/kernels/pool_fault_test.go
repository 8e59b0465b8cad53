//go:build unix

package kernels

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// goroutineID is the number runtime.Stack prints for the current goroutine.
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	return string(bytes.Fields(buf)[1])
}

// TestFaultOnHelperReachesCaller: a unit that reads a page of a file
// truncated under its mapping, on a helper goroutine, does not kill the
// process: the caller (running with SetPanicOnFault, as model's entry
// points do) recovers a runtime.Error whose Addr is in the mapping. Units
// on the caller are slowed down so that a helper takes some.
func TestFaultOnHelperReachesCaller(t *testing.T) {
	if Threads() < 2 {
		t.Skip("needs two kernel threads")
	}
	path := filepath.Join(t.TempDir(), "weights")
	const size = 1 << 20
	if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	fd, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := unix.Mmap(int(fd.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	fd.Close()
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	defer unix.Munmap(data)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	caller := goroutineID()
	var helperRead atomic.Bool
	var sink atomic.Int64
	recovered := func() (r any) {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer func() { r = recover() }()
		ParallelFor(64, 2, func(_, i int) {
			if goroutineID() == caller {
				time.Sleep(time.Millisecond)
				return
			}
			helperRead.Store(true)
			sink.Add(int64(data[i*4096]))
		})
		return nil
	}()
	if !helperRead.Load() {
		t.Skip("no unit ran on a helper")
	}
	fault, ok := recovered.(interface{ Addr() uintptr })
	if _, isRuntime := recovered.(runtime.Error); !ok || !isRuntime {
		t.Fatalf("recovered %v (%T), want the fault's runtime.Error", recovered, recovered)
	}
	start := uintptr(unsafe.Pointer(&data[0]))
	if a := fault.Addr(); a < start || a >= start+size {
		t.Fatalf("fault address %#x outside the mapping [%#x, %#x)", a, start, start+size)
	}
	// The pool still works after the fault.
	var n atomic.Int64
	ParallelFor(100, 2, func(_, i int) { n.Add(int64(i)) })
	if n.Load() != 4950 {
		t.Fatalf("after the fault, ParallelFor summed %d, want 4950", n.Load())
	}
}

// TestUnitPanicKeepsItsStack: a bug (not a fault) in a unit on a helper
// is raised on the caller with the helper's stack in the message.
func TestUnitPanicKeepsItsStack(t *testing.T) {
	if Threads() < 2 {
		t.Skip("needs two kernel threads")
	}
	caller := goroutineID()
	var helperRan atomic.Bool
	r := func() (r any) {
		defer func() { r = recover() }()
		ParallelFor(64, 2, func(_, i int) {
			if goroutineID() == caller {
				time.Sleep(time.Millisecond)
				return
			}
			helperRan.Store(true)
			panic("unit bug")
		})
		return nil
	}()
	if !helperRan.Load() {
		t.Skip("no unit ran on a helper")
	}
	msg, ok := r.(string)
	if !ok || !strings.HasPrefix(msg, "unit bug\n\n[kernel unit panicked on goroutine:]\n") || !strings.Contains(msg, "TestUnitPanicKeepsItsStack") {
		t.Fatalf("recovered %q, want the panic value and the helper's stack", r)
	}
}
