package tokenizer

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// bpe is the Hugging Face BPE model: a vocabulary and ranked merges.
type bpe struct {
	vocab       map[string]int
	merges      map[uint64]merge
	unk         int // -1 when there is no unk_token
	fuseUnk     bool
	byteFallbck bool
	ignoreMerge bool
	prefix      string   // continuing_subword_prefix
	suffix      string   // end_of_word_suffix
	byteIDs     [256]int // <0xXX> pieces for byte_fallback, -1 when absent
	// boundary is "▁" when no merge can join a piece that does not end in
	// "▁" to one that starts with it; words are then merged chunk by chunk
	// (each chunk starts at such a boundary) with the same result, since
	// BPE applies merges within a chunk in the same order either way. This
	// keeps SentencePiece-style input, where a whole line is one word, fast
	// and cacheable. "" when the vocabulary does not allow it.
	boundary string

	mu    sync.Mutex
	cache map[string][]int // word -> ids, bounded
}

// merge is what a pair of adjacent symbols becomes: the merge's rank
// (position in the merges list, lower merges first) and the merged id.
type merge struct {
	rank, id int32
}

func pairKey(a, b int) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

const (
	cacheWords   = 1 << 16 // entries before the cache is cleared
	cacheMaxWord = 64      // bytes; longer words are not cached
)

// symbol is one piece of a word during merging, in a doubly linked list
// over the word's symbols (removed symbols have size 0).
type symbol struct {
	id         int
	prev, next int
	size       int
}

// candidate is a possible merge of symbols[pos] with its next symbol.
type candidate struct {
	rank, id int32
	pos      int
}

func (a candidate) before(b candidate) bool {
	return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos)
}

// candidateHeap is a binary min-heap on (rank, pos), the order in which
// the library's BinaryHeap pops merges.
type candidateHeap []candidate

func (h *candidateHeap) push(c candidate) {
	*h = append(*h, c)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !q[i].before(q[p]) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *candidateHeap) pop() candidate {
	q := *h
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q = q[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(q) && q[l].before(q[m]) {
			m = l
		}
		if r < len(q) && q[r].before(q[m]) {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}

// tokenize appends the ids of one pre-tokenized word.
func (m *bpe) tokenize(word string, out []int) []int {
	if word == "" {
		return out
	}
	if m.boundary != "" {
		if cut := m.nextBoundary(word); cut < len(word) {
			for len(word) > 0 {
				out = m.tokenize(word[:cut], out)
				word = word[cut:]
				cut = m.nextBoundary(word)
			}
			return out
		}
	}
	// ignore_merges: a word that is itself a piece is emitted whole, even if
	// the merges would have split it differently.
	if m.ignoreMerge {
		if id, ok := m.vocab[word]; ok {
			return append(out, id)
		}
	}
	cacheable := len(word) <= cacheMaxWord
	if cacheable {
		m.mu.Lock()
		ids, ok := m.cache[word]
		m.mu.Unlock()
		if ok {
			return append(out, ids...)
		}
	}
	start := len(out)
	out = m.mergeWord(word, out)
	if cacheable {
		ids := append([]int(nil), out[start:]...)
		m.mu.Lock()
		if len(m.cache) >= cacheWords {
			clear(m.cache)
		}
		m.cache[word] = ids
		m.mu.Unlock()
	}
	return out
}

// mergeWord splits word into characters (each a piece, or its bytes as
// <0xXX> pieces with byte_fallback, or unk) and applies merges lowest rank
// first, leftmost first among equal ranks, in O(n log n).
func (m *bpe) mergeWord(word string, out []int) []int {
	symbols := make([]symbol, 0, len(word))
	add := func(id, size int) {
		n := len(symbols)
		symbols = append(symbols, symbol{id: id, prev: n - 1, next: n + 1, size: size})
	}
	unkID, unkSize := -1, 0
	flushUnk := func() {
		if unkID >= 0 {
			add(unkID, unkSize)
			unkID = -1
		}
	}
	for i := 0; i < len(word); {
		_, w := utf8.DecodeRuneInString(word[i:])
		end := i + w
		s := word[i:end]
		i = end
		piece := s
		if m.prefix != "" && end > len(s) {
			piece = m.prefix + piece
		}
		if m.suffix != "" && end == len(word) {
			piece += m.suffix
		}
		if id, ok := m.vocab[piece]; ok {
			flushUnk()
			add(id, len(s))
			continue
		}
		// byte_fallback: a character with no piece becomes its UTF-8 bytes
		// as <0xXX> pieces, if all of them exist.
		if m.byteFallbck && m.hasBytes(piece) {
			flushUnk()
			for k := 0; k < len(piece); k++ {
				add(m.byteIDs[piece[k]], 1)
			}
			continue
		}
		if m.unk < 0 {
			continue // no unk_token: the character is dropped, as in the library
		}
		// fuse_unk: consecutive unknown characters become one unk.
		if unkID >= 0 && m.fuseUnk {
			unkSize += len(s)
			continue
		}
		flushUnk()
		unkID, unkSize = m.unk, len(s)
	}
	flushUnk()
	if len(symbols) == 0 {
		return out
	}
	symbols[len(symbols)-1].next = -1

	heap := make(candidateHeap, 0, len(symbols))
	for i := 0; i+1 < len(symbols); i++ {
		if mg, ok := m.merges[pairKey(symbols[i].id, symbols[i+1].id)]; ok {
			heap.push(candidate{rank: mg.rank, id: mg.id, pos: i})
		}
	}
	for len(heap) > 0 {
		top := heap.pop()
		cur := &symbols[top.pos]
		if cur.size == 0 || cur.next < 0 {
			continue
		}
		nextPos := cur.next
		right := symbols[nextPos]
		// A stale candidate: one side has merged since it was queued.
		if mg, ok := m.merges[pairKey(cur.id, right.id)]; !ok || mg.id != top.id {
			continue
		}
		cur.id = int(top.id)
		cur.size += right.size
		cur.next = right.next
		symbols[nextPos].size = 0
		if right.next >= 0 {
			symbols[right.next].prev = top.pos
		}
		if cur.prev >= 0 {
			if mg, ok := m.merges[pairKey(symbols[cur.prev].id, cur.id)]; ok {
				heap.push(candidate{rank: mg.rank, id: mg.id, pos: cur.prev})
			}
		}
		if cur.next >= 0 {
			if mg, ok := m.merges[pairKey(cur.id, symbols[cur.next].id)]; ok {
				heap.push(candidate{rank: mg.rank, id: mg.id, pos: top.pos})
			}
		}
	}
	for _, s := range symbols {
		if s.size != 0 {
			out = append(out, s.id)
		}
	}
	return out
}

// nextBoundary returns the offset of the first chunk boundary of word
// after its start: a "▁" that follows a character other than "▁"; len(word)
// when there is none.
func (m *bpe) nextBoundary(word string) int {
	b := m.boundary
	i := 0
	for strings.HasPrefix(word[i:], b) { // a leading run of "▁" stays
		i += len(b)
	}
	for i < len(word) {
		k := strings.Index(word[i:], b)
		if k < 0 {
			return len(word)
		}
		if k > 0 {
			return i + k
		}
		i += len(b)
	}
	return len(word)
}

// hasBytes reports whether every byte of s has a <0xXX> piece.
func (m *bpe) hasBytes(s string) bool {
	for k := 0; k < len(s); k++ {
		if m.byteIDs[s[k]] < 0 {
			return false
		}
	}
	return true
}

// newBPE builds the model and checks that every merge is made of pieces.
func newBPE(name string, vocab map[string]int, pairs [][2]string, unk string, o bpeOptions) (*bpe, error) {
	m := &bpe{
		vocab:       vocab,
		merges:      make(map[uint64]merge, len(pairs)),
		unk:         -1,
		fuseUnk:     o.fuseUnk,
		byteFallbck: o.byteFallback,
		ignoreMerge: o.ignoreMerges,
		prefix:      o.prefix,
		suffix:      o.suffix,
		cache:       map[string][]int{},
	}
	if unk != "" {
		id, ok := vocab[unk]
		if !ok {
			return nil, fmt.Errorf("%s: model.unk_token %q is not in model.vocab", name, unk)
		}
		m.unk = id
	}
	for b := range m.byteIDs {
		m.byteIDs[b] = -1
		if id, ok := vocab[fmt.Sprintf("<0x%02X>", b)]; ok {
			m.byteIDs[b] = id
		}
	}
	for rank, p := range pairs {
		a, okA := vocab[p[0]]
		b, okB := vocab[p[1]]
		if !okA || !okB {
			return nil, fmt.Errorf("%s: model.merges[%d] %q: a part is not in model.vocab", name, rank, p[0]+" "+p[1])
		}
		right := p[1]
		if m.prefix != "" && len(right) >= len(m.prefix) && right[:len(m.prefix)] == m.prefix {
			right = right[len(m.prefix):]
		}
		id, ok := vocab[p[0]+right]
		if !ok {
			return nil, fmt.Errorf("%s: model.merges[%d] %q: merged piece %q is not in model.vocab", name, rank, p[0]+" "+p[1], p[0]+right)
		}
		// A repeated pair keeps its last rank, as the library's map does.
		m.merges[pairKey(a, b)] = merge{rank: int32(rank), id: int32(id)}
	}
	m.boundary = chunkBoundary(vocab, pairs, o)
	return m, nil
}

// chunkBoundary returns "▁" when words may be cut before every "▁" that
// follows another character without changing the merges' result.
func chunkBoundary(vocab map[string]int, pairs [][2]string, o bpeOptions) string {
	const b = "\u2581"
	if _, ok := vocab[b]; !ok || o.ignoreMerges || o.prefix != "" || o.suffix != "" {
		return ""
	}
	for _, p := range pairs {
		if strings.HasPrefix(p[1], b) && !strings.HasSuffix(p[0], b) {
			return ""
		}
	}
	return b
}

// bpeOptions are the model's flags from tokenizer.json.
type bpeOptions struct {
	fuseUnk, byteFallback, ignoreMerges bool
	prefix, suffix                      string
}
