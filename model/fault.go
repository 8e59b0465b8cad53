package model

import (
	"runtime/debug"
	"sync/atomic"
)

// A loaded model's matrices view its memory-mapped weight files. When a
// file is truncated (or rewritten by a program that truncates first) while
// the model runs, the next read of a page past the new end faults: by
// default SIGBUS kills the process with a Go fault dump, mid-run. Instead,
// every entry point that reads the weights (Load's conversions, Prefill,
// Step, Logits) runs its goroutine with debug.SetPanicOnFault, the kernel
// worker pool carries a fault on a helper goroutine back to that caller
// (see package kernels), and recoverFault turns the panic into the
// safetensors.ChangedError naming the file, once per call, not per dot
// product. The model is then broken for good: every later call of any of
// its sessions returns the same error, since its weights cannot be
// trusted.

// faultGuard starts a guarded call on the current goroutine; defer
// m.recoverFault(faultGuard(), &err) right after it.
func faultGuard() (restore bool) { return debug.SetPanicOnFault(true) }

// recoverFault ends a guarded call: it restores the goroutine's fault
// setting and, when the call panicked with a memory fault inside one of
// the model's mapped files, records the model as broken and sets *err to
// the error naming the file. Any other panic is raised again: it is a bug.
// It must be deferred directly (it calls recover).
func (m *Model) recoverFault(restore bool, err *error) {
	debug.SetPanicOnFault(restore)
	r := recover()
	if r == nil {
		return
	}
	if m.set == nil {
		panic(r)
	}
	ferr := m.set.Fault(r)
	if ferr == nil {
		panic(r)
	}
	m.broken.CompareAndSwap(nil, &brokenBy{ferr})
	*err = m.brokenErr()
}

// brokenBy is the fault that broke a model.
type brokenBy struct{ err error }

// brokenErr returns the error of the fault that broke the model, or nil.
func (m *Model) brokenErr() error {
	if b := m.broken.Load(); b != nil {
		return b.err
	}
	return nil
}

// faultState is the part of Model that remembers a fault.
type faultState struct {
	broken atomic.Pointer[brokenBy]
}
