package calibrate

import (
	"fmt"

	"github.com/compresskv/compresskv/needle"
)

// referenceMaxLength is the reference's longbench/config/model2maxlen.json
// (prompt tokens, BOS included), keyed there by model name
// (Mistral-7B-Instruct-v0.3, Llama-3.1-8B-Instruct, Qwen2.5-7B-Instruct) and
// here by model family.
var referenceMaxLength = map[string]int{
	"mistral": 31500,
	"llama":   127500,
	"qwen2":   127500,
}

// ReferenceMaxLength returns the reference's maximum calibration prompt
// length for a model family ("mistral", "llama", "qwen2").
func ReferenceMaxLength(family string) (int, error) {
	if n, ok := referenceMaxLength[family]; ok {
		return n, nil
	}
	return 0, fmt.Errorf("the reference's maximum prompt length is known for mistral (31500), llama and qwen2 (127500) models, not %q", family)
}

// TextTokenizer is what TruncateReference needs; model/tokenizer's
// Tokenizer satisfies it.
type TextTokenizer interface {
	Encode(text string, addSpecial bool) []int
	DecodeSkipSpecial(ids []int) string
}

// TruncateReference is the reference's LongBench truncation
// (pred_get_importance_score.py), applied to the formatted prompt text
// before any chat wrapper: when encode(text) with special tokens is longer
// than maxLength ids, the text becomes the decoded first int(maxLength/2)
// ids followed by the decoded last int(maxLength/2), special tokens
// skipped, each decode cleaned up as transformers' decode is when the
// tokenizer's clean_up_tokenization_spaces is set. The caller encodes the
// result again.
func TruncateReference(tok TextTokenizer, text string, maxLength int) string {
	ids := tok.Encode(text, true)
	if len(ids) <= maxLength {
		return text
	}
	half := maxLength / 2
	decode := tok.DecodeSkipSpecial
	if c, ok := tok.(interface{ CleanUpTokenizationSpaces() bool }); ok && c.CleanUpTokenizationSpaces() {
		decode = func(ids []int) string { return needle.CleanUpTokenizationSpaces(tok.DecodeSkipSpecial(ids)) }
	}
	return decode(ids[:half]) + decode(ids[len(ids)-half:])
}
