package needle

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/compresskv/compresskv/configs"
)

// Template turns a context and a question into a prompt text. Text holds
// the placeholders {context}, {question} and {prefix}.
type Template struct {
	Name string // "raw", "answer-prefix", "llama3", "mistral", "qwen2", or "custom"
	Text string
}

// Render fills the placeholders in one pass, so a context that happens to
// contain "{question}" is left as it is.
func (t Template) Render(context, question, prefix string) string {
	r := strings.NewReplacer("{context}", context, "{question}", question, "{prefix}", prefix)
	return r.Replace(t.Text)
}

// templateFile is configs/templates.yaml.
type templateFile struct {
	Templates map[string]string `yaml:"templates"`
	Aliases   map[string]string `yaml:"aliases"`
}

var loadTemplates = sync.OnceValues(func() (templateFile, error) {
	data, err := configs.Read("templates.yaml")
	if err != nil {
		return templateFile{}, err
	}
	var tf templateFile
	if err := yaml.Unmarshal(data, &tf); err != nil {
		return templateFile{}, fmt.Errorf("configs/templates.yaml: %w", err)
	}
	for name, text := range tf.Templates {
		if !strings.Contains(text, "{context}") {
			return templateFile{}, fmt.Errorf("configs/templates.yaml: template %q has no {context} placeholder", name)
		}
	}
	for alias, name := range tf.Aliases {
		if _, ok := tf.Templates[name]; !ok {
			return templateFile{}, fmt.Errorf("configs/templates.yaml: alias %q names unknown template %q", alias, name)
		}
	}
	return tf, nil
})

// TemplateNames lists the built-in template names (aliases excluded).
func TemplateNames() []string {
	tf, err := loadTemplates()
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(tf.Templates))
	for name := range tf.Templates {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// TemplateFor returns the built-in template called name ("raw", the
// reference default; "answer-prefix"; "llama3"; "mistral"; "qwen2" or
// "chatml"), or, when name contains "{context}", a custom template whose
// text is name itself.
func TemplateFor(name string) (Template, error) {
	if strings.Contains(name, "{context}") {
		return Template{Name: "custom", Text: name}, nil
	}
	tf, err := loadTemplates()
	if err != nil {
		return Template{}, err
	}
	key := strings.ToLower(strings.TrimSpace(name))
	if alias, ok := tf.Aliases[key]; ok {
		key = alias
	}
	text, ok := tf.Templates[key]
	if !ok {
		return Template{}, fmt.Errorf("template %q: want one of %s, or a custom text containing {context}", name, strings.Join(TemplateNames(), ", "))
	}
	return Template{Name: key, Text: text}, nil
}

// DetectTemplate names the chat template family of a tokenizer from its
// tokenizer_config.json (see DetectTemplateText); unreadable JSON or no
// chat_template gives "raw".
func DetectTemplate(tokenizerConfigJSON []byte) string {
	var cfg struct {
		ChatTemplate json.RawMessage `json:"chat_template"`
	}
	if err := json.Unmarshal(tokenizerConfigJSON, &cfg); err != nil || len(cfg.ChatTemplate) == 0 {
		return "raw"
	}
	// chat_template is a string, or a list of {name, template} objects.
	text := string(cfg.ChatTemplate)
	var s string
	if json.Unmarshal(cfg.ChatTemplate, &s) == nil {
		text = s
	}
	return DetectTemplateText(text)
}

// DetectTemplateText names the family of a Jinja chat template: "llama3"
// when it uses <|start_header_id|>, "mistral" for [INST], "qwen2" for
// <|im_start|>, otherwise "raw".
func DetectTemplateText(chatTemplate string) string {
	switch {
	case strings.Contains(chatTemplate, "<|start_header_id|>"):
		return "llama3"
	case strings.Contains(chatTemplate, "[INST]"):
		return "mistral"
	case strings.Contains(chatTemplate, "<|im_start|>"):
		return "qwen2"
	}
	return "raw"
}

// TemplateWarnings says what a user should know about the template a run
// will use: that --template auto found no chat template it knows (and fell
// back to raw), or that a chat template names special tokens such as
// <|start_header_id|> the tokenizer does not have, so they would be spelled
// out in pieces. chatTemplate is the tokenizer's own (tokenizer_config.json;
// "" when it has none) and hasToken says whether a piece is one token.
func TemplateWarnings(t Template, auto bool, chatTemplate string, hasToken func(piece string) bool) []string {
	var out []string
	if auto && t.Name == "raw" {
		if strings.TrimSpace(chatTemplate) == "" {
			out = append(out, "--template auto: the tokenizer has no chat_template (tokenizer_config.json is missing or has none), so prompts use the raw template")
		} else {
			out = append(out, "--template auto: the tokenizer's chat_template is not one of llama3, mistral or qwen2, so prompts use the raw template; name one with --template if it fits")
		}
	}
	var missing []string
	for _, piece := range specialPieces(t.Text) {
		if !hasToken(piece) && !slices.Contains(missing, piece) {
			missing = append(missing, piece)
		}
	}
	if len(missing) > 0 {
		out = append(out, fmt.Sprintf("--template %s uses %s, which the tokenizer does not have as tokens: the prompts will spell them out as text; this template is probably not this model's (try --template auto)",
			t.Name, strings.Join(missing, ", ")))
	}
	return out
}

// specialPieces lists the <|...|> markers of a template text, in order.
func specialPieces(text string) []string {
	var out []string
	for {
		i := strings.Index(text, "<|")
		if i < 0 {
			return out
		}
		j := strings.Index(text[i:], "|>")
		if j < 0 {
			return out
		}
		out = append(out, text[i:i+j+2])
		text = text[i+j+2:]
	}
}
