// Package kernels holds the arithmetic hot loops of the forward pass:
// matrix multiplication against stored-dtype weights, dot products, and the
// small vector operations around them. Every kernel has a plain-Go reference
// that tests compare the fast paths against.
//
// The package must never allocate in a hot path nor know anything about
// models: it sees slices and shapes only.
package kernels
