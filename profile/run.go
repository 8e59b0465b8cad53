package profile

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/needle"
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
	Shard         Shard       // which probes to run; the zero Shard runs all
	Checkpoint    *Checkpoint // optional journal: its probes are skipped, new ones appended
}

func (o Options) withDefaults() Options {
	if o.MaxNewTokens <= 0 {
		o.MaxNewTokens = DefaultMaxNewTokens
	}
	if o.SuccessRecall == 0 {
		o.SuccessRecall = DefaultSuccessRecall
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
	Last    schema.ProbeResult // the probe just finished
	// LastTokens and LastTime are what the probe just finished fed through
	// the model and how long it took (prefill + decode): timings live here
	// and in run reports, never in the profile, whose bytes must not depend
	// on the machine.
	LastTokens int
	LastTime   time.Duration
}

// Result is what Run did.
type Result struct {
	Records []Record // every finished probe of the shard, in index order
	Resumed int      // of which loaded from the checkpoint
	Tokens  int      // tokens fed through the model by this invocation
}

// ModelInfo describes m as the profile records it.
func ModelInfo(m *model.Model) schema.Model {
	c := m.Config
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

// session is the part of a model session the decode loop uses.
type session interface {
	// Prefill feeds ids (checking ctx between chunks).
	Prefill(ctx context.Context, ids []int) error
	// Step feeds one token and returns the logits it produces; the
	// observer sees every layer's attention of that token's query.
	Step(id int) ([]float32, error)
	// EOS reports whether id ends generation.
	EOS(id int) bool
}

// newSessionFunc starts a fresh session (empty cache) observed by obs.
type newSessionFunc func(obs model.Observer) (session, error)

// Run scores every probe of opts.Shard on m, in probe index order: a fresh
// session per probe, prefill of the prompt minus its last token, then up to
// MaxNewTokens greedy steps from the last prompt token, stopping after a
// token that decodes to text containing a newline or an EOS token (that
// step is still scored, as in the reference). tok decodes the response,
// which is scored with needle.Rouge1Recall against the probe's answer.
//
// Finished probes go to opts.Checkpoint when given. ctx is checked between
// probes, decode steps and prefill chunks; on cancellation Run returns the
// context's error and every probe finished so far is in the checkpoint.
func Run(ctx context.Context, m *model.Model, tok needle.Tokenizer, probes []needle.Probe, opts Options, progress func(Progress)) (*Result, error) {
	if err := CheckFit(probes, opts.withDefaults().MaxNewTokens, m.Options.MaxContext); err != nil {
		return nil, err
	}
	return run(ctx, modelSessions(m), m.Config.NumLayers, m.Config.NumHeads, tok, probes, opts, progress)
}

func run(ctx context.Context, newSession newSessionFunc, layers, heads int, tok needle.Tokenizer, probes []needle.Probe, opts Options, progress func(Progress)) (*Result, error) {
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
	nl := newlineTokens{tok: tok, known: map[int]bool{}}
	for _, p := range todo {
		if _, ok := done[p.Index]; ok {
			continue
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		start := time.Now()
		rec, tokens, err := runProbe(ctx, newSession, layers, heads, tok, &nl, p, opts)
		elapsed := time.Since(start)
		res.Tokens += tokens
		if err != nil {
			return res, err
		}
		if opts.Checkpoint != nil {
			if err := opts.Checkpoint.Append(rec); err != nil {
				return res, err
			}
		}
		done[p.Index] = rec
		if progress != nil {
			progress(Progress{Done: len(done), Total: len(todo), Resumed: res.Resumed, Tokens: res.Tokens, Last: rec.Result,
				LastTokens: tokens, LastTime: elapsed})
		}
	}
	for _, p := range todo {
		res.Records = append(res.Records, done[p.Index])
	}
	return res, nil
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

// runProbe decodes and scores one probe; tokens counts what it fed.
func runProbe(ctx context.Context, newSession newSessionFunc, layers, heads int, tok needle.Tokenizer, nl *newlineTokens, p needle.Probe, opts Options) (Record, int, error) {
	fail := func(err error) error {
		return fmt.Errorf("probe %d (length %d, depth %v): %w", p.Index, p.ContextLength, p.Depth, err)
	}
	ids := p.IDs
	if len(ids) < 2 {
		return Record{}, 0, fail(fmt.Errorf("prompt of %d tokens", len(ids)))
	}
	acc, err := NewAccumulator(layers, heads, ids, p.SpanStart, p.SpanEnd, opts.NormalizedSRH)
	if err != nil {
		return Record{}, 0, fail(err)
	}
	obs := NewObserver(acc)
	sess, err := newSession(obs)
	if err != nil {
		return Record{}, 0, fail(err)
	}
	tokens := len(ids) - 1
	if err := sess.Prefill(ctx, ids[:len(ids)-1]); err != nil {
		return Record{}, tokens, fail(err)
	}
	answer := ids[p.SpanStart:p.SpanEnd]
	steps := opts.MaxNewTokens
	if opts.TeacherForced {
		steps = len(answer)
	}
	// At step t the model attends with the query of the token fed at t and
	// produces the next token; the rows of that query are paired with the
	// token they produced (the reference's pairing).
	fed := ids[len(ids)-1]
	var predicted []int
	for t := 0; t < steps; t++ {
		if err := ctx.Err(); err != nil {
			return Record{}, tokens, err
		}
		logits, err := sess.Step(fed)
		tokens++
		if err != nil {
			return Record{}, tokens, fail(err)
		}
		if err := obs.Err(); err != nil {
			return Record{}, tokens, fail(err)
		}
		next := argmax(logits) // the first of equal logits, as torch.argmax
		produced := next
		if opts.TeacherForced {
			produced = answer[t]
		}
		if err := acc.Commit(produced); err != nil {
			return Record{}, tokens, fail(err)
		}
		predicted = append(predicted, next)
		if !opts.TeacherForced && (sess.EOS(next) || nl.is(next)) {
			break
		}
		fed = produced
	}
	text := make([]int, 0, len(predicted))
	for _, id := range predicted {
		if !sess.EOS(id) {
			text = append(text, id)
		}
	}
	// The reference decodes with skip_special_tokens=True.
	var response string
	if sk, ok := tok.(interface{ DecodeSkipSpecial([]int) string }); ok {
		response = strings.TrimSpace(sk.DecodeSkipSpecial(text))
	} else {
		response = strings.TrimSpace(tok.Decode(text))
	}
	recall := needle.Rouge1Recall(response, p.Answer)
	success := recall > opts.SuccessRecall
	if opts.TeacherForced {
		// The trajectory is the answer itself: every probe is scored. The
		// response and recall still record what the model predicted.
		success = true
	}
	scores := acc.Scores()
	return Record{
		Index: p.Index,
		Result: schema.ProbeResult{
			Index: p.Index, ContextLength: p.ContextLength, Tokens: len(ids), Depth: p.Depth,
			NeedleID: p.NeedleID, Response: response, Recall: recall, Success: success,
		},
		SRH:       scores.SRH,
		Retrieval: scores.Retrieval,
	}, tokens, nil
}

// newlineTokens remembers which token ids decode to text with a newline.
type newlineTokens struct {
	tok   needle.Tokenizer
	known map[int]bool
}

func (n *newlineTokens) is(id int) bool {
	v, ok := n.known[id]
	if !ok {
		v = strings.Contains(n.tok.Decode([]int{id}), "\n")
		n.known[id] = v
	}
	return v
}

// modelSession adapts a model.Session to the decode loop.
type modelSession struct {
	s   *model.Session
	obs model.Observer
	eos map[int]bool
}

// modelSessions starts sessions of m.
func modelSessions(m *model.Model) newSessionFunc {
	eos := map[int]bool{}
	for _, id := range m.Config.EOS {
		eos[id] = true
	}
	return func(obs model.Observer) (session, error) {
		return &modelSession{s: m.NewSession(), obs: obs, eos: eos}, nil
	}
}

// Prefill feeds ids one model chunk at a time so that a cancellation is
// noticed within a chunk's time; chunked prefill equals one prefill.
// Prefill is not observed: only decode steps are scored.
func (ms *modelSession) Prefill(ctx context.Context, ids []int) error {
	chunk := ms.s.Model().Options.ChunkSize
	if chunk <= 0 {
		chunk = model.DefaultChunkSize
	}
	for c := 0; c < len(ids); c += chunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := ms.s.Prefill(ids[c:min(c+chunk, len(ids))], nil); err != nil {
			return err
		}
	}
	return nil
}

func (ms *modelSession) Step(id int) ([]float32, error) {
	if err := ms.s.Step(id, ms.obs); err != nil {
		return nil, err
	}
	return ms.s.Logits(), nil
}

func (ms *modelSession) EOS(id int) bool { return ms.eos[id] }
