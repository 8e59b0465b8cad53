// Package tokenizer reads a Hugging Face tokenizer.json (and the
// tokenizer_config.json beside it) and encodes and decodes text exactly as
// the Hugging Face `tokenizers` library does for the BPE tokenizers of the
// Llama 3, Mistral / Llama 2 (SentencePiece BPE with byte fallback) and Qwen2
// families.
//
// The pipeline is the library's: added tokens are cut out of the raw text
// first, the rest is normalised, pre-tokenised into words, and every word is
// split by byte-pair merges; the post-processor adds BOS when asked.
// Decoding runs the file's decoder chain.
//
// This package must never guess: a component, model type or split pattern it
// does not implement exactly is a load error naming what is supported, never
// an approximation. It knows nothing about models, prompts or needles, and it
// never panics on input (malformed files are errors; any text encodes).
package tokenizer
