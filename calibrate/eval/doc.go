// Package eval measures needle-in-a-haystack retrieval under a compressed
// KV cache: per probe, one full prefill; then, for every method (full,
// StreamingLLM, SnapKV, PyramidKV, CompressKV, CompressKV with uniform
// budgets) and every average budget, the selection of docs/method.md
// section 3 made once from the last window queries, a gathered copy of the
// cache holding only the kept positions, greedy decoding from that copy,
// and the response scored against the answer with ROUGE-1 recall (and
// exact match). Results are written as a compresskv.eval/v1 document (see
// docs/eval-schema.md) with aggregates per method x budget and per
// (length, depth) cell.
//
// The package runs the forward pass only through model.Session and picks
// positions only through calibrate/selection: it holds no second
// implementation of either, and no command-line or file I/O beyond its
// checkpoint journal.
package eval
