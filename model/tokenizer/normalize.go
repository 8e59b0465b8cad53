package tokenizer

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// normalizer rewrites the text between added tokens before pre-tokenization.
type normalizer interface {
	normalize(s string) string
}

// normalizerSequence applies its normalizers in order.
type normalizerSequence []normalizer

func (q normalizerSequence) normalize(s string) string {
	for _, n := range q {
		s = n.normalize(s)
	}
	return s
}

// prependNormalizer is Prepend: it prefixes a non-empty text (SentencePiece's
// "▁" before the first word); an empty text stays empty.
type prependNormalizer struct{ prefix string }

func (p prependNormalizer) normalize(s string) string {
	if s == "" {
		return s
	}
	return p.prefix + s
}

// replaceNormalizer is Replace with a literal pattern.
type replaceNormalizer struct{ pattern, content string }

func (r replaceNormalizer) normalize(s string) string {
	if r.pattern == "" {
		return s
	}
	return strings.ReplaceAll(s, r.pattern, r.content)
}

// unicodeNormalizer is NFC, NFD, NFKC or NFKD.
type unicodeNormalizer struct{ form norm.Form }

func (u unicodeNormalizer) normalize(s string) string { return u.form.String(s) }

// lowercaseNormalizer is Lowercase.
type lowercaseNormalizer struct{}

func (lowercaseNormalizer) normalize(s string) string { return strings.ToLower(s) }

// stripNormalizer is Strip: whitespace trimmed on the chosen sides.
type stripNormalizer struct{ left, right bool }

func (st stripNormalizer) normalize(s string) string {
	if st.left {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
	}
	if st.right {
		s = strings.TrimRightFunc(s, unicode.IsSpace)
	}
	return s
}
