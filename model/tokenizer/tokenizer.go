package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// Tokenizer encodes text to token ids and decodes ids to text with the
// pipeline of one tokenizer.json. It is safe for concurrent use.
type Tokenizer struct {
	name       string
	model      *bpe
	normalizer normalizer   // nil: none
	pre        preTokenizer // nil: none
	decoder    decoder      // nil: pieces joined by spaces
	post       template

	added     map[string]*addedToken // content -> token
	addedByID map[int]*addedToken
	rawAdded  *addedMatcher // tokens matched in the raw text (normalized: false)
	normAdded *addedMatcher // tokens matched in normalised text (normalized: true)
	pieces    []string      // [id] -> piece, added tokens included

	bos          int // -1: none
	eos          []int
	chatTemplate string
	cleanUp      bool // tokenizer_config.json's clean_up_tokenization_spaces
}

// ErrNoTokenizer is returned (wrapped, with the folder) by Load for a folder
// without tokenizer.json: the caller was given the wrong path.
var ErrNoTokenizer = errors.New("no tokenizer.json in this folder (want a Hugging Face tokenizer or model folder)")

// Load reads a tokenizer from a folder holding tokenizer.json (and, when
// present, tokenizer_config.json and chat_template.jinja), such as a
// Hugging Face model folder. A path to a tokenizer.json file is accepted too.
func Load(dir string) (*Tokenizer, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if !info.IsDir() {
		return LoadFile(dir)
	}
	path := filepath.Join(dir, "tokenizer.json")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNoTokenizer)
	}
	return LoadFile(path)
}

// MaxFileSize bounds tokenizer.json, tokenizer_config.json and
// chat_template.jinja. The largest released tokenizer.json files are a few
// tens of megabytes (Gemma's, with 256k pieces, is 33 MB); a file far
// larger is not a tokenizer, and parsing it would hold several times its
// size in memory.
const MaxFileSize = 128 << 20

// readCapped reads a file of at most MaxFileSize bytes.
func readCapped(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > MaxFileSize {
		return nil, fmt.Errorf("%s: %d MB, larger than the %d MB a tokenizer file may be", path, st.Size()>>20, MaxFileSize>>20)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: larger than the %d MB a tokenizer file may be", path, MaxFileSize>>20)
	}
	return data, nil
}

// LoadFile reads a tokenizer.json, and the tokenizer_config.json and
// chat_template.jinja beside it when they exist. Each may be at most
// MaxFileSize bytes.
func LoadFile(path string) (*Tokenizer, error) {
	data, err := readCapped(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	dir := filepath.Dir(path)
	config, err := readCapped(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := Parse(data, config, path)
	if err != nil {
		return nil, err
	}
	if t.chatTemplate == "" {
		jinja, err := readCapped(filepath.Join(dir, "chat_template.jinja"))
		switch {
		case err == nil:
			t.chatTemplate = string(jinja)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
	}
	return t, nil
}

// Parse builds a tokenizer from the bytes of tokenizer.json and of
// tokenizer_config.json (nil when there is none); name labels errors.
func Parse(tokenizerJSON, configJSON []byte, name string) (*Tokenizer, error) {
	var f fileJSON
	if err := json.Unmarshal(tokenizerJSON, &f); err != nil {
		return nil, fmt.Errorf("%s: malformed tokenizer.json: %v", name, err)
	}
	t := &Tokenizer{name: name, bos: -1, added: map[string]*addedToken{}, addedByID: map[int]*addedToken{}}
	if err := t.parseModel(f.Model); err != nil {
		return nil, err
	}
	var err error
	if t.normalizer, err = parseNormalizer(name, "normalizer", f.Normalizer, 0); err != nil {
		return nil, err
	}
	if t.pre, err = parsePreTokenizer(name, "pre_tokenizer", f.PreTokenizer, 0); err != nil {
		return nil, err
	}
	if t.decoder, err = parseDecoder(name, "decoder", f.Decoder, 0); err != nil {
		return nil, err
	}
	if err := parsePostProcessor(name, "post_processor", f.PostProcessor, 0, &t.post); err != nil {
		return nil, err
	}
	if err := t.parseAdded(f.AddedTokens); err != nil {
		return nil, err
	}
	for _, id := range append(slices.Clone(t.post.before), t.post.after...) {
		if id < 0 || id >= len(t.pieces) || t.pieces[id] == "" {
			return nil, fmt.Errorf("%s: post_processor: special token id %d is not in the vocabulary", name, id)
		}
	}
	if err := t.parseConfig(configJSON); err != nil {
		return nil, err
	}
	return t, nil
}

// maxSparseIDs bounds how far ids may run past the number of pieces, so a
// bad file cannot make the id table huge.
const maxSparseIDs = 1 << 16

func (t *Tokenizer) parseModel(raw json.RawMessage) error {
	if isNull(raw) {
		return fmt.Errorf("%s: no model", t.name)
	}
	var head struct {
		Type   string          `json:"type"`
		Merges json.RawMessage `json:"merges"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return fmt.Errorf("%s: model: %v", t.name, err)
	}
	if head.Type == "" && head.Merges != nil {
		head.Type = "BPE" // old files leave the type out
	}
	if head.Type != "BPE" {
		return fmt.Errorf("%s: unsupported model type %q (supported: BPE)", t.name, head.Type)
	}
	var m modelJSON
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("%s: model: %v", t.name, err)
	}
	if m.Dropout != nil && *m.Dropout > 0 {
		return fmt.Errorf("%s: model.dropout %g: BPE dropout is not supported (encoding would be random)", t.name, *m.Dropout)
	}
	if len(m.Vocab) == 0 {
		return fmt.Errorf("%s: model.vocab is empty", t.name)
	}
	maxID := 0
	for piece, id := range m.Vocab {
		if id < 0 || id > len(m.Vocab)+maxSparseIDs {
			return fmt.Errorf("%s: model.vocab[%q] = %d: want an id in [0, %d]", t.name, piece, id, len(m.Vocab)+maxSparseIDs)
		}
		maxID = max(maxID, id)
	}
	t.pieces = make([]string, maxID+1)
	for piece, id := range m.Vocab {
		t.pieces[id] = piece
	}
	pairs, err := parseMerges(t.name, m.Merges)
	if err != nil {
		return err
	}
	o := bpeOptions{fuseUnk: m.FuseUnk, byteFallback: m.ByteFallback, ignoreMerges: m.IgnoreMerges}
	if m.ContinuingSubwordPrefix != nil {
		o.prefix = *m.ContinuingSubwordPrefix
	}
	if m.EndOfWordSuffix != nil {
		o.suffix = *m.EndOfWordSuffix
	}
	unk := ""
	if m.UnkToken != nil {
		unk = *m.UnkToken
	}
	t.model, err = newBPE(t.name, m.Vocab, pairs, unk, o)
	return err
}

func (t *Tokenizer) parseAdded(list []addedTokenJSON) error {
	var raw, normalized []patternToken
	for i, a := range list {
		if a.ID == nil || *a.ID < 0 || *a.ID > len(t.pieces)+maxSparseIDs {
			return fmt.Errorf("%s: added_tokens[%d] %q: want an id in [0, %d]", t.name, i, a.Content, len(t.pieces)+maxSparseIDs)
		}
		if a.Content == "" {
			return fmt.Errorf("%s: added_tokens[%d]: empty content", t.name, i)
		}
		tok := &addedToken{id: *a.ID, content: a.Content, singleWord: a.SingleWord, lstrip: a.Lstrip, rstrip: a.Rstrip, norm: a.Normalized, special: a.Special}
		t.added[a.Content] = tok
		t.addedByID[tok.id] = tok
		for len(t.pieces) <= tok.id {
			t.pieces = append(t.pieces, "")
		}
		t.pieces[tok.id] = a.Content
	}
	for _, tok := range t.added {
		if !tok.norm {
			raw = append(raw, patternToken{tok.content, tok})
			continue
		}
		// A normalized token is matched by its normalised form in the
		// normalised text.
		p := tok.content
		if t.normalizer != nil {
			p = t.normalizer.normalize(p)
		}
		normalized = append(normalized, patternToken{p, tok})
	}
	// Map iteration order is random: sort so equal-length patterns are
	// tried in a fixed order.
	for _, q := range [][]patternToken{raw, normalized} {
		slices.SortFunc(q, func(a, b patternToken) int { return a.tok.id - b.tok.id })
	}
	t.rawAdded = newAddedMatcher(raw)
	t.normAdded = newAddedMatcher(normalized)
	return nil
}

// llamaClasses are the tokenizer classes whose transformers implementation
// rebuilds the post-processor from add_bos_token / add_eos_token.
var llamaClasses = map[string]bool{
	"LlamaTokenizer": true, "LlamaTokenizerFast": true,
	"CodeLlamaTokenizer": true, "CodeLlamaTokenizerFast": true,
}

func (t *Tokenizer) parseConfig(data []byte) error {
	if len(data) == 0 {
		if len(t.post.before) == 1 {
			t.bos = t.post.before[0]
		}
		t.eos = slices.Clone(t.post.after)
		return nil
	}
	var c configJSON
	if err := json.Unmarshal(data, &c); err != nil {
		return fmt.Errorf("%s: malformed tokenizer_config.json: %v", t.name, err)
	}
	t.cleanUp = c.CleanUpSpaces != nil && *c.CleanUpSpaces
	bos, err := tokenString(c.BOSToken)
	if err != nil {
		return fmt.Errorf("%s: tokenizer_config.json: bos_token: %v", t.name, err)
	}
	eos, err := tokenString(c.EOSToken)
	if err != nil {
		return fmt.Errorf("%s: tokenizer_config.json: eos_token: %v", t.name, err)
	}
	if t.chatTemplate, err = chatTemplate(c.ChatTemplate); err != nil {
		return fmt.Errorf("%s: tokenizer_config.json: chat_template: %v", t.name, err)
	}
	if bos != "" {
		id, ok := t.TokenID(bos)
		if !ok {
			return fmt.Errorf("%s: tokenizer_config.json: bos_token %q is not in the vocabulary", t.name, bos)
		}
		t.bos = id
	} else if c.BOSToken == nil && len(t.post.before) == 1 {
		t.bos = t.post.before[0]
	}
	if eos != "" {
		id, ok := t.TokenID(eos)
		if !ok {
			return fmt.Errorf("%s: tokenizer_config.json: eos_token %q is not in the vocabulary", t.name, eos)
		}
		t.eos = append(t.eos, id)
	}
	for _, id := range t.post.after {
		if !slices.Contains(t.eos, id) {
			t.eos = append(t.eos, id)
		}
	}
	if llamaClasses[c.TokenizerClass] && (c.AddBOSToken != nil || c.AddEOSToken != nil) {
		// transformers' LlamaTokenizerFast.update_post_processor: BOS when
		// add_bos_token (default true), EOS when add_eos_token (default false).
		addBOS := c.AddBOSToken == nil || *c.AddBOSToken
		addEOS := c.AddEOSToken != nil && *c.AddEOSToken
		if addBOS && t.bos < 0 || addEOS && len(t.eos) == 0 {
			return fmt.Errorf("%s: tokenizer_config.json: add_bos_token/add_eos_token set but bos_token/eos_token missing", t.name)
		}
		t.post.before, t.post.after = nil, nil
		if addBOS {
			t.post.before = []int{t.bos}
		}
		if addEOS {
			t.post.after = []int{t.eos[0]}
		}
	}
	return nil
}

// Encode returns the token ids of text. With addSpecial the post-processor
// adds its special tokens (BOS for Llama / Mistral), as Hugging Face's
// add_special_tokens=True does. Special-token strings in text (such as
// "<|eot_id|>") become their ids. Invalid UTF-8 bytes are read as U+FFFD.
func (t *Tokenizer) Encode(text string, addSpecial bool) []int {
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	ids := make([]int, 0, len(text)/3+4)
	var segs, sub []segment
	var words []word
	segs = t.rawAdded.split(text, segs)
	for _, seg := range segs {
		if seg.id >= 0 {
			ids = append(ids, seg.id)
			continue
		}
		s := seg.text
		if t.normalizer != nil {
			s = t.normalizer.normalize(s)
		}
		sub = t.normAdded.split(s, sub[:0])
		for _, ss := range sub {
			if ss.id >= 0 {
				ids = append(ids, ss.id)
				continue
			}
			words = append(words[:0], word{text: ss.text, first: seg.start == 0 && ss.start == 0})
			if t.pre != nil {
				words = t.pre.preTokenize(words)
			}
			for _, w := range words {
				ids = t.model.tokenize(w.text, ids)
			}
		}
	}
	if addSpecial {
		ids = t.post.apply(ids)
	}
	return ids
}

// Decode returns the text of ids, special tokens included, like Hugging
// Face's decode(ids, skip_special_tokens=False) (without transformers'
// optional clean_up_tokenization_spaces). Unknown ids are skipped.
func (t *Tokenizer) Decode(ids []int) string { return t.decode(ids, false) }

// DecodeSkipSpecial is Decode without the special tokens (BOS, EOS,
// chat-template markers).
func (t *Tokenizer) DecodeSkipSpecial(ids []int) string { return t.decode(ids, true) }

func (t *Tokenizer) decode(ids []int, skipSpecial bool) string {
	tokens := make([]string, 0, len(ids))
	for _, id := range ids {
		p := t.Piece(id)
		if p == "" || skipSpecial && t.IsSpecial(id) {
			continue
		}
		tokens = append(tokens, p)
	}
	if t.decoder == nil {
		return strings.Join(tokens, " ")
	}
	return strings.Join(t.decoder.decodeChain(tokens), "")
}

// VocabSize is one more than the largest id (model pieces and added
// tokens), the number of rows an embedding matrix needs at least.
func (t *Tokenizer) VocabSize() int { return len(t.pieces) }

// TokenID returns the id of a piece or added token as written in
// tokenizer.json (byte-level pieces use GPT-2 characters, e.g. "Ġthe").
func (t *Tokenizer) TokenID(piece string) (int, bool) {
	if a, ok := t.added[piece]; ok {
		return a.id, true
	}
	id, ok := t.model.vocab[piece]
	return id, ok
}

// Piece returns the piece or added token of id, "" for an unknown id.
func (t *Tokenizer) Piece(id int) string {
	if id < 0 || id >= len(t.pieces) {
		return ""
	}
	return t.pieces[id]
}

// BOS returns the beginning-of-sequence id: tokenizer_config.json's
// bos_token, else the post-processor's leading special token.
func (t *Tokenizer) BOS() (int, bool) { return t.bos, t.bos >= 0 }

// EOS returns the end-of-sequence ids: tokenizer_config.json's eos_token
// and any special token the post-processor appends.
func (t *Tokenizer) EOS() []int { return slices.Clone(t.eos) }

// IsSpecial reports whether id is an added token marked special.
func (t *Tokenizer) IsSpecial(id int) bool {
	a, ok := t.addedByID[id]
	return ok && a.special
}

// CleanUpTokenizationSpaces reports tokenizer_config.json's
// clean_up_tokenization_spaces: whether transformers' decode removes the
// space before punctuation and contractions (" ." -> "."). Decode never
// does; callers that reproduce transformers' decode apply it themselves.
// Absent means false, the default of the Llama, Mistral and Qwen2
// tokenizer classes in current transformers.
func (t *Tokenizer) CleanUpTokenizationSpaces() bool { return t.cleanUp }

// ChatTemplate returns tokenizer_config.json's chat_template (the "default"
// one when there are several) or chat_template.jinja, "" when none.
func (t *Tokenizer) ChatTemplate() string { return t.chatTemplate }
