package tokenizer

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/internal/testshared"
)

// TestMistralFixture encodes with the SentencePiece-style fixture; every
// expected id list is derived by hand from its 36 pieces and 16 merges.
func TestMistralFixture(t *testing.T) {
	tok := loadFixture(t, "mistral")
	tests := []struct {
		name, text string
		special    bool
		want       []int
		roundTrip  bool // decode(ids) == text
	}{
		// Prepend normaliser: "▁" before the text, Replace: spaces become
		// "▁"; merges then apply lowest rank first: "h e"(1), "l l"(2),
		// "he ll"(9), "hell o"(10), "▁ hello"(11) beat "▁ h"(13).
		{"merge ranks", "hello world", false, []int{31, 28}, true},
		{"post-processor adds BOS", "hello world", true, []int{1, 31, 28}, true},
		{"chained merges", "the", false, []int{23}, true},
		// "▁ a"(14) is applied before "a t"(15): ▁a + t, not ▁ + at.
		{"lower rank wins", "at", false, []int{34, 18}, true},
		// Equal ranks: the leftmost pair merges first, "▁▁▁" -> ▁▁ + ▁.
		{"leftmost among equal ranks", "  ", false, []int{32, 10}, true},
		// byte_fallback: a char with no piece becomes its UTF-8 bytes as
		// <0xXX> pieces.
		{"byte fallback", "é", false, []int{10, 4, 5}, true},
		{"byte fallback 4 bytes", "🦙", false, []int{10, 6, 7, 8, 9}, true},
		{"byte fallback newline", "a\n", false, []int{34, 3}, true},
		// fuse_unk: chars with neither a piece nor all their byte pieces
		// become one <unk> per run.
		{"fused unk", "xyz", false, []int{10, 0}, false},
		{"unk per word", "x y", false, []int{10, 0, 10, 0}, false},
		// Added tokens are cut out of the raw text first; each text segment
		// is then normalised on its own (so it gets its own "▁").
		{"special token in text", "hello</s>", false, []int{31, 2}, false},
		{"special token first", "</s>hello", false, []int{2, 31}, false},
		{"empty", "", false, nil, true},
		{"empty with BOS", "", true, []int{1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tok.Encode(tt.text, tt.special)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Encode(%q, %v) = %v, want %v", tt.text, tt.special, got, tt.want)
			}
			if tt.roundTrip {
				if dec := tok.DecodeSkipSpecial(got); dec != tt.text {
					t.Errorf("DecodeSkipSpecial(%v) = %q, want %q", got, dec, tt.text)
				}
			}
		})
	}
}

// TestMistralFixtureDecode checks the Replace + ByteFallback + Fuse + Strip
// decoder chain.
func TestMistralFixtureDecode(t *testing.T) {
	tok := loadFixture(t, "mistral")
	tests := []struct {
		ids        []int
		want, skip string
	}{
		// Strip removes one leading space of the fused text only: after
		// "<s>" the space of "▁hello" stays.
		{[]int{1, 31, 28, 2}, "<s> hello world</s>", "hello world"},
		{[]int{10, 6, 7, 8, 9}, "🦙", "🦙"},
		// ByteFallback: bytes that are not valid UTF-8 become one U+FFFD
		// each.
		{[]int{4}, "\uFFFD", "\uFFFD"},
		{[]int{6, 7, 31}, "\uFFFD\uFFFD hello", "\uFFFD\uFFFD hello"},
		// Unknown ids are skipped.
		{[]int{-1, 31, 9999}, "hello", "hello"},
	}
	for _, tt := range tests {
		if got := tok.Decode(tt.ids); got != tt.want {
			t.Errorf("Decode(%v) = %q, want %q", tt.ids, got, tt.want)
		}
		if got := tok.DecodeSkipSpecial(tt.ids); got != tt.skip {
			t.Errorf("DecodeSkipSpecial(%v) = %q, want %q", tt.ids, got, tt.skip)
		}
	}
}

// TestQwen2Fixture encodes with the byte-level fixture (ids 0-255 are the
// bytes, 256-264 the merges in order, 265-267 added tokens, 268 "Ġxy").
func TestQwen2Fixture(t *testing.T) {
	tok := loadFixture(t, "qwen2")
	tests := []struct {
		name, text string
		want       []int
	}{
		// The Qwen2 split isolates single digits, so the merge "1 2" never
		// applies; "the" and " " are separate words.
		{"single digits", "the 12", []int{'t', 257, ' ', '1', '2'}},
		// A word is " the" -> "Ġthe": Ġ t(0), h e(1), Ġt he(2).
		{"merges", " the", []int{258}},
		{"merge chain", "in in", []int{263, 264}},
		// \s+(?!\S): of three spaces before a word, two form a word ("ĠĠ")
		// and the last joins the word.
		{"whitespace lookahead", "a   b", []int{'a', 261, ' ', 'b'}},
		{"newlines", "\n\n", []int{260}},
		{"contraction", "he's", []int{257, 262}},
		// NFC: e + U+0301 is composed to é (C3 A9) before byte mapping.
		{"NFC normaliser", "e\u0301", []int{0xC3, 0xA9}},
		{"emoji bytes", "🦙", []int{0xF0, 0x9F, 0xA6, 0x99}},
		// Added tokens are matched in the raw text, never split.
		{"chat markers", "<|im_start|>user\nhi<|im_end|>", []int{266, 'u', 's', 'e', 'r', '\n', 'h', 'i', 267}},
		// Without ignore_merges a vocabulary word is still built by merges:
		// no merge makes "Ġxy".
		{"no ignore_merges", " xy", []int{' ', 'x', 'y'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tok.Encode(tt.text, true) // no BOS in this layout
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Encode(%q) = %v, want %v", tt.text, got, tt.want)
			}
			want := tt.text
			if tt.name == "NFC normaliser" {
				want = "é"
			}
			if dec := tok.Decode(got); dec != want {
				t.Errorf("Decode(%v) = %q, want %q", got, dec, want)
			}
		})
	}
	// ByteLevel decoding of invalid UTF-8 follows from_utf8_lossy: one
	// U+FFFD per maximal ill-formed subpart.
	for _, tt := range []struct {
		ids  []int
		want string
	}{
		{[]int{0xF0, 0x9F}, "\uFFFD"},
		{[]int{0xF0, 0x9F, 'a'}, "\uFFFDa"},
		{[]int{0x80, 0x80}, "\uFFFD\uFFFD"},
		{[]int{0xFF}, "\uFFFD"},
		{[]int{0xED, 0xA0, 0x80}, "\uFFFD\uFFFD\uFFFD"}, // a surrogate is never a prefix
	} {
		if got := tok.Decode(tt.ids); got != tt.want {
			t.Errorf("Decode(%v) = %q, want %q", tt.ids, got, tt.want)
		}
	}
}

// TestIgnoreMerges flips ignore_merges on the Qwen2 fixture: a whole word
// that is a piece is then emitted as one id.
func TestIgnoreMerges(t *testing.T) {
	data := editFixture(t, "qwen2", func(m map[string]any) {
		m["model"].(map[string]any)["ignore_merges"] = true
	})
	tok, err := Parse(data, nil, "qwen2+ignore_merges")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tok.Encode(" xy", false), []int{268}; !slices.Equal(got, want) {
		t.Errorf("Encode(\" xy\") = %v, want %v", got, want)
	}
	if got, want := tok.Encode(" the", false), []int{258}; !slices.Equal(got, want) {
		t.Errorf("Encode(\" the\") = %v, want %v", got, want)
	}
}

// TestAccessors checks ids, pieces, special flags and tokenizer_config.
func TestAccessors(t *testing.T) {
	m := loadFixture(t, "mistral")
	q := loadFixture(t, "qwen2")
	if got := m.VocabSize(); got != 36 {
		t.Errorf("mistral VocabSize = %d, want 36", got)
	}
	if got := q.VocabSize(); got != 269 {
		t.Errorf("qwen2 VocabSize = %d, want 269", got)
	}
	if id, ok := m.BOS(); !ok || id != 1 {
		t.Errorf("mistral BOS = %d, %v; want 1, true", id, ok)
	}
	// eos_token given as an AddedToken object.
	if got := m.EOS(); !slices.Equal(got, []int{2}) {
		t.Errorf("mistral EOS = %v, want [2]", got)
	}
	if _, ok := q.BOS(); ok {
		t.Error("qwen2 BOS present, want none (bos_token null)")
	}
	if got := q.EOS(); !slices.Equal(got, []int{267}) {
		t.Errorf("qwen2 EOS = %v, want [267]", got)
	}
	if id, ok := q.TokenID("Ġthe"); !ok || id != 258 {
		t.Errorf("TokenID(Ġthe) = %d, %v", id, ok)
	}
	if id, ok := q.TokenID("<|im_end|>"); !ok || id != 267 {
		t.Errorf("TokenID(<|im_end|>) = %d, %v", id, ok)
	}
	if _, ok := q.TokenID("nope"); ok {
		t.Error("TokenID(nope) found")
	}
	if got := q.Piece(258); got != "Ġthe" {
		t.Errorf("Piece(258) = %q", got)
	}
	if got := q.Piece(266); got != "<|im_start|>" {
		t.Errorf("Piece(266) = %q", got)
	}
	if q.Piece(-1) != "" || q.Piece(269) != "" || q.Piece(1000) != "" {
		t.Error("Piece of an unknown id is not empty")
	}
	if !m.IsSpecial(1) || m.IsSpecial(31) || m.IsSpecial(-5) {
		t.Error("mistral IsSpecial wrong")
	}
	if !strings.HasPrefix(m.ChatTemplate(), "{{ bos_token }}") {
		t.Errorf("mistral ChatTemplate = %q", m.ChatTemplate())
	}
	// A list of templates: the "default" one.
	if !strings.HasPrefix(q.ChatTemplate(), "{% for m in messages %}<|im_start|>") {
		t.Errorf("qwen2 ChatTemplate = %q", q.ChatTemplate())
	}
	// Without tokenizer_config.json, BOS comes from the post-processor.
	data, err := os.ReadFile(filepath.Join("testdata", "mistral", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	bare, err := Parse(data, nil, "bare")
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := bare.BOS(); !ok || id != 1 || bare.ChatTemplate() != "" || len(bare.EOS()) != 0 {
		t.Errorf("bare: BOS %d %v, EOS %v, template %q", id, ok, bare.EOS(), bare.ChatTemplate())
	}
}

// TestAddEOSToken: for Llama tokenizer classes, transformers rebuilds the
// post-processor from add_bos_token / add_eos_token.
func TestAddEOSToken(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "mistral", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := `{"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": false, "add_eos_token": true, "tokenizer_class": "LlamaTokenizerFast"}`
	tok, err := Parse(data, []byte(cfg), "eos")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tok.Encode("the", true), []int{23, 2}; !slices.Equal(got, want) {
		t.Errorf("Encode = %v, want %v", got, want)
	}
}

// TestCleanUpTokenizationSpaces reads tokenizer_config.json's
// clean_up_tokenization_spaces; absent (or no config) means false.
func TestCleanUpTokenizationSpaces(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "mistral", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	for cfg, want := range map[string]bool{
		"": false, `{}`: false,
		`{"clean_up_tokenization_spaces": true}`:  true,
		`{"clean_up_tokenization_spaces": false}`: false,
	} {
		var raw []byte
		if cfg != "" {
			raw = []byte(cfg)
		}
		tok, err := Parse(data, raw, "cleanup")
		if err != nil {
			t.Fatal(err)
		}
		if got := tok.CleanUpTokenizationSpaces(); got != want {
			t.Errorf("config %q: CleanUpTokenizationSpaces() = %v, want %v", cfg, got, want)
		}
	}
}

// TestAddedTokenFlags checks single_word, lstrip and rstrip on added
// tokens (the library's AddedVocabulary rules).
func TestAddedTokenFlags(t *testing.T) {
	tests := []struct {
		name  string
		flags map[string]any
		text  string
		want  []int
	}{
		// lstrip/rstrip: the spaces around the token belong to it.
		{"plain", nil, "a <|im_end|> b", []int{'a', ' ', 267, ' ', 'b'}},
		{"lstrip", map[string]any{"lstrip": true}, "a <|im_end|> b", []int{'a', 267, ' ', 'b'}},
		{"rstrip", map[string]any{"rstrip": true}, "a <|im_end|> b", []int{'a', ' ', 267, 'b'}},
		// single_word: not matched when glued to a word character.
		{"single_word glued", map[string]any{"single_word": true}, "a<|im_end|>", []int{'a', '<', '|', 'i', 'm', '_', 'e', 'n', 'd', '|', '>'}},
		{"single_word alone", map[string]any{"single_word": true}, "a <|im_end|>", []int{'a', ' ', 267}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := editFixture(t, "qwen2", func(m map[string]any) {
				for _, a := range m["added_tokens"].([]any) {
					tok := a.(map[string]any)
					if tok["content"] == "<|im_end|>" {
						for k, v := range tt.flags {
							tok[k] = v
						}
					}
				}
			})
			tok, err := Parse(data, nil, tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.Encode(tt.text, false); !slices.Equal(got, tt.want) {
				t.Errorf("Encode(%q) = %v, want %v", tt.text, got, tt.want)
			}
		})
	}
	// Leftmost-longest: of "<|im_" and "<|im_end|>" the longer wins.
	data := editFixture(t, "qwen2", func(m map[string]any) {
		m["added_tokens"] = append(m["added_tokens"].([]any), map[string]any{"id": 269, "content": "<|im_", "special": false})
	})
	tok, err := Parse(data, nil, "longest")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tok.Encode("<|im_end|><|im_x", false), []int{267, 269, 'x'}; !slices.Equal(got, want) {
		t.Errorf("leftmost-longest: %v, want %v", got, want)
	}
	if tok.IsSpecial(269) || !tok.IsSpecial(267) {
		t.Error("special flag of added tokens wrong")
	}
}

// editFixture returns testdata/<name>/tokenizer.json after edit.
func editFixture(t *testing.T, name string, edit func(map[string]any)) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestErrors checks that unsupported or broken files fail with a message
// saying what is wrong.
func TestErrors(t *testing.T) {
	empty := t.TempDir()
	if _, err := Load(empty); err == nil || !strings.Contains(err.Error(), empty) || !strings.Contains(err.Error(), "tokenizer.json") {
		t.Errorf("missing tokenizer.json: %v", err)
	}
	if _, err := Load(filepath.Join(empty, "nope")); err == nil {
		t.Error("missing path: no error")
	}
	tests := []struct {
		name string
		edit func(m map[string]any)
		want string
	}{
		{"unigram", func(m map[string]any) { m["model"] = map[string]any{"type": "Unigram", "vocab": []any{}} }, `unsupported model type "Unigram" (supported: BPE)`},
		{"pre-tokenizer", func(m map[string]any) { m["pre_tokenizer"] = map[string]any{"type": "BertPreTokenizer"} }, `unsupported pre-tokenizer type "BertPreTokenizer"`},
		{"normalizer", func(m map[string]any) { m["normalizer"] = map[string]any{"type": "BertNormalizer"} }, `unsupported normalizer type "BertNormalizer"`},
		{"decoder", func(m map[string]any) { m["decoder"] = map[string]any{"type": "CTC"} }, `unsupported decoder type "CTC"`},
		{"post-processor", func(m map[string]any) { m["post_processor"] = map[string]any{"type": "RobertaProcessing"} }, `unsupported post-processor type "RobertaProcessing"`},
		{"split pattern", func(m map[string]any) {
			m["pre_tokenizer"] = map[string]any{"type": "Split", "pattern": map[string]any{"Regex": `\w+|[^\w\s]+`}, "behavior": "Isolated"}
		}, `unsupported Split pattern`},
		{"replace regex", func(m map[string]any) {
			m["normalizer"] = map[string]any{"type": "Replace", "pattern": map[string]any{"Regex": ` {2,}`}, "content": " "}
		}, `unsupported Regex pattern`},
		{"merge not in vocab", func(m map[string]any) {
			model := m["model"].(map[string]any)
			model["merges"] = append(model["merges"].([]any), "q z")
		}, `is not in model.vocab`},
		{"bad merge", func(m map[string]any) { m["model"].(map[string]any)["merges"] = []any{"a b c"} }, `want two pieces`},
		{"negative id", func(m map[string]any) { m["model"].(map[string]any)["vocab"].(map[string]any)["zz"] = -3 }, `want an id in`},
		{"unk missing", func(m map[string]any) { m["model"].(map[string]any)["unk_token"] = "<nope>" }, `unk_token "<nope>" is not in model.vocab`},
		{"template token", func(m map[string]any) {
			pp := m["post_processor"].(map[string]any)
			pp["special_tokens"] = map[string]any{}
		}, `special token "<s>" not in special_tokens`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(editFixture(t, "mistral", tt.edit), nil, "fixture.json")
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "fixture.json") {
				t.Errorf("error %v, want one naming fixture.json and containing %q", err, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "{", "[1,2]", `{"model": 3}`} {
		if _, err := Parse([]byte(bad), nil, "bad.json"); err == nil || !strings.Contains(err.Error(), "bad.json") {
			t.Errorf("Parse(%q): %v", bad, err)
		}
	}
	data, err := os.ReadFile(filepath.Join("testdata", "mistral", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	for cfg, want := range map[string]string{
		`{`:                                "malformed tokenizer_config.json",
		`{"bos_token": "<nope>"}`:          `bos_token "<nope>" is not in the vocabulary`,
		`{"eos_token": 7}`:                 "eos_token",
		`{"chat_template": {"name": "x"}}`: "chat_template",
	} {
		if _, err := Parse(data, []byte(cfg), "cfg"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config %s: error %v, want %q", cfg, err, want)
		}
	}
}

// TestStories260K checks the 512-piece tokenizer of the shared stories260K
// model: BOS first, and the reference greedy ids decode to the documented
// story.
func TestStories260K(t *testing.T) {
	dir := testshared.Require(t, "models/stories260K-f32")
	tok, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode("Once upon a time", true)
	if len(ids) < 2 || ids[0] != 1 {
		t.Fatalf("Encode(Once upon a time) = %v, want BOS 1 first", ids)
	}
	if got := tok.DecodeSkipSpecial(ids); got != "Once upon a time" {
		t.Errorf("round trip = %q", got)
	}
	ref := readI32Tensor(t, filepath.Join(dir, "reference.safetensors"), "input_ids")
	if len(ref) != 256 || ref[0] != 1 {
		t.Fatalf("reference input_ids: %d ids starting %v", len(ref), ref[:min(len(ref), 1)])
	}
	// The reference continues the prompt from BOS, so its first ids are
	// this tokenizer's encoding of "Once upon a time".
	if !slices.Equal(ref[:len(ids)], ids) {
		t.Errorf("reference starts %v, Encode gives %v", ref[:len(ids)], ids)
	}
	story := tok.Decode(ref)
	if want := "<s> Once upon a time, there was a little girl named Lily. She loved to play outside in the park."; !strings.HasPrefix(story, want) {
		t.Errorf("reference ids decode to %.120q, want prefix %q", story, want)
	}
}

// readI32Tensor reads one I32 tensor of a safetensors file (8-byte header
// length, JSON header, data).
func readI32Tensor(t *testing.T, path, name string) []int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(data[:8])
	var header map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+n], &header); err != nil {
		t.Fatal(err)
	}
	var info struct {
		DType   string `json:"dtype"`
		Offsets [2]int `json:"data_offsets"`
	}
	if err := json.Unmarshal(header[name], &info); err != nil || info.DType != "I32" {
		t.Fatalf("%s: tensor %s: %v %s", path, name, err, info.DType)
	}
	raw := data[8+int(n)+info.Offsets[0] : 8+int(n)+info.Offsets[1]]
	out := make([]int, len(raw)/4)
	for i := range out {
		out[i] = int(int32(binary.LittleEndian.Uint32(raw[4*i:])))
	}
	return out
}

// TestConcurrentEncode: the word cache is shared, so goroutines encoding at
// once must get the sequential results (run with -race to check locking).
func TestConcurrentEncode(t *testing.T) {
	tok := loadFixture(t, "mistral")
	texts := []string{"hello world", "the at", "é 🦙", "  the  world  "}
	want := make([][]int, len(texts))
	for i, s := range texts {
		want[i] = tok.Encode(s, true)
	}
	done := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			for k := 0; k < 200; k++ {
				i := (g + k) % len(texts)
				if got := tok.Encode(texts[i], true); !slices.Equal(got, want[i]) {
					done <- fmt.Errorf("Encode(%q) = %v, want %v", texts[i], got, want[i])
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func TestLoadFileSizeCap(t *testing.T) {
	// A 300 MB tokenizer.json (sparse: no disk space used) is refused from
	// its size, before anything is read.
	dir := t.TempDir()
	path := filepath.Join(dir, "tokenizer.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(300 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = Load(dir)
	if err == nil || err.Error() != "tokenizer: "+path+": 300 MB, larger than the 128 MB a tokenizer file may be" {
		t.Fatalf("Load of a 300 MB tokenizer.json: %v", err)
	}
}
