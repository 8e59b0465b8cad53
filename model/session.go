package model

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/compresskv/compresskv/internal/prefault"
	"github.com/compresskv/compresskv/model/kernels"
)

// SessionOptions say how a Session runs a sequence; the zero value gives
// the defaults. NewSession validates them.
type SessionOptions struct {
	// Chunk is the number of tokens per prefill chunk (0: DefaultChunkSize).
	// It bounds the scratch memory, O(Chunk * intermediate), and how soon a
	// cancelled Prefill returns; results do not depend on it.
	Chunk int
	// CacheDType is the storage of the KV cache (CacheF32 by default).
	CacheDType CacheDType
	// MaxContext is the longest sequence the session accepts
	// (0: the config's max_position_embeddings).
	MaxContext int
	// Rope is the RoPE arithmetic (RopeHF by default: transformers'
	// float32 angles).
	Rope RopeArithmetic
	// FullLastLayer makes Prefill compute every row of the last decoder
	// layer, as of the others, where by default it computes only the
	// keys and values of rows no later work reads (LastLayerRows). The
	// results are the same bits either way; timing one decoder layer as a
	// stand-in for every layer (a shape measurement) wants the full work.
	FullLastLayer bool
}

// DefaultChunkSize is the prefill chunk of a zero SessionOptions.Chunk.
const DefaultChunkSize = 512

// ChunkEnd is where Prefill's chunk holding position pos ends, for a
// prefill that ends at end: the next multiple of chunk after pos (chunks
// are counted from position 0, wherever a call starts), or end.
func ChunkEnd(pos, end, chunk int) int {
	chunk = max(chunk, 1)
	return min(pos+chunk-pos%chunk, end)
}

// Resolve returns o with its defaults for cfg filled in, or an error naming
// the bad setting.
func (o SessionOptions) Resolve(cfg Config) (SessionOptions, error) {
	if o.Chunk < 0 {
		return o, fmt.Errorf("prefill chunk %d: want a positive token count (0 for the default %d)", o.Chunk, DefaultChunkSize)
	}
	if o.MaxContext < 0 {
		return o, fmt.Errorf("max context %d: want a positive token count (0 for the model's %d)", o.MaxContext, cfg.MaxPositionEmbeddings)
	}
	if err := o.CacheDType.check(); err != nil {
		return o, err
	}
	if int(o.Rope) >= len(ropeArithmeticNames) {
		return o, fmt.Errorf("unknown %v: want hf or exact", o.Rope)
	}
	if o.Chunk == 0 {
		o.Chunk = DefaultChunkSize
	}
	if o.MaxContext == 0 {
		o.MaxContext = cfg.MaxPositionEmbeddings
	}
	return o, nil
}

// Session is the state of one sequence running through a Model: the
// per-layer KV cache and the scratch buffers of one chunk. Its memory is the
// cache plus O(Chunk) scratch. A Session is not safe for concurrent use;
// run several Sessions of one Model in parallel instead.
type Session struct {
	m      *Model
	opts   SessionOptions // resolved
	caches []*LayerCache  // [layers]
	attn   *attention
	rope   ropeTable // cos/sin of the positions seen so far
	buf    scratch

	last        []float32 // [hidden] residual of the last fed position
	hasLast     bool
	logits      []float32 // [vocab] logits of the last fed position
	logitsFresh bool

	call      callState
	recentQ   [][]float32 // [layers][k, heads*headDim] last queries of a Prefill call
	probBuf   []float32   // backing store of probRows
	probRows  [][]float32 // [heads][Pos+1]
	queryRows int         // rows fed by the current Prefill call

	// evicted[l] counts the positions Compressed dropped from layer l's
	// cache, so cache index = position - evicted[l]; nil for a full cache.
	evicted []int
}

// callState says which Observer hooks the current forward call feeds.
type callState struct {
	obs       Observer
	decode    bool
	window    int // prefill: last queries to keep per layer
	wantProbs bool
	ropeLen   int // sequence length at the end of the call (dynamic NTK rotates the whole call with it)
}

// scratch holds one chunk's activations.
type scratch struct {
	rows     int
	x, xb    []float32 // [rows, hidden]
	q, att   []float32 // [rows, heads*headDim]
	k, v     []float32 // [rows, kvHeads*headDim]
	proj     []float32 // [rows, hidden]
	gate, up []float32 // [rows, intermediate]
	angles   []float32 // [2, rows, headDim/2] cos and sin when the rope table cannot serve
}

// NewSession starts an empty sequence run with opts (see Resolve).
func (m *Model) NewSession(opts SessionOptions) (*Session, error) {
	opts, err := opts.Resolve(*m.config)
	if err != nil {
		return nil, err
	}
	return m.newSession(opts), nil
}

// newSession starts an empty sequence with resolved options, in the
// memory of a released session when the model holds one.
func (m *Model) newSession(opts SessionOptions) *Session {
	if s := m.pool.take(opts); s != nil {
		return s
	}
	cfg := m.config
	s := &Session{
		m:       m,
		opts:    opts,
		caches:  make([]*LayerCache, cfg.NumLayers),
		attn:    newAttention(cfg, m.compute),
		last:    make([]float32, cfg.HiddenSize),
		logits:  make([]float32, cfg.VocabSize),
		recentQ: make([][]float32, cfg.NumLayers),
	}
	for l := range s.caches {
		s.caches[l] = newLayerCache(cfg.NumKVHeads, cfg.HeadDim, opts.CacheDType)
	}
	return s
}

// Release hands the session's memory (its KV cache, at its largest
// capacity, and its scratch buffers) to its model, whose next NewSession,
// Clone or Compressed then starts in it instead of in fresh memory. The
// first write to fresh memory costs a page fault per 4 KB, which on a
// virtual machine is slow (3.4 ms per MB measured on the project machine:
// a 1000-token prefill of a TinyLlama-shaped model in a fresh session ran
// 8-20 % slower than in a reused one). A session started in released memory
// gives the bits a fresh one gives. s must not be used after Release:
// Prefill and Step then return an error. Releasing is optional; an
// unreleased session is garbage collected as before.
func (s *Session) Release() {
	if s.released() {
		return
	}
	s.m.pool.put(s)
}

// released reports whether Release took s's memory.
func (s *Session) released() bool { return s.caches == nil }

// errReleased is what a released session's Prefill and Step return.
var errReleased = errors.New("session used after Release")

// Model returns the model the session runs.
func (s *Session) Model() *Model { return s.m }

// Options returns the options the session runs with, defaults filled in:
// what a profile records as its KV cache and prefill chunk.
func (s *Session) Options() SessionOptions { return s.opts }

// Full reports whether the sequence fills the session's MaxContext, so no
// further token can be fed.
func (s *Session) Full() bool { return s.Len() >= s.opts.MaxContext }

// Len returns the number of positions fed so far: the cache length, plus
// the positions a compressed session's first layer dropped (see Compressed).
func (s *Session) Len() int { return s.caches[0].Len() + s.dropped(0) }

// dropped returns how many positions layer l's cache lacks (Compressed).
func (s *Session) dropped(l int) int {
	if s.evicted == nil {
		return 0
	}
	return s.evicted[l]
}

// Cache returns the KV cache of layer l (read-only for callers).
func (s *Session) Cache(l int) *LayerCache { return s.caches[l] }

// Clone returns an independent copy of the session: its options, its cache
// (full or compressed) and the state of its last position, so the copy
// continues exactly as s would. Prefix reuse prefills a shared prefix once
// and clones it for each continuation (Truncate a clone to fork at an
// earlier position). The copy costs the cache's memory once more.
func (s *Session) Clone() *Session {
	c := s.m.newSession(s.opts)
	for l, src := range s.caches {
		dst := c.caches[l]
		for g := 0; g < src.kvHeads; g++ {
			// Into the memory of a released session when c has one.
			// With the headroom reserve adds, so that the copy's decode
			// steps do not copy it again.
			room := cacheHeadroom * src.headDim
			if src.dtype == CacheBF16 {
				dst.keys16[g], dst.values16[g] = refill(dst.keys16[g], src.keys16[g], room), refill(dst.values16[g], src.values16[g], room)
			} else {
				dst.keys[g], dst.values[g] = refill(dst.keys[g], src.keys[g], room), refill(dst.values[g], src.values[g], room)
			}
		}
		dst.n = src.n
	}
	c.evicted = slices.Clone(s.evicted)
	copy(c.last, s.last)
	copy(c.logits, s.logits)
	c.hasLast, c.logitsFresh = s.hasLast, s.logitsFresh
	return c
}

// refill returns src's elements in dst's memory, grown (prefaulted) when
// it has no room for them and room more.
func refill[T float32 | uint16](dst, src []T, room int) []T {
	return append(prefault.Grow(dst[:0], len(src)+room), src...)
}

// Reset empties the session, keeping its memory for reuse.
func (s *Session) Reset() { s.Truncate(0) }

// Truncate forgets every position from n on, so the sequence can continue
// differently from there. Logits returns nil until the next token is fed.
func (s *Session) Truncate(n int) {
	for l, c := range s.caches {
		c.truncate(max(n-s.dropped(l), 0))
	}
	s.hasLast, s.logitsFresh = false, false
}

// scratch returns buffers cut to exactly n rows (the kernels that sweep a
// whole slice must not touch rows of an earlier, longer chunk).
func (s *Session) scratch(n int) *scratch {
	b := &s.buf
	cfg := s.m.config
	hidden, q, kv, inter, half := cfg.HiddenSize, cfg.NumHeads*cfg.HeadDim, cfg.NumKVHeads*cfg.HeadDim, cfg.IntermediateSize, cfg.HeadDim/2
	if b.rows < n {
		f32 := func(n int) []float32 { return prefault.Make[float32](n, n) }
		*b = scratch{
			rows: n,
			x:    f32(n * hidden), xb: f32(n * hidden),
			q: f32(n * q), att: f32(n * q),
			k: f32(n * kv), v: f32(n * kv),
			proj: f32(n * hidden),
			gate: f32(n * inter), up: f32(n * inter),
			angles: f32(2 * n * half),
		}
	}
	return &scratch{
		rows: n,
		x:    b.x[:n*hidden], xb: b.xb[:n*hidden],
		q: b.q[:n*q], att: b.att[:n*q],
		k: b.k[:n*kv], v: b.v[:n*kv],
		proj: b.proj[:n*hidden],
		gate: b.gate[:n*inter], up: b.up[:n*inter],
		angles: b.angles[:2*n*half],
	}
}

// from returns the scratch of rows r0..rows-1 of b: the per-row buffers cut
// from row r0 on (k, v and angles are left whole: every row's keys and
// values are computed).
func (b *scratch) from(r0 int, cfg *Config) *scratch {
	if r0 == 0 {
		return b
	}
	hidden, q, inter := cfg.HiddenSize, cfg.NumHeads*cfg.HeadDim, cfg.IntermediateSize
	t := *b
	t.rows = b.rows - r0
	t.x, t.xb, t.proj = b.x[r0*hidden:], b.xb[r0*hidden:], b.proj[r0*hidden:]
	t.q, t.att = b.q[r0*q:], b.att[r0*q:]
	t.gate, t.up = b.gate[r0*inter:], b.up[r0*inter:]
	return &t
}

// checkTokens validates ids and the length they would bring the sequence to.
func (s *Session) checkTokens(ids []int) error {
	if s.released() {
		return errReleased
	}
	maxCtx := s.opts.MaxContext
	if total := s.Len() + len(ids); total > maxCtx {
		if s.Len() == 0 {
			return fmt.Errorf("prompt of %d tokens exceeds the model context of %d", len(ids), maxCtx)
		}
		return fmt.Errorf("sequence of %d tokens (%d cached + %d new) exceeds the model context of %d", total, s.Len(), len(ids), maxCtx)
	}
	vocab := s.m.config.VocabSize
	for i, id := range ids {
		if id < 0 || id >= vocab {
			return fmt.Errorf("token id %d at index %d is outside the vocabulary of %d", id, i, vocab)
		}
	}
	return nil
}

// Prefill feeds ids at positions Len() .. Len()+len(ids)-1, in chunks of
// Options().Chunk, appending to the cache. Chunks end at multiples of
// Chunk counted from position 0 (ChunkEnd; the first one of a call that
// starts elsewhere is shorter), so a prompt fed in several calls is cut
// where one call would cut it. A row gets the same bits in any chunk of at
// least kernels.MinGEMMRows rows, so a prefix kept from an earlier prompt
// and continued in a piece of that many rows computes what a fresh
// prefill does (plan.Reusable). ctx is checked before every
// chunk, so a cancellation returns ctx.Err() within one chunk's time. At
// the end it calls obs.PrefillEnd once per layer. On error or cancellation
// the cache is rolled back to its previous length and Logits is nil until
// the next token is fed.
func (s *Session) Prefill(ctx context.Context, ids []int, obs Observer) error {
	return s.prefill(ctx, ids, obs, nil)
}

// PrefillAll is Prefill that also returns the logits of every fed position,
// [len(ids), vocab] row-major.
func (s *Session) PrefillAll(ctx context.Context, ids []int, obs Observer) ([]float32, error) {
	logits := make([]float32, len(ids)*s.m.config.VocabSize)
	if err := s.prefill(ctx, ids, obs, logits); err != nil {
		return nil, err
	}
	return logits, nil
}

func (s *Session) prefill(ctx context.Context, ids []int, obs Observer, logits []float32) (err error) {
	if err := s.checkTokens(ids); err != nil {
		return err
	}
	if err := s.m.brokenErr(); err != nil {
		return err
	}
	defer s.m.recoverFault(faultGuard(), &err)
	if len(ids) == 0 {
		return nil
	}
	start, vocab, chunk := s.Len(), s.m.config.VocabSize, s.opts.Chunk
	s.call = callState{obs: obs, ropeLen: start + len(ids)}
	if obs != nil {
		s.call.window = queryWindow(obs)
	}
	defer func() { s.call = callState{} }()
	s.queryRows = 0
	for c, end := 0, 0; c < len(ids); c = end {
		end = ChunkEnd(start+c, start+len(ids), chunk) - start
		var out []float32
		if logits != nil {
			out = logits[c*vocab : end*vocab]
		}
		if err := ctx.Err(); err != nil {
			s.Truncate(start)
			return err
		}
		if err := s.forward(ids[c:end], out); err != nil {
			s.Truncate(start)
			return err
		}
		s.hasLast = true
	}
	if obs == nil {
		return nil
	}
	k := min(s.call.window, len(ids))
	positions := make([]int, k)
	for i := range positions {
		positions[i] = s.Len() - k + i
	}
	for l, c := range s.caches {
		obs.PrefillEnd(&PrefillView{Layer: l, Window: s.call.window, Positions: positions, Queries: s.recentQ[l], Cache: c})
	}
	return nil
}

// Step feeds one token at position Len() (the decode path) and calls
// obs.DecodeStep once per layer. Logits then holds the next-token logits.
// On error the cache is rolled back as for Prefill.
func (s *Session) Step(id int, obs Observer) (err error) {
	if err := s.checkTokens([]int{id}); err != nil {
		return err
	}
	if err := s.m.brokenErr(); err != nil {
		return err
	}
	defer s.m.recoverFault(faultGuard(), &err)
	start := s.Len()
	s.call = callState{obs: obs, decode: true}
	if obs != nil {
		s.call.wantProbs = obs.WantProbs()
	}
	defer func() { s.call = callState{} }()
	if err := s.forward([]int{id}, nil); err != nil {
		s.Truncate(start)
		return err
	}
	s.hasLast = true
	return nil
}

// Logits returns the logits [vocab] of the last fed position (nil before
// any token is fed, or once a weight file changed under the model: see
// Err). The slice is owned by the session and overwritten by the next
// call.
func (s *Session) Logits() []float32 {
	if !s.hasLast {
		return nil
	}
	if !s.logitsFresh && s.lastLogits() != nil {
		return nil
	}
	return s.logits
}

// lastLogits computes the logits of the last fed position (lm_head reads
// the mapped weights, so it is a guarded call).
func (s *Session) lastLogits() (err error) {
	if err := s.m.brokenErr(); err != nil {
		return err
	}
	defer s.m.recoverFault(faultGuard(), &err)
	w := s.m.weights
	xn := make([]float32, len(s.last))
	rmsNorm(xn, s.last, w.Norm, s.m.config.RMSNormEps)
	kernels.MatMul(s.logits, xn, 1, w.LMHead)
	s.logitsFresh = true
	return nil
}

// Err returns the error that broke the session's model, a weight file
// truncated or rewritten while it was mapped (a *safetensors.ChangedError
// naming it), or nil. Once set, Prefill and Step return it and Logits
// returns nil.
func (s *Session) Err() error { return s.m.brokenErr() }

// probs returns the probability rows the attention of layer l should fill,
// or nil when no observer asked for them.
func (s *Session) probs(l int) [][]float32 {
	if !s.call.decode || !s.call.wantProbs {
		return nil
	}
	heads, n := s.m.config.NumHeads, s.caches[l].Len()
	if cap(s.probBuf) < heads*n {
		s.probBuf = prefault.Make[float32](heads*n, 2*heads*n)
	}
	s.probBuf = s.probBuf[:heads*n]
	if cap(s.probRows) < heads {
		s.probRows = make([][]float32, heads)
	}
	for h := range s.probRows {
		s.probRows[h] = s.probBuf[h*n : (h+1)*n : (h+1)*n]
	}
	return s.probRows
}

// observe hands layer l's attention results to the observer of the call:
// the last queries for PrefillEnd, or a DecodeView for DecodeStep.
func (s *Session) observe(l int, b *scratch, n, p0 int) {
	obs := s.call.obs
	if obs == nil {
		return
	}
	cfg := s.m.config
	qDim := cfg.NumHeads * cfg.HeadDim
	if !s.call.decode {
		// Keep the last `window` queries of the call across chunks.
		keep := min(s.call.window, n)
		r := append(s.recentQ[l][:min(len(s.recentQ[l]), s.queryRows*qDim)], b.q[(n-keep)*qDim:n*qDim]...)
		if drop := len(r) - s.call.window*qDim; drop > 0 {
			copy(r, r[drop:])
			r = r[:len(r)-drop]
		}
		s.recentQ[l] = r
		if l == cfg.NumLayers-1 {
			s.queryRows = len(r) / max(qDim, 1)
		}
		return
	}
	obs.DecodeStep(&DecodeView{
		Layer:     l,
		Pos:       p0,
		Probs:     s.probs(l),
		Query:     b.q[:qDim],
		Output:    b.att[:qDim],
		Projected: b.proj[:cfg.HiddenSize],
		Cache:     s.caches[l],
		attn:      s.attn,
		oProj:     func(out, in []float32) { s.m.outputProjection(l, out, in, 1) },
	})
}

// checkFinite reports the first NaN or Inf in the residual x [n, hidden]
// after layer l of a chunk starting at position p0.
func checkFinite(x []float32, hidden, l, p0 int) error {
	if allFiniteF32(x) {
		return nil
	}
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("layer %d, position %d: hidden state is not finite (%v); the weights or inputs hold NaN/Inf or overflow", l, p0+i/hidden, v)
		}
	}
	return nil
}

// allFiniteF32 reports whether no element of x is NaN or ±Inf, from the
// exponent bits alone: adding 1 to an all-ones exponent carries into the
// sign bit, which no finite value's can. It is the common case of
// checkFinite, every layer of every chunk, at a fraction of the cost of
// testing each value as a float64 (4 independent chains, no branches).
func allFiniteF32(x []float32) bool {
	const exp, one = 0x7f800000, 0x00800000
	var b0, b1, b2, b3 uint32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		b0 |= math.Float32bits(v[0])&exp + one
		b1 |= math.Float32bits(v[1])&exp + one
		b2 |= math.Float32bits(v[2])&exp + one
		b3 |= math.Float32bits(v[3])&exp + one
	}
	for ; i < len(x); i++ {
		b0 |= math.Float32bits(x[i])&exp + one
	}
	return (b0|b1|b2|b3)&0x80000000 == 0
}
