// Package calibrate measures how much each layer of a model suffers when
// its KV cache is cut, and turns that into per-layer budgets: the
// error-aware allocation of CompressKV (docs/method.md, sections 4-6).
//
// Run drives the forward pass with an ErrorObserver: the model decodes
// greedily with its full cache, and at every step each layer's attention is
// recomputed over only the tokens the CompressKV selection would keep; the
// relative Frobenius error of the o_proj outputs is summed per layer.
// LayerScores normalises the errors per dataset and across datasets, and
// Allocate transcribes the reference's budget allocation. Compare reports
// how two profiles differ (for `compresskv diff` and `calibrate --check`).
//
// The package never changes the forward pass (it only observes), never
// writes the profile file itself (commands do, atomically), and keeps its
// results independent of parallelism so equal inputs give equal bytes.
package calibrate
