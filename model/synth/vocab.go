package synth

import (
	"bytes"
	"container/heap"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"
)

// Special tokens, appended after the BPE pieces as Llama 3 does.
const (
	bosToken = "<|begin_of_text|>"
	eosToken = "<|end_of_text|>"
)

// splitPattern is the Llama 3 pre-tokenizer pattern.
const splitPattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// vocabulary is the byte-level BPE tokenizer of the synthetic model:
// pieces[id] in GPT-2's byte-to-unicode alphabet (ids 0..255 are the 256
// bytes, in GPT-2's order), merges in priority order, then the specials.
type vocabulary struct {
	pieces   []string // [id] piece text (byte-level alphabet) or special token
	merges   []string // "left right", highest priority first
	ids      map[string]int
	bos, eos int
}

// size is the number of token ids (pieces and specials).
func (v *vocabulary) size() int { return len(v.pieces) }

// byteAlphabet is GPT-2's bytes_to_unicode: printable Latin-1 bytes stand
// for themselves, the others are shifted to U+0100 and up, in byte order.
// order lists the bytes in the order GPT-2's vocabulary numbers them.
func byteAlphabet() (table [256]rune, order []byte) {
	printable := func(b int) bool {
		return b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF
	}
	for b := 0; b < 256; b++ {
		if printable(b) {
			table[b] = rune(b)
			order = append(order, byte(b))
		}
	}
	n := 0
	for b := 0; b < 256; b++ {
		if !printable(b) {
			table[b] = rune(256 + n)
			n++
			order = append(order, byte(b))
		}
	}
	return table, order
}

// byteSymbols spells s as one byte-level symbol per byte.
func byteSymbols(table *[256]rune, s string) []string {
	syms := make([]string, len(s))
	for i := 0; i < len(s); i++ {
		syms[i] = string(table[s[i]])
	}
	return syms
}

// vocabWords lists the strings that must each become one token, sorted.
func vocabWords() []string {
	set := map[string]bool{}
	add := func(w string) {
		if len(w) > 1 {
			set[w] = true
		}
	}
	for _, list := range [][]string{commonWords, needleWords} {
		for _, w := range list {
			add(" " + w)
			if r := []rune(w); unicode.IsUpper(r[0]) {
				add(w)
			}
		}
	}
	for _, w := range startWords {
		add(w)
		add(" " + w)
	}
	for _, p := range punctuation {
		add(p)
	}
	for i := 0; i < 100; i++ {
		add(fmt.Sprintf("%02d", i))
	}
	words := make([]string, 0, len(set))
	for w := range set {
		words = append(words, w)
	}
	slices.Sort(words)
	return words
}

// buildVocabulary trains byte-level BPE merges on vocabWords until every
// word is a single token. It is seed-independent and computed once.
var buildVocabulary = sync.OnceValue(func() *vocabulary {
	table, order := byteAlphabet()
	v := &vocabulary{ids: map[string]int{}}
	for _, b := range order {
		v.addPiece(string(table[b]))
	}
	words := vocabWords()
	corpus := make([][]string, len(words))
	for i, w := range words {
		corpus[i] = byteSymbols(&table, w)
	}
	for _, m := range trainMerges(corpus) {
		v.merges = append(v.merges, m)
		left, right, _ := strings.Cut(m, " ")
		v.addPiece(left + right)
	}
	v.bos = v.addPiece(bosToken)
	v.eos = v.addPiece(eosToken)
	return v
})

func (v *vocabulary) addPiece(p string) int {
	if id, ok := v.ids[p]; ok {
		return id
	}
	v.ids[p] = len(v.pieces)
	v.pieces = append(v.pieces, p)
	return v.ids[p]
}

// pairCount is a heap entry: a candidate merge and its count when pushed.
type pairCount struct {
	pair  string
	count int
}

type pairHeap []pairCount

func (h pairHeap) Len() int { return len(h) }
func (h pairHeap) Less(i, j int) bool {
	if h[i].count != h[j].count {
		return h[i].count > h[j].count
	}
	return h[i].pair < h[j].pair
}
func (h pairHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pairHeap) Push(x any)   { *h = append(*h, x.(pairCount)) }
func (h *pairHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// trainMerges is plain BPE training: repeatedly merge the most frequent
// adjacent pair (ties: the smaller "left right" string), until no word has
// two symbols left. Words are modified in place.
func trainMerges(words [][]string) []string {
	counts := map[string]int{}
	where := map[string]map[int]bool{} // pair -> words holding it
	addPairs := func(i, sign int) {
		w := words[i]
		for j := 0; j+1 < len(w); j++ {
			p := w[j] + " " + w[j+1]
			counts[p] += sign
			if sign > 0 {
				if where[p] == nil {
					where[p] = map[int]bool{}
				}
				where[p][i] = true
			}
		}
	}
	for i := range words {
		addPairs(i, 1)
	}
	h := &pairHeap{}
	for p, c := range counts {
		*h = append(*h, pairCount{p, c})
	}
	heap.Init(h)
	var merges []string
	for h.Len() > 0 {
		top := heap.Pop(h).(pairCount)
		if counts[top.pair] != top.count || top.count <= 0 {
			continue // stale entry
		}
		merges = append(merges, top.pair)
		left, right, _ := strings.Cut(top.pair, " ")
		holders := make([]int, 0, len(where[top.pair]))
		for i := range where[top.pair] {
			holders = append(holders, i)
		}
		slices.Sort(holders)
		touched := map[string]bool{}
		for _, i := range holders {
			before := words[i]
			for j := 0; j+1 < len(before); j++ {
				touched[before[j]+" "+before[j+1]] = true
			}
			addPairs(i, -1)
			words[i] = mergePair(before, left, right)
			addPairs(i, 1)
			after := words[i]
			for j := 0; j+1 < len(after); j++ {
				touched[after[j]+" "+after[j+1]] = true
			}
		}
		delete(where, top.pair)
		changed := make([]string, 0, len(touched))
		for p := range touched {
			changed = append(changed, p)
		}
		slices.Sort(changed)
		for _, p := range changed {
			if c := counts[p]; c > 0 {
				heap.Push(h, pairCount{p, c})
			}
		}
	}
	return merges
}

// mergePair replaces every adjacent (left, right), scanning left to right.
func mergePair(syms []string, left, right string) []string {
	out := make([]string, 0, len(syms))
	for j := 0; j < len(syms); j++ {
		if j+1 < len(syms) && syms[j] == left && syms[j+1] == right {
			out = append(out, left+right)
			j++
			continue
		}
		out = append(out, syms[j])
	}
	return out
}

// encodeWord applies the merges to one pre-tokenized word (byte-level
// symbols), lowest rank first, as Hugging Face's BPE does; it returns the
// resulting pieces. It is how the vocabulary checks itself.
func (v *vocabulary) encodeWord(syms []string, rank map[string]int) []string {
	syms = slices.Clone(syms)
	for len(syms) > 1 {
		best, at := -1, -1
		for j := 0; j+1 < len(syms); j++ {
			if r, ok := rank[syms[j]+" "+syms[j+1]]; ok && (best < 0 || r < best) {
				best, at = r, j
			}
		}
		if at < 0 {
			break
		}
		syms = append(syms[:at], append([]string{syms[at] + syms[at+1]}, syms[at+2:]...)...)
	}
	return syms
}

// ranks maps each merge to its priority.
func (v *vocabulary) ranks() map[string]int {
	r := make(map[string]int, len(v.merges))
	for i, m := range v.merges {
		r[m] = i
	}
	return r
}

// tokenizerJSON renders tokenizer.json in the Hugging Face layout of the
// Llama 3 tokenizer: the Llama 3 split pattern and ByteLevel pre-tokenizer,
// a TemplateProcessing post-processor that prepends BOS, the ByteLevel
// decoder, and a BPE model with ignore_merges. The bytes depend only on
// the vocabulary.
func (v *vocabulary) tokenizerJSON() ([]byte, error) {
	type added struct {
		ID         int    `json:"id"`
		Content    string `json:"content"`
		SingleWord bool   `json:"single_word"`
		LStrip     bool   `json:"lstrip"`
		RStrip     bool   `json:"rstrip"`
		Normalized bool   `json:"normalized"`
		Special    bool   `json:"special"`
	}
	type object = map[string]any
	specials := []added{
		{ID: v.bos, Content: bosToken, Special: true},
		{ID: v.eos, Content: eosToken, Special: true},
	}
	bos := object{"SpecialToken": object{"id": bosToken, "type_id": 0}}
	doc := struct {
		Version       string  `json:"version"`
		Truncation    any     `json:"truncation"`
		Padding       any     `json:"padding"`
		AddedTokens   []added `json:"added_tokens"`
		Normalizer    any     `json:"normalizer"`
		PreTokenizer  any     `json:"pre_tokenizer"`
		PostProcessor any     `json:"post_processor"`
		Decoder       any     `json:"decoder"`
		Model         any     `json:"model"`
	}{
		Version:     "1.0",
		AddedTokens: specials,
		PreTokenizer: object{"type": "Sequence", "pretokenizers": []any{
			object{"type": "Split", "pattern": object{"Regex": splitPattern}, "behavior": "Isolated", "invert": false},
			object{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
		}},
		PostProcessor: object{"type": "Sequence", "processors": []any{
			object{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
			object{
				"type":   "TemplateProcessing",
				"single": []any{bos, object{"Sequence": object{"id": "A", "type_id": 0}}},
				"pair": []any{bos, object{"Sequence": object{"id": "A", "type_id": 0}},
					object{"SpecialToken": object{"id": bosToken, "type_id": 1}}, object{"Sequence": object{"id": "B", "type_id": 1}}},
				"special_tokens": object{bosToken: object{"id": bosToken, "ids": []int{v.bos}, "tokens": []string{bosToken}}},
			},
		}},
		Decoder: object{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		Model: struct {
			Type                    string     `json:"type"`
			Dropout                 any        `json:"dropout"`
			UnkToken                any        `json:"unk_token"`
			ContinuingSubwordPrefix any        `json:"continuing_subword_prefix"`
			EndOfWordSuffix         any        `json:"end_of_word_suffix"`
			FuseUnk                 bool       `json:"fuse_unk"`
			ByteFallback            bool       `json:"byte_fallback"`
			IgnoreMerges            bool       `json:"ignore_merges"`
			Vocab                   orderedIDs `json:"vocab"`
			Merges                  []string   `json:"merges"`
		}{Type: "BPE", IgnoreMerges: true, Vocab: orderedIDs(v.pieces[:v.bos]), Merges: v.merges},
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	return b.Bytes(), nil
}

// orderedIDs marshals pieces as a JSON object piece -> id in id order.
type orderedIDs []string

// MarshalJSON implements json.Marshaler.
func (o orderedIDs) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for id, p := range o {
		if id > 0 {
			b.WriteByte(',')
		}
		k, err := marshalNoEscape(p)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		fmt.Fprintf(&b, ":%d", id)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// tokenizerConfigJSON renders tokenizer_config.json.
func (v *vocabulary) tokenizerConfigJSON() ([]byte, error) {
	type special struct {
		Content    string `json:"content"`
		LStrip     bool   `json:"lstrip"`
		Normalized bool   `json:"normalized"`
		RStrip     bool   `json:"rstrip"`
		SingleWord bool   `json:"single_word"`
		Special    bool   `json:"special"`
	}
	doc := struct {
		AddBOSToken               bool               `json:"add_bos_token"`
		AddEOSToken               bool               `json:"add_eos_token"`
		AddedTokensDecoder        map[string]special `json:"added_tokens_decoder"`
		BOSToken                  string             `json:"bos_token"`
		EOSToken                  string             `json:"eos_token"`
		CleanUpTokenizationSpaces bool               `json:"clean_up_tokenization_spaces"`
		ModelMaxLength            int                `json:"model_max_length"`
		TokenizerClass            string             `json:"tokenizer_class"`
	}{
		AddBOSToken: true,
		AddedTokensDecoder: map[string]special{
			fmt.Sprint(v.bos): {Content: bosToken, Special: true},
			fmt.Sprint(v.eos): {Content: eosToken, Special: true},
		},
		BOSToken:       bosToken,
		EOSToken:       eosToken,
		ModelMaxLength: maxPositions,
		TokenizerClass: "PreTrainedTokenizerFast",
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("tokenizer_config.json: %w", err)
	}
	return b.Bytes(), nil
}
