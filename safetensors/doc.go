// Package safetensors reads and writes Hugging Face safetensors checkpoints:
// a single model.safetensors file, a sharded folder described by
// model.safetensors.index.json, or any folder of *.safetensors files.
//
// A file is an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and byte range, and a data area that the tensors
// cover exactly. Open memory-maps the file read-only and validates the whole
// header before it returns, so that a Tensor's Data is a checked, zero-copy
// view of the mapping and weights are never copied just to be read.
//
// The package must never trust a number from a file: every length and offset
// is checked against the real file size before it is used, nothing is
// allocated in proportion to an unchecked header value, and bad input yields
// an error naming the file, the tensor and the broken rule, never a panic.
// It must never write through a Tensor's Data (the mapping is read-only), and
// it knows nothing about models: names and shapes are the caller's business.
package safetensors
