// Package model runs grouped-query-attention decoder LLMs of the Llama,
// Mistral and Qwen2 families from Hugging Face checkpoint folders: it parses
// config.json (Config), loads and checks the safetensors weights (Load,
// Weights), and runs the forward pass with a per-sequence KV cache
// (Session: Prefill, Step, Logits, Decode).
//
// The forward pass follows transformers exactly: RMSNorm, q/k/v projections
// (with bias for Qwen2), rotate-half RoPE (linear, dynamic-NTK and llama3
// scaling), causal grouped-query attention (query head h reads KV head
// h / (heads/kvHeads)) with Mistral's optional sliding window, o_proj, a
// SwiGLU MLP, the final norm and lm_head (tied to embed_tokens or not).
// forward.go reads top to bottom in model order; the small kernels live in
// rmsnorm.go, rope.go and attention.go, matrix products in model/kernels.
// Prefill runs in chunks and never builds a [tokens, tokens] matrix, so its
// memory is the KV cache plus O(chunk) scratch.
//
// Observers (observer.go) are the hook that profile/ and calibrate/ plug
// into, per layer, after attention:
//
//   - Observer.PrefillEnd(*PrefillView): at the end of Prefill, the
//     post-RoPE queries of the last QueryWindow() positions (default 8) and
//     the layer's LayerCache (keys/values as float32 or bf16 matrices).
//   - Observer.DecodeStep(*DecodeView): at each Step, the query, the
//     attention output before and after o_proj, the post-softmax rows of
//     every head over all cached positions when WantProbs(), and
//     DecodeView.AttendSubset, which recomputes this step's attention over a
//     chosen subset of cached positions (the "mask" of layer calibration)
//     without disturbing the forward pass.
//
// A nil Observer is allowed everywhere.
//
// A Session is made with SessionOptions (prefill chunk, KV cache dtype,
// context), validated by NewSession; the Model itself has no settings and
// is read-only. Prefill takes a context checked between chunks. Decode is
// the one decode loop: its hooks choose each token (Argmax, GreedyExcept,
// teacher forcing through Feed), see each produced token (Produced), stop
// (Stop, MaxNew, a full context) and keep logits. Compressed gathers kept
// cache rows per layer and KV head into a new session that Decode continues.
// Package modeltest holds a float64 reference forward pass and checkpoint
// writers for tests.
//
// The package must never know about needles, head scores or budgets (those
// live in profile/ and calibrate/, which observe it), never write to the
// weights, and never panic on a bad checkpoint or input: errors name the
// file, the tensor or the layer and position.
package model
