// Package synth writes a small Llama-architecture checkpoint whose weights
// are constructed by hand so that known heads implement a retrieval
// circuit. It is the ground truth that head profiling is tested against,
// and the built-in model `compresskv profile` runs when no --model is given.
//
// The circuit (circuit.go has the details and the constants):
//
//   - Every embedding carries a large constant, a BOS flag on the first
//     token, and a random near-orthogonal identity vector of its token.
//   - Layer 0: three previous-token heads attend to positions i-1, i-2 and
//     i-3 through the fast RoPE pairs (a constant key and a query rotated
//     back by the offset) and write those tokens' identities into their own
//     residual subspaces; the fourth head is a sink or local distractor.
//   - Every later layer has one planted retrieval (induction) head: its
//     query is the current token and the two before it, its key the three
//     tokens before each position, compared in the slowest RoPE pairs
//     (rope_theta 1e10, so matching ignores distance). At the end of an
//     answer-prefix prompt ("... archive is") it attends to the answer's
//     first token in the needle and copies its identity to the subspace
//     lm_head reads; each next step continues with the next answer token.
//     Its GQA partner and the other group hold distractors: sink heads
//     (attend to the first token), local heads (the current token) and
//     previous-token heads (the token before).
//   - The tokenizer is byte-level BPE with the Llama 3 split pattern, whose
//     merges make whole tokens of common English words and of the needle
//     package's generator words; other text splits into smaller pieces.
//
// The Streaming variant (Options.Streaming) embodies the failure mode of
// KV selection by all heads (SnapKV, PyramidKV): in every GQA group of the
// retrieval layers a streaming head (a strong sink on the first token and
// a broad window over the last tens of tokens) sits beside either the
// retrieval head or a span head, a semantic retrieval head that compares
// the recent context of the query (a bag of the last tokens, written by
// layer 0's streaming head) with that of every far position, so at the end
// of a needle prompt it attends to the whole needle sentence, answer
// included. The variant answers exactly as the default model.
//
// Which head of a layer plays which role is drawn from the seed; Heads,
// Planted and RetrievalHeads export that ground truth. Equal options write
// byte-identical files.
//
// The package must never import the packages that score heads (profile,
// calibrate) or build probes (needle): it sits below them. It never reads
// a model: it only constructs one.
package synth
