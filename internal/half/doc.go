// Package half converts between float32 and the two 16-bit float formats
// found in checkpoints and the KV cache: bfloat16 (BF16) and IEEE 754
// half precision (F16). Widening is exact; narrowing rounds to nearest,
// ties to even, and keeps NaN a NaN.
//
// It is a leaf: the lowest layers (safetensors) and the kernels both use it,
// so it must never import another compresskv package. It holds only scalar
// conversions; vectorised loops belong in model/kernels.
package half
