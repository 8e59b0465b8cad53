// Package kernels holds the arithmetic hot loops of the forward pass:
// matrix multiplication against stored-dtype weights (a blocked GEMM for
// prefill, a bandwidth-bound GEMV for decode), dot products and AXPYs over
// float32 and bfloat16 KV-cache rows, softmax, SiLU, and probes of the
// machine's FMA and memory ceilings. Every kernel has a plain-Go twin that
// tests compare the assembly (AVX-512 or AVX2+FMA on amd64, chosen at start
// by CPU features; the purego build tag forces Go everywhere) against.
//
// Each kernel family is one Go file, holding its entry points and pure-Go
// twin, beside one assembly file of the same name: dot, axpy, widen
// (bfloat16/float16 to float32), gemm (the micro-kernels), pack (weight
// panels), gemmbf16 (the bf16 dot-product GEMM, VDPBF16PS), gemv, softmax
// (max and exp), silu and peak (the FMA probe and GEMMRate).
// kernels_amd64.go declares the assembly and picks the kernel set.
//
// Work is split across a package-level pool of goroutines (SetThreads). The
// split never changes the order of floating-point additions, so results are
// bit-identical for every thread count; they may differ in the last bits
// between kernel implementations (assembly versus purego).
//
// The package must never allocate in a hot path nor know anything about
// models: it sees slices and shapes only.
package kernels
