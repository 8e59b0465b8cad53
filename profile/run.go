package profile

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/needle"
	"github.com/compresskv/compresskv/plan"
	"github.com/compresskv/compresskv/profile/schema"
)

// Defaults of the reference head-detection script.
const (
	DefaultMaxNewTokens  = 50  // greedy decode limit per probe
	DefaultSuccessRecall = 0.5 // ROUGE-1 recall a probe must exceed
)

// Options say how Run decodes and scores the probes.
type Options struct {
	MaxNewTokens  int     // greedy decode limit; 0 means DefaultMaxNewTokens
	SuccessRecall float64 // recall gate; 0 means DefaultSuccessRecall
	// TeacherForced feeds the answer span's own tokens after the prompt
	// instead of decoding greedily, scores each step against the true
	// answer token and counts every probe (the recall gate is not applied:
	// the mode exists for models too small to retrieve on their own). A
	// deviation; see the package documentation.
	TeacherForced bool
	// NormalizedSRH selects the normalised SRH variant (a deviation).
	NormalizedSRH bool
	// Reference decodes and scores as the reference script does (probes
	// built with needle.CompatReference): its stop rule (see
	// referenceStop), bfloat16 span masses and cleaned-up responses.
	Reference  bool
	Shard      Shard       // which probes to run; the zero Shard runs all
	Checkpoint *Checkpoint // optional journal: its probes are skipped, new ones appended
	// PrefixReuse keeps one session across probes and prefills only what
	// a probe does not share with the prompt already cached (causal
	// attention makes the shared positions' keys and values identical,
	// and the kernels give the same bits however a prompt is chunked), in
	// prefix order (see prefixOrder). Results are identical without it.
	PrefixReuse bool
	// UntilStable, when > 0, runs the probes in SpreadOrder and stops once
	// every layer's bootstrap top-k Jaccard (Stability) has been at least
	// UntilStable after each of StableWindow consecutive successful probes,
	// counted from the StableWindow-th successful probe on.
	UntilStable  float64
	StableWindow int // 0 means DefaultStableWindow
	// Session says how each probe's session runs (chunk, KV cache dtype,
	// RoPE arithmetic); the profile records what it resolves to.
	Session model.SessionOptions
	// DecodeBatch is how many probes decode together (model.DecodeBatch:
	// each step's tokens go through the layer matrices at once, which a
	// Batched model, bf16 compute, reads once for all), at most (see
	// MaxBatchPrefill); <= 1 decodes each probe alone. Each probe then decodes in a copy of the session its
	// prompt was prefilled in, so the batch holds that many KV caches. The
	// records are the same bits either way.
	DecodeBatch int
}

// MaxBatchPrefill bounds the prefill work that waits in a decode batch: a
// batch is decoded once this much prefill time went into it even when it
// holds fewer than DecodeBatch probes, so an interrupted run loses at
// most about that much besides the probe in progress. Long prompts gain
// little from a batch anyway: it saves a decode step's weight reads (40
// ms of a 1.1B model's step), 2 s over 50 steps, against minutes of a
// 31.5K-token prompt's prefill.
const MaxBatchPrefill = time.Minute

// DefaultStableWindow is the run of successful probes over which the
// ranking must stay stable for UntilStable to stop.
const DefaultStableWindow = 10

func (o Options) withDefaults() Options {
	if o.MaxNewTokens <= 0 {
		o.MaxNewTokens = DefaultMaxNewTokens
	}
	if o.SuccessRecall == 0 {
		o.SuccessRecall = DefaultSuccessRecall
	}
	if o.StableWindow <= 0 {
		o.StableWindow = DefaultStableWindow
	}
	return o
}

// Scoring names the scoring mode as the profile records it in
// probes.scoring: "greedy" (the reference) or "teacher-forced", with
// "+normalized-srh" appended for the normalised SRH variant.
func (o Options) Scoring() string {
	s := "greedy"
	if o.TeacherForced {
		s = "teacher-forced"
	}
	if o.NormalizedSRH {
		s += "+normalized-srh"
	}
	return s
}

// Progress is reported after every finished probe.
type Progress struct {
	Done    int                // probes of this shard finished, resumed ones included
	Total   int                // probes of this shard
	Resumed int                // probes loaded from the checkpoint
	Tokens  int                // tokens fed through the model by this invocation
	Reused  int                // prompt positions taken from the prefix cache instead of fed, this invocation
	Last    schema.ProbeResult // the probe just finished
	// LastTokens and LastTime are what the probe just finished fed through
	// the model and how long it took (prefill + decode): timings live here
	// and in run reports, never in the profile, whose bytes must not depend
	// on the machine.
	LastTokens int
	LastReused int // prompt positions the probe took from the prefix cache
	LastTime   time.Duration
}

// Result is what Run did.
type Result struct {
	Records []Record // every finished probe of the shard (those run before a stop), in index order
	Resumed int      // of which loaded from the checkpoint
	Tokens  int      // tokens fed through the model by this invocation
	Reused  int      // prompt positions taken from the prefix cache instead of fed
	Stopped bool     // UntilStable stopped the run before its last probe
}

// ModelInfo describes m as the profile records it.
func ModelInfo(m *model.Model) schema.Model {
	c := m.Config()
	fp := m.Fingerprint()
	if !strings.HasPrefix(fp, "sha256:") {
		fp = "sha256:" + fp
	}
	return schema.Model{
		Architecture: c.Architecture,
		Layers:       c.NumLayers,
		Heads:        c.NumHeads,
		KVHeads:      c.NumKVHeads,
		HeadDim:      c.HeadDim,
		Fingerprint:  fp,
	}
}

// NewHeader describes a run over probes (the probes needle.Build made, and
// the grid positions it skipped) for a checkpoint or shard file. settings
// carries the probe settings; its counts and results are filled from the
// run. The scoring mode comes from opts.
func NewHeader(tool schema.Tool, m schema.Model, settings schema.ProbeInfo, probes []needle.Probe, skips []needle.Skip, opts Options) Header {
	opts = opts.withDefaults()
	info := settings
	info.Scoring = opts.Scoring()
	info.MaxNewTokens = opts.MaxNewTokens
	info.SuccessRecall = opts.SuccessRecall
	info.UntilStable = nil
	if opts.UntilStable > 0 {
		info.UntilStable = &schema.UntilStable{Jaccard: opts.UntilStable, Window: opts.StableWindow, Order: "spread"}
	}
	info.Run, info.Successful, info.Results = 0, 0, nil
	info.Skipped = len(skips)
	info.SkipReasons = map[string]int{}
	for _, s := range skips {
		info.SkipReasons[s.Reason]++
	}
	indices := make([]int, len(probes))
	for i, p := range probes {
		indices[i] = p.Index
	}
	sort.Ints(indices)
	return Header{Format: PartialFormat, Tool: tool, Model: m, Probes: info, Indices: indices, Shard: opts.Shard}
}

// session is the part of a model.Session a probe uses: a test double can
// stand in for it.
type session interface {
	model.Stepper
	// Prefill feeds ids, checking ctx between chunks.
	Prefill(ctx context.Context, ids []int, obs model.Observer) error
	// Truncate forgets every cached position from n on: a probe starts
	// from the prefix the last one left.
	Truncate(n int)
	// Release hands the session's memory to its model for a later
	// session (model.Session.Release); the session is not used after.
	Release()
	// Fork returns an independent copy of the session (its cache
	// included), which decodes while the original prefills the next probe.
	Fork() session
	// Options().Chunk is the prefill chunk length. A reused prefix ends
	// where plan.Reusable says, so that every position gets the bits a
	// fresh prefill gives it (a row's bits do not depend on its chunk's
	// other rows unless the chunk has fewer than kernels.MinGEMMRows).
	Options() model.SessionOptions
}

// newSessionFunc starts a fresh session (empty cache).
type newSessionFunc func() (session, error)

// Run scores every probe of opts.Shard on m: prefill of the prompt minus
// its last token (a fresh session per probe, or with opts.PrefixReuse the
// part not shared with the prompt already cached), then up to
// MaxNewTokens greedy steps from the last prompt token, stopping after a
// token that decodes to text containing a newline or an EOS token (that
// step is still scored, as in the reference). tok decodes the response,
// which is scored with needle.Rouge1Recall against the probe's answer.
// Probes run in index order, in prefix order with PrefixReuse, in
// SpreadOrder with UntilStable; the records come back in index order, and
// the order never changes a record.
//
// Finished probes go to opts.Checkpoint when given. ctx is checked between
// probes, decode steps and prefill chunks; on cancellation Run returns the
// context's error and every probe finished so far is in the checkpoint.
func Run(ctx context.Context, m *model.Model, tok needle.Tokenizer, probes []needle.Probe, opts Options, progress func(Progress)) (*Result, error) {
	cfg := m.Config()
	so, err := opts.Session.Resolve(cfg)
	if err != nil {
		return nil, err
	}
	if err := CheckFit(probes, opts.withDefaults().MaxNewTokens, so.MaxContext); err != nil {
		return nil, err
	}
	eos := map[int]bool{}
	for _, id := range cfg.EOS {
		eos[id] = true
	}
	if opts.PrefixReuse && dynamicPastContext(cfg, probes) {
		// Dynamic NTK rotates every position of a prefill call with the base
		// of the call's final length once it passes max_position_embeddings:
		// a prefix cached by a probe of another length would hold other bits.
		opts.PrefixReuse = false
	}
	newSession := func() (session, error) {
		s, err := m.NewSession(so)
		if err != nil {
			return nil, err
		}
		return modelSession{s}, nil
	}
	return run(ctx, newSession, func(id int) bool { return eos[id] }, cfg.NumLayers, cfg.NumHeads, tok, probes, opts, progress)
}

// modelSession is a model.Session as a probe's session.
type modelSession struct{ *model.Session }

// Fork clones the session.
func (s modelSession) Fork() session { return modelSession{s.Clone()} }

// stepSessions is the decode batch's step: model.StepBatch when every
// session is a model's, else each session's Step in turn (test doubles).
func stepSessions(ss []model.Stepper, ids []int, obs []model.Observer) error {
	ms := make([]*model.Session, len(ss))
	for i, s := range ss {
		m, ok := s.(modelSession)
		if !ok {
			for i, s := range ss {
				if err := s.Step(ids[i], obs[i]); err != nil {
					return err
				}
			}
			return nil
		}
		ms[i] = m.Session
	}
	return model.StepBatch(ms, ids, obs)
}

// dynamicPastContext reports whether cfg's dynamic NTK scaling changes the
// rotation of some probe's prompt (one longer than max_position_embeddings),
// which makes a reused prefix differ from a fresh prefill.
func dynamicPastContext(cfg model.Config, probes []needle.Probe) bool {
	if cfg.RopeScaling == nil || cfg.RopeScaling.Type != "dynamic" {
		return false
	}
	for _, p := range probes {
		if len(p.IDs) > cfg.MaxPositionEmbeddings {
			return true
		}
	}
	return false
}

func run(ctx context.Context, newSession newSessionFunc, eos func(int) bool, layers, heads int, tok needle.Tokenizer, probes []needle.Probe, opts Options, progress func(Progress)) (*Result, error) {
	opts = opts.withDefaults()
	todo := make([]needle.Probe, 0, len(probes))
	for _, p := range probes {
		if opts.Shard.Has(p.Index) {
			todo = append(todo, p)
		}
	}
	sort.SliceStable(todo, func(i, j int) bool { return todo[i].Index < todo[j].Index })

	res := &Result{}
	done := map[int]Record{}
	if opts.Checkpoint != nil {
		for i, r := range opts.Checkpoint.Done() {
			done[i] = r
		}
	}
	inShard := make(map[int]bool, len(todo))
	for _, p := range todo {
		inShard[p.Index] = true
	}
	for i := range done {
		if !inShard[i] {
			return nil, fmt.Errorf("%s: holds probe %d, which is not among this run's probes", opts.Checkpoint.Path(), i)
		}
	}
	res.Resumed = len(done)
	order := todo
	switch {
	case opts.UntilStable > 0:
		order = SpreadOrder(todo)
	case opts.PrefixReuse:
		order = append([]needle.Probe(nil), todo...)
		prefixOrder(order)
	}
	cache := &prefixCache{newSession: newSession, reuse: opts.PrefixReuse}
	defer cache.release()
	var stop *stopRule
	if opts.UntilStable > 0 {
		stop = &stopRule{threshold: opts.UntilStable, window: opts.StableWindow, layers: layers, heads: heads}
	}
	nl := needle.NewNewlineTokens(tok)
	finished := len(done)
	var ran []int // indices in run order, up to a stop
	stopped := false
	// take counts a probe of the run order, finished now or earlier, and
	// reports whether the run stops after it.
	take := func(k int, rec Record) bool {
		ran = append(ran, rec.Index)
		if stop != nil && stop.add(rec) {
			res.Stopped = k < len(order)-1
			return true
		}
		return false
	}
	// The probes since the last flush, in run order: prefilled ones waiting
	// for their decode and, between them, ones the checkpoint holds.
	var batch []*pending
	var prefilled []*pending
	var pendingWork time.Duration // prefill time of the probes waiting in the batch
	// An interrupted or failed run's waiting copies go back to the model.
	defer func() {
		for _, b := range prefilled {
			if b.forked {
				b.sess.Release()
			}
		}
	}()
	// flush decodes the prefilled probes together and takes every probe of
	// the batch in run order.
	flush := func() error {
		defer func() { batch, prefilled = batch[:0], prefilled[:0] }()
		var recs []Record
		var share time.Duration
		if len(prefilled) > 0 {
			start := time.Now()
			var fed int
			var err error
			recs, fed, err = decodeProbes(ctx, prefilled, eos, tok, nl, opts)
			share = time.Since(start) / time.Duration(len(prefilled))
			for _, b := range prefilled {
				if b.forked {
					b.sess.Release()
					b.forked = false // released once
				}
			}
			res.Tokens += fed
			if err != nil {
				cache.forget()
				return err
			}
		}
		for _, b := range batch {
			if stopped {
				break
			}
			if b.done != nil {
				stopped = take(b.k, *b.done)
				continue
			}
			rec := recs[0]
			recs = recs[1:]
			if opts.Checkpoint != nil {
				if err := opts.Checkpoint.Append(rec); err != nil {
					return err
				}
			}
			done[rec.Index] = rec
			finished++
			if progress != nil {
				progress(Progress{Done: finished, Total: len(todo), Resumed: res.Resumed, Tokens: res.Tokens, Reused: res.Reused,
					Last: rec.Result, LastTokens: b.tokens + b.fed, LastReused: b.kept, LastTime: b.prefill + share})
			}
			stopped = take(b.k, rec)
		}
		return nil
	}
	for k, p := range order {
		if stopped {
			break
		}
		if rec, ok := done[p.Index]; ok {
			if len(prefilled) == 0 { // nothing before it waits
				stopped = take(k, rec)
			} else {
				batch = append(batch, &pending{k: k, done: &rec})
			}
			continue
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		b, err := prefillProbe(ctx, cache, layers, heads, p, opts, opts.DecodeBatch > 1)
		if b != nil {
			b.k = k
			res.Tokens += b.tokens
			res.Reused += b.kept
		}
		if err != nil {
			cache.forget()
			return res, err
		}
		batch, prefilled = append(batch, b), append(prefilled, b)
		pendingWork += b.prefill
		if len(prefilled) >= max(opts.DecodeBatch, 1) || pendingWork >= MaxBatchPrefill {
			pendingWork = 0
			if err := flush(); err != nil {
				return res, err
			}
		}
	}
	if err := flush(); err != nil {
		return res, err
	}
	sort.Ints(ran)
	for _, i := range ran {
		res.Records = append(res.Records, done[i])
	}
	return res, nil
}

// prefixCache hands each probe a session. It keeps one session and the
// prompt ids its cache holds; with reuse it rewinds the session to the
// longest prefix the next prompt shares, without it empties the session,
// whose memory a fresh one would have to fault in again (a fresh
// session's first prefill ran 8-20 % slower at 1000 tokens).
type prefixCache struct {
	newSession newSessionFunc
	reuse      bool
	sess       session
	ids        []int // prompt positions cached in sess (decoded ones are never reused)
}

// start returns a session whose cache holds the first kept ids of prompt.
func (c *prefixCache) start(prompt []int) (s session, kept int, err error) {
	if c.sess == nil {
		s, err := c.newSession()
		if err == nil {
			c.sess, c.ids = s, c.ids[:0]
		}
		return s, 0, err
	}
	if c.reuse {
		kept = plan.Reusable(c.ids, prompt, c.sess.Options().Chunk)
	}
	c.sess.Truncate(kept)
	c.ids = c.ids[:kept]
	return c.sess, kept, nil
}

// prefilled records that the session's cache now holds all of prompt
// (which starts with the kept ids start returned).
func (c *prefixCache) prefilled(prompt []int) {
	c.ids = append(c.ids, prompt[len(c.ids):]...)
}

// release gives the session's memory back to its model (model.Session's
// Release) for the sessions of a later run in this process (profile's
// calibration probes, then its run).
func (c *prefixCache) release() {
	if c.sess != nil {
		c.sess.Release()
	}
	c.sess, c.ids = nil, nil
}

// forget drops the cached prefix (after an error the cache is not known).
func (c *prefixCache) forget() { c.sess, c.ids = nil, nil }

// stopRule is the UntilStable test, fed the probes in run order.
type stopRule struct {
	threshold     float64
	window        int
	layers, heads int
	srh           [][][]float64 // successful probes' SRH, in run order
	streak        int
}

// add takes the next probe's record and reports whether the run stops.
func (r *stopRule) add(rec Record) bool {
	if !rec.Result.Success {
		return false
	}
	r.srh = append(r.srh, rec.SRH)
	if len(r.srh) < r.window {
		return false
	}
	mean := Mean(r.layers, r.heads, scoresOf(r.srh))
	if MinJaccard(Stability(r.srh, Rank(mean.SRH), r.layers, r.heads)) >= r.threshold {
		r.streak++
	} else {
		r.streak = 0
	}
	return r.streak >= r.window
}

// scoresOf wraps SRH matrices as ProbeScores (Retrieval unused).
func scoresOf(srh [][][]float64) []ProbeScores {
	out := make([]ProbeScores, len(srh))
	for i, m := range srh {
		out[i] = ProbeScores{SRH: m, Retrieval: m}
	}
	return out
}

// CheckFit reports an error when a probe's prompt plus maxNew decoded
// tokens would not fit a model context of the given length.
func CheckFit(probes []needle.Probe, maxNew, context int) error {
	over, longest := 0, 0
	for _, p := range probes {
		if len(p.IDs)+maxNew > context {
			over++
			longest = max(longest, len(p.IDs))
		}
	}
	if over > 0 {
		return fmt.Errorf("%d of %d probes do not fit the model's context of %d tokens (longest: %d prompt tokens + %d new)",
			over, len(probes), context, longest, maxNew)
	}
	return nil
}

// pending is a probe whose prompt is prefilled, waiting for its decode.
type pending struct {
	p       needle.Probe
	k       int     // position in the run order
	done    *Record // the checkpoint's record of a probe not run again
	sess    session
	forked  bool // sess is the probe's own copy, released after its decode
	acc     *Accumulator
	obs     *Observer
	answer  []int
	tokens  int // prompt tokens prefilled
	kept    int // prompt positions taken from the prefix cache
	fed     int // tokens fed by the decode
	prefill time.Duration
}

// fail wraps an error with the probe it happened to.
func (b *pending) fail(err error) error {
	return fmt.Errorf("probe %d (length %d, depth %v): %w", b.p.Index, b.p.ContextLength, b.p.Depth, err)
}

// prefillProbe prefills a probe's prompt but its last token in the prefix
// cache's session (a fork of it, with fork, for a batch's decode). A
// non-nil pending comes back with an error too, for its token counts.
func prefillProbe(ctx context.Context, cache *prefixCache, layers, heads int, p needle.Probe, opts Options, fork bool) (*pending, error) {
	start := time.Now()
	b := &pending{p: p}
	ids := p.IDs
	if len(ids) < 2 {
		return nil, b.fail(fmt.Errorf("prompt of %d tokens", len(ids)))
	}
	acc, err := NewAccumulator(layers, heads, ids, p.SpanStart, p.SpanEnd, opts.NormalizedSRH)
	if err != nil {
		return nil, b.fail(err)
	}
	if opts.Reference {
		acc.UseBF16SpanMass()
	}
	b.acc, b.obs = acc, NewObserver(acc)
	if p.SpanStart >= 0 {
		b.answer = ids[p.SpanStart:p.SpanEnd]
	} else if opts.TeacherForced {
		return nil, b.fail(fmt.Errorf("no answer span to force (the reference's rule found none)"))
	}
	prompt := ids[:len(ids)-1]
	sess, kept, err := cache.start(prompt)
	if err != nil {
		return nil, b.fail(err)
	}
	// Prefill is not observed: only decode steps are scored.
	b.tokens, b.kept = len(prompt)-kept, kept
	if err := sess.Prefill(ctx, prompt[kept:], nil); err != nil {
		if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
			return b, cerr
		}
		return b, b.fail(err)
	}
	cache.prefilled(prompt)
	b.sess = sess
	if fork {
		b.sess, b.forked = sess.Fork(), true
	}
	b.prefill = time.Since(start)
	return b, nil
}

// decodeProbes decodes the prefilled probes together and scores them:
// from the last prompt token up to MaxNewTokens greedy steps each, or the
// answer's tokens under teacher forcing. fed counts the tokens the decode
// fed.
func decodeProbes(ctx context.Context, batch []*pending, eos func(int) bool, tok needle.Tokenizer, nl *needle.NewlineTokens, opts Options) (_ []Record, fed int, _ error) {
	// At step t the model attends with the query of the token fed at t and
	// produces the next token; the rows of that query are paired with the
	// token they produced (the reference's pairing). So the last prompt
	// token is fed as a decode step, and every produced token is committed
	// right after the Step whose logits produced it.
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	ss := make([]model.Stepper, len(batch))
	ids := make([]int, len(batch))
	obs := make([]model.Observer, len(batch))
	dos := make([]model.DecodeOptions, len(batch))
	for i, b := range batch {
		ss[i], ids[i], obs[i] = b.sess, b.p.IDs[len(b.p.IDs)-1], b.obs
		b.fed = 1
		steps := opts.MaxNewTokens
		if opts.TeacherForced {
			steps = len(b.answer)
		}
		produced := func(t, next int) int {
			if opts.TeacherForced {
				return b.answer[t]
			}
			return next
		}
		dos[i] = model.DecodeOptions{
			MaxNew: steps,
			Produced: func(t, next int) error {
				if err := b.obs.Err(); err != nil {
					return err
				}
				return b.acc.Commit(produced(t, next))
			},
			Stop:     func(_, next int) bool { return !opts.TeacherForced && stops(opts, tok, nl, eos, next) },
			Feed:     produced,
			Observer: b.obs,
		}
	}
	fail := func(err error) error {
		if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
			return cerr
		}
		if len(batch) == 1 {
			return batch[0].fail(err)
		}
		var which []string
		for _, b := range batch {
			which = append(which, fmt.Sprint(b.p.Index))
		}
		return fmt.Errorf("probes %s, decoded together: %w", strings.Join(which, ", "), err)
	}
	if err := stepSessions(ss, ids, obs); err != nil {
		return nil, len(batch), fail(err)
	}
	fed = len(batch)
	results, err := model.DecodeBatch(ctx, ss, dos, stepSessions)
	for i, r := range results {
		if r != nil {
			batch[i].fed += len(r.Fed)
			fed += len(r.Fed)
		}
	}
	if err != nil {
		return nil, fed, fail(err)
	}
	recs := make([]Record, len(batch))
	for i, b := range batch {
		recs[i] = b.record(results[i].IDs, eos, tok, opts)
	}
	return recs, fed, nil
}

// record scores a decoded probe: its response against the answer (the
// recall gate) and its accumulated head scores.
func (b *pending) record(predicted []int, eos func(int) bool, tok needle.Tokenizer, opts Options) Record {
	p := b.p
	text := make([]int, 0, len(predicted))
	for _, id := range predicted {
		if !eos(id) {
			text = append(text, id)
		}
	}
	response := decodeResponse(tok, text, opts.Reference)
	recall := needle.Rouge1Recall(response, p.Answer)
	success := recall > opts.SuccessRecall
	if opts.TeacherForced {
		// The trajectory is the answer itself: every probe is scored. The
		// response and recall still record what the model predicted.
		success = true
	}
	scores := b.acc.Scores()
	return Record{
		Index: p.Index,
		Result: schema.ProbeResult{
			Index: p.Index, ContextLength: p.ContextLength, Tokens: len(p.IDs), Depth: p.Depth,
			NeedleID: p.NeedleID, Response: response, Recall: recall, Success: success,
		},
		SRH:       scores.SRH,
		Retrieval: scores.Retrieval,
	}
}
