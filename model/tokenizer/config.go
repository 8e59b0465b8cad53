package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// fileJSON is the part of tokenizer.json this package reads; components
// are decoded by their "type".
type fileJSON struct {
	AddedTokens   []addedTokenJSON `json:"added_tokens"`
	Normalizer    json.RawMessage  `json:"normalizer"`
	PreTokenizer  json.RawMessage  `json:"pre_tokenizer"`
	PostProcessor json.RawMessage  `json:"post_processor"`
	Decoder       json.RawMessage  `json:"decoder"`
	Model         json.RawMessage  `json:"model"`
}

type addedTokenJSON struct {
	ID         *int   `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	Lstrip     bool   `json:"lstrip"`
	Rstrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// componentJSON holds every field any supported component uses.
type componentJSON struct {
	Type string `json:"type"`

	// Sequence
	Normalizers   []json.RawMessage `json:"normalizers"`
	PreTokenizers []json.RawMessage `json:"pretokenizers"`
	Processors    []json.RawMessage `json:"processors"`
	Decoders      []json.RawMessage `json:"decoders"`

	// Prepend, Replace, Split, Strip
	Prepend  string       `json:"prepend"`
	Pattern  *patternJSON `json:"pattern"`
	Content  *string      `json:"content"`
	Behavior string       `json:"behavior"`
	Invert   bool         `json:"invert"`
	Start    int          `json:"start"`
	Stop     int          `json:"stop"`
	Left     *bool        `json:"strip_left"`
	Right    *bool        `json:"strip_right"`

	// ByteLevel, Metaspace, Digits
	AddPrefixSpace   *bool   `json:"add_prefix_space"`
	UseRegex         *bool   `json:"use_regex"`
	Replacement      *string `json:"replacement"`
	PrependScheme    string  `json:"prepend_scheme"`
	Split            *bool   `json:"split"`
	IndividualDigits bool    `json:"individual_digits"`

	// TemplateProcessing
	Single        []map[string]templateItemJSON `json:"single"`
	SpecialTokens map[string]struct {
		IDs []int `json:"ids"`
	} `json:"special_tokens"`
}

type patternJSON struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

type templateItemJSON struct {
	ID string `json:"id"`
}

type modelJSON struct {
	Type                    string            `json:"type"`
	Vocab                   map[string]int    `json:"vocab"`
	Merges                  []json.RawMessage `json:"merges"`
	UnkToken                *string           `json:"unk_token"`
	ContinuingSubwordPrefix *string           `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string           `json:"end_of_word_suffix"`
	FuseUnk                 bool              `json:"fuse_unk"`
	ByteFallback            bool              `json:"byte_fallback"`
	IgnoreMerges            bool              `json:"ignore_merges"`
	Dropout                 *float64          `json:"dropout"`
}

// configJSON is the part of tokenizer_config.json this package reads.
type configJSON struct {
	BOSToken       json.RawMessage `json:"bos_token"`
	EOSToken       json.RawMessage `json:"eos_token"`
	ChatTemplate   json.RawMessage `json:"chat_template"`
	AddBOSToken    *bool           `json:"add_bos_token"`
	AddEOSToken    *bool           `json:"add_eos_token"`
	TokenizerClass string          `json:"tokenizer_class"`
	CleanUpSpaces  *bool           `json:"clean_up_tokenization_spaces"`
}

// isNull reports whether a raw JSON value is absent or null.
func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

func decodeComponent(name, field string, raw json.RawMessage) (*componentJSON, error) {
	var c componentJSON
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%s: %s: %v", name, field, err)
	}
	return &c, nil
}

// literalPattern returns the literal text of a String pattern, or of a
// Regex pattern without metacharacters; anything else is unsupported.
func literalPattern(name, field string, p *patternJSON) (string, error) {
	switch {
	case p == nil:
		return "", fmt.Errorf("%s: %s: missing pattern", name, field)
	case p.String != nil:
		return *p.String, nil
	case p.Regex != nil && !strings.ContainsAny(*p.Regex, `\.^$|?*+()[]{}`):
		return *p.Regex, nil
	case p.Regex != nil:
		return "", fmt.Errorf("%s: %s: unsupported Regex pattern %q (only literal strings are supported here)", name, field, *p.Regex)
	}
	return "", fmt.Errorf("%s: %s: pattern needs String or Regex", name, field)
}

func parseNormalizer(name, field string, raw json.RawMessage, depth int) (normalizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	if depth > 8 {
		return nil, fmt.Errorf("%s: %s: Sequence nested too deep", name, field)
	}
	c, err := decodeComponent(name, field, raw)
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var q normalizerSequence
		for i, r := range c.Normalizers {
			n, err := parseNormalizer(name, fmt.Sprintf("%s.normalizers[%d]", field, i), r, depth+1)
			if err != nil {
				return nil, err
			}
			if n != nil {
				q = append(q, n)
			}
		}
		return q, nil
	case "Prepend":
		return prependNormalizer{c.Prepend}, nil
	case "Replace":
		lit, err := literalPattern(name, field, c.Pattern)
		if err != nil {
			return nil, err
		}
		content := ""
		if c.Content != nil {
			content = *c.Content
		}
		return replaceNormalizer{lit, content}, nil
	case "NFC":
		return unicodeNormalizer{norm.NFC}, nil
	case "NFD":
		return unicodeNormalizer{norm.NFD}, nil
	case "NFKC":
		return unicodeNormalizer{norm.NFKC}, nil
	case "NFKD":
		return unicodeNormalizer{norm.NFKD}, nil
	case "Lowercase":
		return lowercaseNormalizer{}, nil
	case "Strip":
		st := stripNormalizer{left: true, right: true}
		if c.Left != nil {
			st.left = *c.Left
		}
		if c.Right != nil {
			st.right = *c.Right
		}
		return st, nil
	}
	return nil, fmt.Errorf("%s: %s: unsupported normalizer type %q (supported: Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD, Lowercase, Strip)", name, field, c.Type)
}

var behaviors = map[string]behavior{
	"Isolated":           isolated,
	"Removed":            removed,
	"MergedWithPrevious": mergedWithPrevious,
	"MergedWithNext":     mergedWithNext,
	"Contiguous":         contiguous,
}

// gpt2Pattern is the split the ByteLevel pre-tokenizer applies when
// use_regex is true.
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

func parsePreTokenizer(name, field string, raw json.RawMessage, depth int) (preTokenizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	if depth > 8 {
		return nil, fmt.Errorf("%s: %s: Sequence nested too deep", name, field)
	}
	c, err := decodeComponent(name, field, raw)
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var q preTokenizerSequence
		for i, r := range c.PreTokenizers {
			p, err := parsePreTokenizer(name, fmt.Sprintf("%s.pretokenizers[%d]", field, i), r, depth+1)
			if err != nil {
				return nil, err
			}
			if p != nil {
				q = append(q, p)
			}
		}
		return q, nil
	case "Split":
		b, ok := behaviors[c.Behavior]
		if !ok {
			return nil, fmt.Errorf("%s: %s: unsupported Split behavior %q", name, field, c.Behavior)
		}
		p := &splitPreTokenizer{behavior: b, invert: c.Invert}
		switch {
		case c.Pattern != nil && c.Pattern.Regex != nil:
			sp, err := compileSplitPattern(*c.Pattern.Regex)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %v", name, field, err)
			}
			p.find = sp.find
		case c.Pattern != nil && c.Pattern.String != nil:
			p.find = findLiteral(*c.Pattern.String)
		default:
			return nil, fmt.Errorf("%s: %s: Split needs a String or Regex pattern", name, field)
		}
		return p, nil
	case "ByteLevel":
		p := &byteLevelPreTokenizer{addPrefixSpace: true}
		if c.AddPrefixSpace != nil {
			p.addPrefixSpace = *c.AddPrefixSpace
		}
		if c.UseRegex == nil || *c.UseRegex {
			sp, err := compileSplitPattern(gpt2Pattern)
			if err != nil {
				return nil, err
			}
			p.split = sp
		}
		return p, nil
	case "Metaspace":
		rep, scheme, err := metaspaceOptions(name, field, c)
		if err != nil {
			return nil, err
		}
		p := &metaspacePreTokenizer{replacement: rep, scheme: scheme, split: true}
		if c.Split != nil {
			p.split = *c.Split
		}
		return p, nil
	case "Digits":
		return &digitsPreTokenizer{individual: c.IndividualDigits}, nil
	case "WhitespaceSplit":
		return whitespaceSplitPreTokenizer{}, nil
	}
	return nil, fmt.Errorf("%s: %s: unsupported pre-tokenizer type %q (supported: Sequence, Split, ByteLevel, Metaspace, Digits, WhitespaceSplit)", name, field, c.Type)
}

// metaspaceOptions reads replacement and prepend_scheme (or the older
// add_prefix_space flag).
func metaspaceOptions(name, field string, c *componentJSON) (rune, prependScheme, error) {
	rep := '▁'
	if c.Replacement != nil {
		r, size := utf8.DecodeRuneInString(*c.Replacement)
		if size == 0 || size != len(*c.Replacement) {
			return 0, 0, fmt.Errorf("%s: %s: Metaspace replacement %q must be one character", name, field, *c.Replacement)
		}
		rep = r
	}
	scheme := prependAlways
	switch c.PrependScheme {
	case "", "always":
		if c.PrependScheme == "" && c.AddPrefixSpace != nil && !*c.AddPrefixSpace {
			scheme = prependNever
		}
	case "first":
		scheme = prependFirst
	case "never":
		scheme = prependNever
	default:
		return 0, 0, fmt.Errorf("%s: %s: unsupported Metaspace prepend_scheme %q (want first, always or never)", name, field, c.PrependScheme)
	}
	return rep, scheme, nil
}

func parseDecoder(name, field string, raw json.RawMessage, depth int) (decoder, error) {
	if isNull(raw) {
		return nil, nil
	}
	if depth > 8 {
		return nil, fmt.Errorf("%s: %s: Sequence nested too deep", name, field)
	}
	c, err := decodeComponent(name, field, raw)
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var q decoderSequence
		for i, r := range c.Decoders {
			d, err := parseDecoder(name, fmt.Sprintf("%s.decoders[%d]", field, i), r, depth+1)
			if err != nil {
				return nil, err
			}
			if d != nil {
				q = append(q, d)
			}
		}
		return q, nil
	case "ByteLevel":
		return byteLevelDecoder{}, nil
	case "Replace":
		lit, err := literalPattern(name, field, c.Pattern)
		if err != nil {
			return nil, err
		}
		content := ""
		if c.Content != nil {
			content = *c.Content
		}
		return replaceDecoder{lit, content}, nil
	case "ByteFallback":
		return byteFallbackDecoder{}, nil
	case "Fuse":
		return fuseDecoder{}, nil
	case "Strip":
		content := " "
		if c.Content != nil {
			content = *c.Content
		}
		r, size := utf8.DecodeRuneInString(content)
		if size == 0 || size != len(content) || c.Start < 0 || c.Stop < 0 {
			return nil, fmt.Errorf("%s: %s: Strip wants one content character and start, stop >= 0", name, field)
		}
		return stripDecoder{content: r, start: c.Start, stop: c.Stop}, nil
	case "Metaspace":
		rep, scheme, err := metaspaceOptions(name, field, c)
		if err != nil {
			return nil, err
		}
		return metaspaceDecoder{replacement: rep, scheme: scheme}, nil
	}
	return nil, fmt.Errorf("%s: %s: unsupported decoder type %q (supported: Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace)", name, field, c.Type)
}

// parsePostProcessor reads TemplateProcessing's single template; ByteLevel
// post-processors only adjust offsets and are accepted as no-ops.
func parsePostProcessor(name, field string, raw json.RawMessage, depth int, t *template) error {
	if isNull(raw) {
		return nil
	}
	if depth > 8 {
		return fmt.Errorf("%s: %s: Sequence nested too deep", name, field)
	}
	c, err := decodeComponent(name, field, raw)
	if err != nil {
		return err
	}
	switch c.Type {
	case "Sequence":
		for i, r := range c.Processors {
			if err := parsePostProcessor(name, fmt.Sprintf("%s.processors[%d]", field, i), r, depth+1, t); err != nil {
				return err
			}
		}
		return nil
	case "ByteLevel":
		return nil
	case "TemplateProcessing":
		if t.present {
			return fmt.Errorf("%s: %s: more than one TemplateProcessing", name, field)
		}
		t.present = true
		seenA := false
		for i, item := range c.Single {
			if seq, ok := item["Sequence"]; ok {
				if seq.ID != "A" || seenA {
					return fmt.Errorf("%s: %s.single[%d]: want one Sequence A, got %q", name, field, i, seq.ID)
				}
				seenA = true
				continue
			}
			sp, ok := item["SpecialToken"]
			if !ok {
				return fmt.Errorf("%s: %s.single[%d]: want SpecialToken or Sequence", name, field, i)
			}
			st, ok := c.SpecialTokens[sp.ID]
			if !ok {
				return fmt.Errorf("%s: %s.single[%d]: special token %q not in special_tokens", name, field, i, sp.ID)
			}
			if seenA {
				t.after = append(t.after, st.IDs...)
			} else {
				t.before = append(t.before, st.IDs...)
			}
		}
		if !seenA {
			return fmt.Errorf("%s: %s.single: no Sequence A", name, field)
		}
		return nil
	}
	return fmt.Errorf("%s: %s: unsupported post-processor type %q (supported: TemplateProcessing, ByteLevel, Sequence)", name, field, c.Type)
}

// parseMerges accepts "a b" strings (Llama 3) and ["a", "b"] pairs (Qwen2).
func parseMerges(name string, raw []json.RawMessage) ([][2]string, error) {
	pairs := make([][2]string, 0, len(raw))
	for i, r := range raw {
		t := bytes.TrimSpace(r)
		if len(t) > 0 && t[0] == '"' {
			var s string
			if len(t) >= 2 && t[len(t)-1] == '"' && bytes.IndexByte(t, '\\') < 0 {
				s = string(t[1 : len(t)-1]) // no escapes: the common case, 10x faster
			} else if err := json.Unmarshal(t, &s); err != nil {
				return nil, fmt.Errorf("%s: model.merges[%d]: %v", name, i, err)
			}
			if strings.HasPrefix(s, "#version") {
				continue
			}
			parts := strings.Split(s, " ")
			if len(parts) != 2 {
				return nil, fmt.Errorf("%s: model.merges[%d] %q: want two pieces separated by one space", name, i, s)
			}
			pairs = append(pairs, [2]string{parts[0], parts[1]})
			continue
		}
		var p []string
		if err := json.Unmarshal(t, &p); err != nil || len(p) != 2 {
			return nil, fmt.Errorf("%s: model.merges[%d]: want \"a b\" or [\"a\", \"b\"]", name, i)
		}
		pairs = append(pairs, [2]string{p[0], p[1]})
	}
	return pairs, nil
}

// tokenString reads bos_token / eos_token: a string or an AddedToken
// object {"content": ...}; "" when null or absent.
func tokenString(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "", fmt.Errorf("want a string or {\"content\": ...}")
	}
	return obj.Content, nil
}

// chatTemplate reads chat_template: a string, or a list of
// {name, template} from which "default" is taken.
func chatTemplate(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var list []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return "", fmt.Errorf("want a string or a list of {name, template}")
	}
	for _, t := range list {
		if t.Name == "default" {
			return t.Template, nil
		}
	}
	return "", nil
}
