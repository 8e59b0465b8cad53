package tokenizer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// FuzzTokenizerJSON: Parse never panics on arbitrary bytes, and whatever it
// accepts encodes and decodes without panicking and with ids in range.
func FuzzTokenizerJSON(f *testing.F) {
	for _, name := range []string{"mistral", "qwen2"} {
		tok, err := os.ReadFile(filepath.Join("testdata", name, "tokenizer.json"))
		if err != nil {
			f.Fatal(err)
		}
		cfg, err := os.ReadFile(filepath.Join("testdata", name, "tokenizer_config.json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok, cfg)
		f.Add(tok, []byte(nil))
	}
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":[["a","b"]]},"added_tokens":[{"id":5,"content":"<x>"}]}`), []byte(`{"bos_token":{"content":"<x>"}}`))
	f.Add([]byte(`{"model":{"vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"Metaspace","replacement":"_","prepend_scheme":"first"},"decoder":{"type":"Metaspace"}}`), []byte(nil))
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":9999999},"merges":[]}}`), []byte(nil))
	f.Fuzz(func(t *testing.T, tokJSON, cfgJSON []byte) {
		tok, err := Parse(tokJSON, cfgJSON, "fuzz")
		if err != nil {
			return
		}
		ids := tok.Encode("a b <x> é 12\n", true)
		for _, id := range ids {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("id %d out of [0, %d)", id, tok.VocabSize())
			}
		}
		tok.Decode(ids)
		tok.DecodeSkipSpecial([]int{-1, 0, 1, 2, tok.VocabSize()})
	})
}

// FuzzEncode: with the byte-level fixture every valid UTF-8 text
// round-trips (up to its NFC normaliser), and any text encodes without
// panicking, with both fixtures.
func FuzzEncode(f *testing.F) {
	q := loadFixture(f, "qwen2")
	m := loadFixture(f, "mistral")
	for _, s := range []string{"", "hello world", "  the 1234\r\n\n", "I'M 'ſ", "🦙👨‍👩‍👧", "e\u0301\u00a0x", "<|im_start|>a<|im_end|>", "\xff\xfe", "hello</s><s>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids := q.Encode(s, true)
		// NFC runs on the text between added tokens, so a combining mark
		// right after "<|im_end|>" is not composed with its ">": compare
		// whole-text NFC only when there is no added-token marker.
		if utf8.ValidString(s) && !strings.Contains(s, "<|") {
			if got, want := q.Decode(ids), norm.NFC.String(s); got != want {
				t.Fatalf("qwen2 Decode(Encode(%q)) = %q, want %q", s, got, want)
			}
		}
		for _, id := range m.Encode(s, true) {
			if id < 0 || id >= m.VocabSize() {
				t.Fatalf("mistral id %d out of range", id)
			}
		}
		m.Decode(m.Encode(s, false))
	})
}

// FuzzTokenizerConfig: a tokenizer_config.json of any content beside a
// valid tokenizer.json never panics Parse; whatever it accepts has its
// special-token ids in range, and encodes and decodes.
func FuzzTokenizerConfig(f *testing.F) {
	tokJSON := []byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2,"<s>":3,"</s>":4},"merges":[["a","b"]]},"added_tokens":[{"id":3,"content":"<s>","special":true},{"id":4,"content":"</s>","special":true}]}`)
	for _, name := range []string{"mistral", "qwen2"} {
		cfg, err := os.ReadFile(filepath.Join("testdata", name, "tokenizer_config.json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(cfg)
	}
	f.Add([]byte(`{"bos_token":"<s>","eos_token":{"content":"</s>"},"add_bos_token":true,"add_eos_token":true,"chat_template":"{{ '<|im_start|>' }}"}`))
	f.Add([]byte(`{"chat_template":[{"name":"default","template":"[INST]"},{"name":"tool_use","template":"x"}]}`))
	f.Add([]byte(`{"bos_token":"<missing>","clean_up_tokenization_spaces":true}`))
	f.Add([]byte(`{"bos_token":null,"chat_template":7}`))
	f.Fuzz(func(t *testing.T, cfgJSON []byte) {
		tok, err := Parse(tokJSON, cfgJSON, "fuzz")
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error of more than one line: %q", err)
			}
			return
		}
		bos, _ := tok.BOS()
		for _, id := range append(tok.EOS(), bos) {
			if id < -1 || id >= tok.VocabSize() {
				t.Fatalf("special id %d outside [-1, %d)", id, tok.VocabSize())
			}
		}
		_ = tok.ChatTemplate()
		ids := tok.Encode("ab ba", true)
		for _, id := range ids {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("id %d out of [0, %d)", id, tok.VocabSize())
			}
		}
		tok.Decode(ids)
	})
}
