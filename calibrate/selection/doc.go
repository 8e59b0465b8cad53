// Package selection holds the token-selection policies that decide, at the
// end of prefill, which prompt positions of one layer's KV cache survive
// under a budget: CompressKV (the top-k semantic retrieval heads of the
// layer vote once for every KV head), and the baselines SnapKV (every query
// head votes for its own KV head), PyramidKV (SnapKV with budgets falling
// linearly across layers) and StreamingLLM (attention sinks plus the most
// recent tokens). See docs/method.md, section 3.
//
// Every function is pure: it reads post-RoPE queries and keys given as
// slices and returns kept positions sorted ascending. The package is shared
// by calibration (layer errors) and evaluation, so it must never import the
// model, run a forward pass, or keep state between calls.
package selection
