package tokenizer

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the testdata fixtures from their Go definitions")

// mistralFixture is a SentencePiece-style BPE tokenizer.json in the layout
// Mistral 7B and Llama 2 ship (Prepend + Replace normaliser, no
// pre-tokenizer, byte_fallback, fuse_unk), with 36 pieces chosen so the
// tests can derive every encoding by hand.
func mistralFixture() (tokenizerJSON, configJSON any) {
	pieces := []string{
		"<unk>", "<s>", "</s>", // 0-2
		"<0x0A>", "<0xC3>", "<0xA9>", "<0xF0>", "<0x9F>", "<0xA6>", "<0x99>", // 3-9: only some bytes
		"▁", "a", "d", "e", "h", "l", "o", "r", "t", "w", // 10-19
		"▁t", "he", "ll", "▁the", "or", "▁w", "▁wor", "▁worl", "▁world", "hell", // 20-29
		"hello", "▁hello", "▁▁", "▁h", "▁a", "at", // 30-35
	}
	merges := []string{
		"▁ t", "h e", "l l", "▁t he", "o r", "▁ w", "▁w or", "▁wor l", "▁worl d",
		"he ll", "hell o", "▁ hello", "▁ ▁", "▁ h", "▁ a", "a t",
	}
	vocab := map[string]int{}
	for i, p := range pieces {
		vocab[p] = i
	}
	special := func(id int, content string) map[string]any {
		return map[string]any{"id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
	}
	tok := map[string]any{
		"version":      "1.0",
		"truncation":   nil,
		"padding":      nil,
		"added_tokens": []any{special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")},
		"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{
			map[string]any{"type": "Prepend", "prepend": "▁"},
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"},
		}},
		"pre_tokenizer": nil,
		"post_processor": map[string]any{
			"type":   "TemplateProcessing",
			"single": []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}},
			"pair": []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
				map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 1}}, map[string]any{"Sequence": map[string]any{"id": "B", "type_id": 1}}},
			"special_tokens": map[string]any{"<s>": map[string]any{"id": "<s>", "ids": []int{1}, "tokens": []string{"<s>"}}},
		},
		"decoder": map[string]any{"type": "Sequence", "decoders": []any{
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": "▁"}, "content": " "},
			map[string]any{"type": "ByteFallback"},
			map[string]any{"type": "Fuse"},
			map[string]any{"type": "Strip", "content": " ", "start": 1, "stop": 0},
		}},
		"model": map[string]any{
			"type": "BPE", "dropout": nil, "unk_token": "<unk>", "continuing_subword_prefix": nil,
			"end_of_word_suffix": nil, "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
			"vocab": vocab, "merges": merges,
		},
	}
	config := map[string]any{
		"add_bos_token":   true,
		"add_eos_token":   false,
		"bos_token":       "<s>",
		"eos_token":       map[string]any{"content": "</s>", "lstrip": false, "normalized": false, "rstrip": false, "single_word": false, "__type": "AddedToken"},
		"unk_token":       "<unk>",
		"chat_template":   "{{ bos_token }}{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}",
		"tokenizer_class": "LlamaTokenizer",
		"legacy":          true,
	}
	return tok, config
}

// qwen2Fixture is a byte-level BPE tokenizer.json in the layout Qwen2
// ships (NFC normaliser, the Qwen2 split pattern with single digits, merges
// as pairs, no ignore_merges, no BOS). Pieces 0-255 are the 256 GPT-2 byte
// characters in byte order (id == byte value), so any text round-trips.
func qwen2Fixture() (tokenizerJSON, configJSON any) {
	vocab := map[string]int{}
	for b := 0; b < 256; b++ {
		vocab[string(byteToRune[b])] = b
	}
	merges := [][2]string{
		{"Ġ", "t"}, {"h", "e"}, {"Ġt", "he"}, {"1", "2"}, {"Ċ", "Ċ"},
		{"Ġ", "Ġ"}, {"'", "s"}, {"i", "n"}, {"Ġ", "in"},
	}
	for i, m := range merges {
		vocab[m[0]+m[1]] = 256 + i // 256-264
	}
	vocab["Ġxy"] = 268 // reachable only as a whole word (ignore_merges)
	added := func(id int, content string) map[string]any {
		return map[string]any{"id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
	}
	pattern := `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	tok := map[string]any{
		"version":      "1.0",
		"truncation":   nil,
		"padding":      nil,
		"added_tokens": []any{added(265, "<|endoftext|>"), added(266, "<|im_start|>"), added(267, "<|im_end|>")},
		"normalizer":   map[string]any{"type": "NFC"},
		"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": pattern}, "behavior": "Isolated", "invert": false},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
		}},
		"post_processor": map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
		"decoder":        map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
		"model": map[string]any{
			"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": "",
			"end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false,
			"vocab": vocab, "merges": merges,
		},
	}
	config := map[string]any{
		"bos_token": nil,
		"eos_token": "<|im_end|>",
		"chat_template": []any{
			map[string]any{"name": "default", "template": "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"},
			map[string]any{"name": "tool_use", "template": "tools"},
		},
		"tokenizer_class": "Qwen2Tokenizer",
	}
	return tok, config
}

func marshalFixture(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		panic(err) // fixtures are fixed Go values
	}
	return buf.Bytes()
}

// TestFixturesUpToDate checks that testdata matches the Go definitions
// above (go test -run TestFixturesUpToDate -update rewrites it).
func TestFixturesUpToDate(t *testing.T) {
	for name, build := range map[string]func() (any, any){"mistral": mistralFixture, "qwen2": qwen2Fixture} {
		tok, config := build()
		files := map[string][]byte{"tokenizer.json": marshalFixture(tok), "tokenizer_config.json": marshalFixture(config)}
		for file, want := range files {
			path := filepath.Join("testdata", name, file)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestFixturesUpToDate -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from its Go definition (run go test -run TestFixturesUpToDate -update)", path)
			}
		}
	}
}

// loadFixture loads testdata/<name>.
func loadFixture(t testing.TB, name string) *Tokenizer {
	t.Helper()
	tok, err := Load(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(fmt.Errorf("fixture %s: %w", name, err))
	}
	return tok
}
