// Package plan says what a run of prompts through a model will cost before
// it starts: prompts, prompt tokens, the tokens actually prefilled once
// shared prefixes are reused, decode steps, FLOPs, peak memory and, from
// rates measured on the model itself (Calibrate), the wall time. profile,
// calibrate and eval print one before a long run (and `--dry-run` prints
// only it); bench projects the reference grid with it.
//
// The prefix arithmetic here is the one profile.Run executes: prompts in
// lexicographic order of their ids, one KV cache, each prompt keeping the
// longest prefix it shares with the cached one, less the few rows that
// keep the rest of its chunk on the GEMM path (Reusable). This package never runs a probe or scores anything.
package plan

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
)

// Shape holds the model numbers the costs depend on.
type Shape struct {
	Layers, Heads, KVHeads, HeadDim int
	Hidden, Intermediate, Vocab     int
	MaxContext                      int
}

// ShapeOf reads a Shape from a model config.
func ShapeOf(c model.Config) Shape {
	return Shape{
		Layers: c.NumLayers, Heads: c.NumHeads, KVHeads: c.NumKVHeads, HeadDim: c.HeadDim,
		Hidden: c.HiddenSize, Intermediate: c.IntermediateSize, Vocab: c.VocabSize,
		MaxContext: c.MaxPositionEmbeddings,
	}
}

// LayerParams is the parameter count of the decoder layers' matrices
// (q, k, v, o, gate, up, down): 2 FLOPs each per token.
func (s Shape) LayerParams() int64 {
	h, q, kv := int64(s.Hidden), int64(s.Heads*s.HeadDim), int64(s.KVHeads*s.HeadDim)
	return (h*q + 2*h*kv + q*h + 3*h*int64(s.Intermediate)) * int64(s.Layers)
}

// PrefillWork is the work of feeding positions [from, to) after a cached
// prefix of from positions, in Prefill chunks of chunk positions from from
// on (0: model.DefaultChunkSize), in the units the rates price: tokens,
// each the layer matrices of one position over all layers, and causal
// attention's (query, key) pairs over all layers, where position i
// attends to i+1 keys. Every layer but the last does the whole work of
// every position; the last computes only the keys and values of the rows
// before a chunk's last model.LastLayerRows (nothing reads the rest), so
// such a row costs its k/v projections' share of one layer's matrices and
// no attention there. The rows are those of a run without an observer; an
// observer keeping more queries than that adds its window's rows per
// chunk, which this leaves out.
func (s Shape) PrefillWork(from, to, chunk int) (tokens, pairs float64) {
	if to <= from {
		return 0, 0
	}
	if chunk <= 0 {
		chunk = model.DefaultChunkSize
	}
	group, layers := s.Heads/max(s.KVHeads, 1), float64(max(s.Layers, 1))
	perLayer := float64(s.LayerParams()) / layers
	skipShare := (perLayer - 2*float64(s.Hidden)*float64(s.KVHeads*s.HeadDim)) / max(perLayer, 1)
	tokens, pairs = float64(to-from), pairSum(from, to)
	for p, end := from, from; p < to; p = end {
		end = model.ChunkEnd(p, to, chunk)
		n := end - p
		skipped := n - model.LastLayerRows(group, n, 0) // rows p .. p+skipped-1
		tokens -= skipShare * float64(skipped) / layers
		pairs -= pairSum(p, p+skipped) / layers
	}
	return tokens, pairs
}

// pairSum is the number of (query, key) pairs of causal attention over
// positions [from, to): the sum of i+1.
func pairSum(from, to int) float64 {
	return (float64(to)*float64(to+1) - float64(from)*float64(from+1)) / 2
}

// PrefillFLOPs is the work of PrefillWork in FLOPs: 2 per parameter of the
// layer matrices and token, 4*d per query head, key and layer for
// attention (QK^T and PV).
func (s Shape) PrefillFLOPs(from, to, chunk int) float64 {
	return s.flops(s.PrefillWork(from, to, chunk))
}

// flops is the FLOPs of tokens and pairs in PrefillWork's units.
func (s Shape) flops(tokens, pairs float64) float64 {
	return 2*float64(s.LayerParams())*tokens + 4*float64(s.Layers*s.Heads*s.HeadDim)*pairs
}

// StepFLOPs is one decode step at position pos: layers, attention over
// pos+1 keys and the lm_head.
func (s Shape) StepFLOPs(pos int) float64 {
	return 2*float64(s.LayerParams()) + 4*float64(s.Layers*s.Heads*s.HeadDim)*float64(pos+1) + 2*float64(s.Vocab)*float64(s.Hidden)
}

// KVBytesPerPosition is the cache memory of one position over all layers.
func (s Shape) KVBytesPerPosition(kvBytes int) int64 {
	return int64(s.Layers) * 2 * int64(s.KVHeads*s.HeadDim) * int64(kvBytes)
}

// Sequence is one prompt of a run: the ids it prefills (the decode loop
// feeds the rest), at most how many decode steps follow, and how many
// times they do from the same prefill (eval decodes once per method and
// budget; 0 means once).
type Sequence struct {
	Prefill []int
	Steps   int
	Decodes int
}

// Options are the run settings that change the costs.
type Options struct {
	Reuse       bool  // prefix reuse (profile --prefix-reuse)
	Chunk       int   // prefill chunk, whose boundaries Reusable respects (0: model.DefaultChunkSize)
	KVBytes     int   // bytes per cached value: 4 (f32) or 2 (bf16)
	WeightBytes int64 // size of the weight files (mapped, not copied)
	// KVCaches is how many caches as large as the longest prompt's the run
	// holds at once: calibrate's parallel prompts, eval's full cache and
	// its compressed copy (0: one).
	KVCaches int
}

// Plan is what a run will cost.
type Plan struct {
	Prompts        int
	PromptTokens   int64 // prefill positions over all prompts
	PrefillTokens  int64 // positions actually prefilled (PromptTokens - ReusedTokens)
	ReusedTokens   int64 // positions taken from the cached prefix
	DecodeSteps    int64 // upper bound: greedy decoding stops early at a newline
	LongestPrefill int   // positions of the longest prefill
	PrefillFLOPs   float64
	DecodeFLOPs    float64 // upper bound, as DecodeSteps

	// Memory: the weights are mapped from their files; the KV cache is one
	// session's, of the longest prompt plus its steps; the reused prefix
	// lives in that same cache, so reuse adds nothing.
	WeightBytes  int64
	KVCacheBytes int64 // all KVCaches caches
	KVCaches     int
	Reuse        bool // planned with prefix reuse

	// attention work, in (from, to) prefill segments and decode positions,
	// kept for Project
	segments []segment
	steps    []int // decode position of each prompt's first step, and its step count
	stepN    []int
	stepSeg  []int // the segment (prefill) of each entry of steps
	shape    Shape
	chunk    int
}

// segment is one prefill call of the run: positions [from, to).
type segment struct{ from, to int }

// Reusable returns how many leading positions of prompt a cache holding
// cached may keep so that prefilling the rest gives every position the
// bits a fresh prefill of prompt gives it: their longest common prefix,
// less what the piece up to the next chunk boundary needs. Session.Prefill
// cuts chunks at multiples of chunk from position 0, and a row gets the
// same bits in any chunk of at least kernels.MinGEMMRows rows (fewer take
// the GEMV path, a single one decode attention, which sum in other
// orders). So the kept prefix ends anywhere that leaves the piece to the
// next boundary (or to the prompt's end, in its last chunk) that many
// rows, if the cache computed the rows it keeps of that chunk in that many
// too (cached holds what one prefill of cached would: its own last chunk
// may be short). Otherwise, and for chunks too short for the GEMM, it
// keeps whole chunks only.
func Reusable(cached, prompt []int, chunk int) int {
	n := min(len(cached), len(prompt))
	k := 0
	for k < n && cached[k] == prompt[k] {
		k++
	}
	chunk = max(chunk, 1)
	aligned := k - k%chunk
	if k == aligned || chunk < kernels.MinGEMMRows {
		return aligned
	}
	// The chunk a fresh prefill of prompt computes position k in, and the
	// one the cache computed its positions from aligned on in: both must
	// have taken the GEMM.
	end := model.ChunkEnd(aligned, len(prompt), chunk)
	if end-aligned < kernels.MinGEMMRows || model.ChunkEnd(aligned, len(cached), chunk)-aligned < kernels.MinGEMMRows {
		return aligned
	}
	return min(k, end-kernels.MinGEMMRows)
}

// Order returns the run order of prompts under prefix reuse: their ids in
// lexicographic order (equal ids by position), a depth-first walk of the
// prompts' trie, so one cache prefills every shared prefix once.
func Order(prompts [][]int) []int {
	order := make([]int, len(prompts))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return slices.Compare(prompts[a], prompts[b]) })
	return order
}

// Make counts the costs of running seqs on a model of the given shape.
func Make(shape Shape, seqs []Sequence, o Options) *Plan {
	if o.Chunk <= 0 {
		o.Chunk = model.DefaultChunkSize
	}
	if o.KVBytes <= 0 {
		o.KVBytes = 4
	}
	p := &Plan{Prompts: len(seqs), WeightBytes: o.WeightBytes, shape: shape, chunk: o.Chunk}
	if len(seqs) == 0 {
		p.KVCaches, p.Reuse = max(o.KVCaches, 1), o.Reuse
		return p
	}
	order := make([]int, len(seqs))
	for i := range order {
		order[i] = i
	}
	if o.Reuse {
		ids := make([][]int, len(seqs))
		for i, s := range seqs {
			ids[i] = s.Prefill
		}
		order = Order(ids)
	}
	var cached []int
	longest := 0
	for _, i := range order {
		s := seqs[i]
		n := len(s.Prefill)
		kept := 0
		if o.Reuse {
			kept = Reusable(cached, s.Prefill, o.Chunk)
			cached = s.Prefill
		}
		p.PromptTokens += int64(n)
		p.ReusedTokens += int64(kept)
		p.PrefillFLOPs += shape.PrefillFLOPs(kept, n, o.Chunk)
		p.segments = append(p.segments, segment{kept, n})
		// The first step feeds the last prompt token at position n.
		for range max(s.Decodes, 1) {
			p.DecodeSteps += int64(s.Steps)
			for t := range s.Steps {
				p.DecodeFLOPs += shape.StepFLOPs(n + t)
			}
			p.steps = append(p.steps, n)
			p.stepN = append(p.stepN, s.Steps)
			p.stepSeg = append(p.stepSeg, len(p.segments)-1)
		}
		p.LongestPrefill = max(p.LongestPrefill, n)
		longest = max(longest, n+s.Steps)
	}
	p.PrefillTokens = p.PromptTokens - p.ReusedTokens
	p.KVCaches = max(o.KVCaches, 1)
	p.Reuse = o.Reuse
	p.KVCacheBytes = int64(p.KVCaches) * int64(longest) * shape.KVBytesPerPosition(o.KVBytes)
	return p
}

// Rates are measured costs of the model on this machine (Calibrate), in
// the form the projection needs: prefill time is linear in the tokens fed
// plus linear in the attention pairs; a decode step is a fixed time plus a
// time per cached position it attends to (and scans, when observed).
type Rates struct {
	PrefillPerToken time.Duration // layers of one prefilled position
	PrefillPerPair  float64       // seconds per (query, key) pair of prefill attention, over all layers
	StepFixed       time.Duration // one decode step, its attention excluded
	StepPerPosition float64       // seconds per cached position a decode step attends to
	Source          string        // how the rates were obtained
	// CPUShare is the share of the CPU the calibration's threads got
	// when they wanted one: 1 on a quiet machine, lower when other work
	// competes (the projection is for a quiet machine; Format warns).
	CPUShare float64
	// Batch and BatchStepRatio: when a run decodes Batch sequences
	// together, a step's fixed time per sequence is BatchStepRatio times
	// StepFixed (measured by CalibrateBatch). Project prices it so once
	// InBatches applied it, but for the prompts whose prefill alone takes
	// BatchPrefill or more (0: none).
	Batch          int
	BatchStepRatio float64
	BatchPrefill   time.Duration
	inBatches      bool // InBatches was applied
	// StepShare is the fraction of their decode-step limit the prompts of
	// the calibration run decoded (greedy decoding stops at a newline or
	// EOS): Project prices that share of every prompt's steps. 0 prices
	// them all, the upper bound.
	StepShare float64
}

// WithStepShare returns r with StepShare set to taken over limit decode
// steps (unchanged when limit is 0).
func (r Rates) WithStepShare(taken, limit int) Rates {
	if limit > 0 {
		r.StepShare = min(float64(taken)/float64(limit), 1)
	}
	return r
}

// LoadedShare is the CPUShare below which the machine looks loaded.
const LoadedShare = 0.8

// Projection is a plan's projected wall time.
type Projection struct {
	Prefill, Decode, Total time.Duration
}

// PrefillTime is the time r gives to prefilling positions [from, to) of a
// model of shape s after a cached prefix of from positions, in chunks of
// chunk (see Shape.PrefillWork).
func (r Rates) PrefillTime(s Shape, from, to, chunk int) time.Duration {
	tokens, pairs := s.PrefillWork(from, to, chunk)
	return time.Duration((r.PrefillPerToken.Seconds()*tokens + r.PrefillPerPair*pairs) * float64(time.Second))
}

// StepTime is the time r gives to a decode step at position pos (it
// attends to pos+1 cached positions).
func (r Rates) StepTime(pos int) time.Duration {
	return time.Duration((r.StepFixed.Seconds() + r.StepPerPosition*float64(pos+1)) * float64(time.Second))
}

// Project applies r to the plan. Decode is an upper bound (every prompt
// decodes all its steps) unless r.StepShare says what share of them the
// prompts decode.
func (p *Plan) Project(r Rates) Projection {
	var prefill, decode float64
	for _, s := range p.segments {
		prefill += r.PrefillTime(p.shape, s.from, s.to, p.chunk).Seconds()
	}
	batched := r.StepFixed.Seconds()
	if r.inBatches {
		batched *= r.BatchStepRatio
	}
	for i, pos := range p.steps {
		n := float64(p.stepN[i])
		if r.StepShare > 0 {
			n *= r.StepShare
		}
		// A prompt whose prefill alone reaches the batch's bound decodes
		// alone (profile.MaxBatchPrefill).
		fixed := batched
		if s := p.segments[p.stepSeg[i]]; r.BatchPrefill > 0 && r.PrefillTime(p.shape, s.from, s.to, p.chunk) >= r.BatchPrefill {
			fixed = r.StepFixed.Seconds()
		}
		// positions pos .. pos+n-1, each attending to pos+t+1 keys
		keys := n*float64(pos+1) + n*(n-1)/2
		decode += fixed*n + r.StepPerPosition*keys
	}
	pr := time.Duration(prefill * float64(time.Second))
	de := time.Duration(decode * float64(time.Second))
	return Projection{Prefill: pr, Decode: de, Total: pr + de}
}

// Format renders the plan (and its projection when rates are given) as
// the lines a command prints before it starts.
func (p *Plan) Format(what string, r *Rates) string {
	var b strings.Builder
	fmt.Fprintf(&b, "plan: %d %s, %s prompt tokens (longest prefill %d)", p.Prompts, what, count(p.PromptTokens), p.LongestPrefill)
	if p.ReusedTokens > 0 {
		fmt.Fprintf(&b, ", %s prefilled after prefix reuse (%.0f %% reused)", count(p.PrefillTokens), 100*float64(p.ReusedTokens)/float64(max(p.PromptTokens, 1)))
	}
	fmt.Fprintf(&b, ", <= %s decode steps\n", count(p.DecodeSteps))
	caches := "KV cache"
	switch {
	case p.KVCaches > 1:
		caches = fmt.Sprintf("KV caches (%d at once)", p.KVCaches)
	case p.Reuse:
		caches = "KV cache (reused prefixes live in it)"
	}
	fmt.Fprintf(&b, "plan: %.3g TFLOP prefill + <= %.3g TFLOP decode; memory %s weights (mapped) + %s %s\n",
		p.PrefillFLOPs/1e12, p.DecodeFLOPs/1e12, bytesText(p.WeightBytes), bytesText(p.KVCacheBytes), caches)
	if r != nil {
		pr := p.Project(*r)
		decode := "<= " + roundDuration(pr.Decode).String()
		if r.StepShare > 0 {
			decode = fmt.Sprintf("%s at the %.0f %% of the step limit the calibration run decoded", roundDuration(pr.Decode), 100*r.StepShare)
		}
		fmt.Fprintf(&b, "plan: projected %s on a quiet machine (prefill %s, decode %s; %s)\n",
			roundDuration(pr.Total), roundDuration(pr.Prefill), decode, r.Source)
		if r.CPUShare > 0 && r.CPUShare < LoadedShare {
			fmt.Fprintf(&b, "plan: the machine looks loaded: the calibration's threads got a CPU %.0f %% of the time they wanted one; at that share the run takes %s\n",
				100*r.CPUShare, roundDuration(time.Duration(float64(pr.Total)/r.CPUShare)))
		}
	}
	return b.String()
}

func count(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fG", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
}

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Hour:
		return d.Round(time.Minute)
	case d >= time.Minute:
		return d.Round(time.Second)
	}
	return d.Round(10 * time.Millisecond)
}

// InBatches returns r pricing decode steps at their share of a full batch
// of r.Batch sequences (BatchStepRatio times StepFixed), except for the
// prompts whose prefill alone takes limit or more (0: none), which a run
// decodes alone (profile.MaxBatchPrefill). A run's last batch and the
// sequences left after others stop pay more, so this is a lower bound of
// the decode when prompts stop early. r comes back unchanged when no
// batch was measured.
func (r Rates) InBatches(limit time.Duration) Rates {
	if r.Batch <= 1 || r.BatchStepRatio <= 0 {
		return r
	}
	r.BatchPrefill, r.inBatches = limit, true
	r.Source += fmt.Sprintf("; decoding %d probes at a time, a step's fixed cost %.2fx per probe", r.Batch, r.BatchStepRatio)
	if limit > 0 {
		r.Source += fmt.Sprintf(" (alone after a prefill of %s or more)", roundDuration(limit))
	}
	return r
}

// ScaledTo returns r scaled so that it projects p, the plan of a short run
// made end to end, to took, the time that run took: that folds in what
// the model-level rates leave out (the per-step and per-prompt work around
// the forward pass, which dominates a small model). what names the run for
// Source. r comes back unchanged when either time is zero.
func (r Rates) ScaledTo(p *Plan, took time.Duration, what string) Rates {
	q := r
	q.StepShare = 0 // p holds the steps the run took
	projected := p.Project(q).Total.Seconds()
	if projected <= 0 || took <= 0 {
		return r
	}
	f := took.Seconds() / projected
	r.PrefillPerToken = time.Duration(float64(r.PrefillPerToken) * f)
	r.PrefillPerPair *= f
	r.StepFixed = time.Duration(float64(r.StepFixed) * f)
	r.StepPerPosition *= f
	r.Source += fmt.Sprintf("; scaled by %.2f to %s", f, what)
	return r
}

// QuietTime runs f and returns the time it takes on a quiet machine: its
// wall time less the time its threads waited for a CPU other work held
// (see quietSince for platforms that do not report that).
func QuietTime(threads int, f func() error) (time.Duration, error) {
	u := snapshot()
	if err := f(); err != nil {
		return 0, err
	}
	_, quiet, _ := u.quietSince(threads)
	return quiet, nil
}

// DryRunBudget bounds the prompts a measurement runs end to end when
// their results are thrown away (--dry-run; a run keeps them, so they cost
// it nothing). A dry run is asked for to be quick, and on a grid of long
// prompts only the three shortest could take many minutes (a 31.5K-token
// probe of a 1.1B model is minutes on 2 cores).
const DryRunBudget = 30 * time.Second

// Affordable returns how many of seqs, taken in order, rates project to
// run within budget, and the projected time of the first (0 without one).
func Affordable(shape Shape, seqs []Sequence, o Options, r Rates, budget time.Duration) (n int, first time.Duration) {
	for n < len(seqs) {
		t := Make(shape, seqs[:n+1], o).Project(r).Total
		if n == 0 {
			first = t
		}
		if t > budget {
			break
		}
		n++
	}
	return n, first
}

// Unscaled returns r noting in its Source that no prompt was run end to
// end because the shortest, projected at first, is over DryRunBudget.
func (r Rates) Unscaled(first time.Duration) Rates {
	r.Source += fmt.Sprintf("; not scaled to a prompt run end to end: --dry-run skips the shortest, projected at %s (a run measures it)", roundDuration(first))
	return r
}
