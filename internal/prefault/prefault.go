// Package prefault allocates large buffers with their memory pages mapped
// in one system call instead of one page fault per 4 KB on first write.
//
// On a virtual machine a page fault is slow: on the project machine
// writing fresh memory page by page ran at 3.4-3.6 ms per MB, and
// populating the same memory with madvise(MADV_POPULATE_WRITE) at 0.16
// ms per MB. A bf16 model load packs its 2 GB of weight panels into fresh
// memory, and a session's first prefill writes its whole KV cache and
// scratch, so both paid seconds of faults.
package prefault

import "unsafe"

// minBytes is the smallest buffer worth a system call: smaller ones come
// from the allocator's size classes (up to 32 KB), usually in pages
// already mapped. Above them a fault per 4 KB page costs far more than the
// call (a fork of a 1000-token TinyLlama-shaped session, 176 buffers of
// 225 KB, took 200-270 ms with a threshold of 1 MB).
const minBytes = 64 << 10

// Make returns make([]T, n, c) (c >= n), with the pages of its backing
// array mapped when it is large. T must hold no pointers.
func Make[T any](n, c int) []T {
	s := make([]T, n, max(c, n))
	populate(s[:cap(s)])
	return s
}

// Grow returns s with room for at least n more elements, as slices.Grow,
// with a new backing array's pages mapped before s is copied into it.
func Grow[T any](s []T, n int) []T {
	if n <= cap(s)-len(s) {
		return s
	}
	// At least a quarter more, as append grows large slices, so growth
	// by small steps stays amortised without doubling a KV cache.
	t := Make[T](len(s), max(len(s)+n, cap(s)+cap(s)/4))
	copy(t, s)
	return t
}

// populate maps the pages of s's memory when s is large.
func populate[T any](s []T) {
	var zero T
	size := len(s) * int(unsafe.Sizeof(zero))
	if size < minBytes {
		return
	}
	_ = advise(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), size)) // refused: faulted on first write, as without
}
