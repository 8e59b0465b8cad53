package needle

import (
	"strings"
	"testing"
)

// FuzzDetectTemplate: any tokenizer_config.json names a known template
// family, and the template warnings never panic on the chat template found.
func FuzzDetectTemplate(f *testing.F) {
	f.Add([]byte(`{"chat_template":"{{ '<|start_header_id|>' }}"}`))
	f.Add([]byte(`{"chat_template":[{"name":"default","template":"[INST] {{ m }} [/INST]"}]}`))
	f.Add([]byte(`{"chat_template":"<|im_start|>user"}`))
	f.Add([]byte(`{"chat_template":null}`))
	f.Add([]byte(`{"chat_template":7}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, cfg []byte) {
		name := DetectTemplate(cfg)
		tmpl, err := TemplateFor(name)
		if err != nil {
			t.Fatalf("DetectTemplate gave %q, which TemplateFor refuses: %v", name, err)
		}
		text := string(cfg)
		if _, err := TemplateFor(DetectTemplateText(text)); err != nil {
			t.Fatalf("DetectTemplateText gave a name TemplateFor refuses: %v", err)
		}
		TemplateWarnings(tmpl, true, text, func(p string) bool { return len(p)%2 == 0 })
	})
}

// FuzzLoadHaystack: a haystack file of any content loads or fails with one
// line naming the file, and what loads is the file's text, not empty. It
// fuzzes the loader's parser in memory (haystackText); TestLoadHaystack
// covers the file and folder layer.
func FuzzLoadHaystack(f *testing.F) {
	f.Add([]byte("It was a bright cold day in April.\n"))
	f.Add([]byte(" \n\t "))
	f.Add([]byte{0xff, 0xfe, 0})
	f.Add([]byte(""))
	const path = "hay.txt"
	f.Fuzz(func(t *testing.T, data []byte) {
		text, err := haystackText(path, data)
		if err != nil {
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, path) {
				t.Fatalf("error %q is not one line naming the file", msg)
			}
			return
		}
		if text != string(data) || strings.TrimSpace(text) == "" {
			t.Fatalf("LoadHaystack returned %q for a file holding %q", text, data)
		}
		if ContentHash(text) != ContentHash(string(data)) {
			t.Fatal("ContentHash is not a function of the text")
		}
	})
}
