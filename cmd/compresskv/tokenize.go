package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// tokenizeOptions are the flags of `compresskv tokenize`.
type tokenizeOptions struct {
	Tokenizer string
	Special   bool
	Text      string
	File      string
	Decode    string
	JSON      bool
	textSet   bool // --text was given (it may be "")
}

// newTokenizeCommand builds the tokenize command.
func newTokenizeCommand(s *streams) *cobra.Command {
	opts := &tokenizeOptions{}
	cmd := &cobra.Command{
		Use:   "tokenize",
		Short: "Encode text to token ids, or decode ids to text, with a Hugging Face tokenizer.json",
		Long: `tokenize runs a model's tokenizer.json (byte-level BPE as in Llama 3 and
Qwen2, or SentencePiece-style BPE as in Mistral and Llama 2) exactly as the
Hugging Face tokenizers library does. It prints the ids of --text, --file or
standard input as a one-line JSON array; --special adds the post-processor's
special tokens (BOS) like add_special_tokens=True. --decode prints the text of
ids given as "1,2,3" or "[1,2,3]", special tokens included.`,
		Example: `  # Ids of a sentence (Llama 3 prints [2028,374,264,1296,11914,13])
  compresskv tokenize --tokenizer ~/models/Llama-3.1-8B --text "This is a test sentence."

  # With BOS, and the piece of every id
  compresskv tokenize --tokenizer ~/models/Mistral-7B-v0.1/tokenizer.json --special --json --text "Hello"

  # Ids back to text
  compresskv tokenize --tokenizer ~/models/Llama-3.1-8B --decode 2028,374,264,1296,11914,13`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.textSet = cmd.Flags().Changed("text")
			return runTokenize(opts, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Tokenizer, "tokenizer", "", "tokenizer folder, model folder, or tokenizer.json path")
	f.BoolVar(&opts.Special, "special", false, "add the post-processor's special tokens (BOS) when encoding")
	f.StringVar(&opts.Text, "text", "", "text to encode")
	f.StringVar(&opts.File, "file", "", `file whose whole content is encoded ("-" for standard input)`)
	f.StringVar(&opts.Decode, "decode", "", `ids to decode: "1,2,3" or "[1,2,3]"`)
	f.BoolVar(&opts.JSON, "json", false, `print {"ids":[...],"tokens":[...]} (with --decode: {"ids":[...],"text":"..."})`)
	return cmd
}

func runTokenize(opts *tokenizeOptions, s *streams) error {
	if opts.Tokenizer == "" {
		return usagef("tokenize: --tokenizer is required (a folder with tokenizer.json, or the file)")
	}
	sources := 0
	for _, set := range []bool{opts.textSet, opts.File != "", opts.Decode != ""} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		return usagef("tokenize: give only one of --text, --file and --decode")
	}
	var ids []int
	if opts.Decode != "" {
		var err error
		if ids, err = parseIDList(opts.Decode); err != nil {
			return usagef("tokenize: --decode %q: %v", opts.Decode, err)
		}
	}
	tok, err := loadTokenizer(opts.Tokenizer)
	if err != nil {
		return err
	}
	if opts.Decode != "" {
		// Decode skips ids it has no piece for; a user asking for them
		// wants to know, not to get a shorter text.
		for _, id := range ids {
			if id >= tok.VocabSize() || tok.Piece(id) == "" {
				return usagef("tokenize: --decode: id %d is not in the vocabulary of %s (%d ids)", id, opts.Tokenizer, tok.VocabSize())
			}
		}
		text := tok.Decode(ids)
		if opts.JSON {
			return writeJSONLine(s.out, struct {
				IDs  []int  `json:"ids"`
				Text string `json:"text"`
			}{ids, text})
		}
		_, err := fmt.Fprintln(s.out, text)
		return err
	}
	text := opts.Text
	switch {
	case opts.File == "-" || (sources == 0 && s.in != nil):
		data, err := io.ReadAll(s.in)
		if err != nil {
			return fmt.Errorf("tokenize: reading standard input: %w", err)
		}
		text = string(data)
	case opts.File != "":
		data, err := os.ReadFile(opts.File)
		if err != nil {
			return fmt.Errorf("tokenize: %w", err)
		}
		text = string(data)
	}
	ids = tok.Encode(text, opts.Special)
	if ids == nil {
		ids = []int{}
	}
	if !opts.JSON {
		return writeJSONLine(s.out, ids)
	}
	tokens := make([]string, len(ids))
	for i, id := range ids {
		tokens[i] = tok.Piece(id)
	}
	return writeJSONLine(s.out, struct {
		IDs    []int    `json:"ids"`
		Tokens []string `json:"tokens"`
	}{ids, tokens})
}

// parseIDList reads "1,2,3", "1 2 3" or a JSON array "[1,2,3]".
func parseIDList(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") {
		var ids []int
		if err := json.Unmarshal([]byte(s), &ids); err != nil {
			return nil, fmt.Errorf("want a JSON array of integers: %v", err)
		}
		for _, id := range ids {
			if id < 0 {
				return nil, fmt.Errorf("%d is not a token id (want non-negative integers)", id)
			}
		}
		return ids, nil
	}
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
	ids := make([]int, 0, len(fields))
	for _, f := range fields {
		id, err := strconv.Atoi(f)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("%q is not a token id (want comma-separated non-negative integers)", f)
		}
		ids = append(ids, id)
	}
	return ids, nil
}
