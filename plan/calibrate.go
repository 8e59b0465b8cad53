package plan

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
)

// CalibrationSteps is the number of decode steps Calibrate times.
const CalibrationSteps = 8

// PrefillRuns is the most prefills of a chunk Calibrate times after the
// first (which only warms caches), while they take less than
// PrefillBudget in all; it always times at least one.
const (
	PrefillRuns   = 4
	PrefillBudget = 10 * time.Second
)

// BandwidthPasses is the number of passes over a 64 MB buffer whose
// fastest gives Calibrate the memory bandwidth that prices a decode step's
// cached positions: two passes read 19-46 GB/s on one 2-core machine
// between dry runs, which moved a 1.1B model's decode estimate by a third;
// a pass takes about 2 ms.
const BandwidthPasses = 8

// AttentionRuns is the number of runs of prefill attention's own problem
// Calibrate times after a first that warms it, taking the fastest.
const AttentionRuns = 5

// AttentionContext is the longest prompt whose last chunk Calibrate times
// prefill attention on (model.AttentionRate; the model's context when
// shorter): long enough for the rate to have levelled off, as bench's.
const AttentionContext = 4096

// Calibrate measures Rates on m itself, in sessions run with so, with a
// short run on random ids: a
// few prefills of a chunk (at most the model's context minus the timed
// steps), CalibrationSteps decode steps after it (each with its logits, as
// the run takes them), the work of the run's observer (newObserver; nil for
// none) on long attention rows, and the memory bandwidth. The prefill's
// FLOP rate prices both the layer matrices and the attention pairs,
// unless a quarter-chunk prefill shows attention slower (small heads) or
// prefill attention's own rate on a longer prompt is slower (which also
// overrules a quarter-chunk split pricing pairs at more than
// maxSplitOverDirect times its own price: noise); a
// decode step is its measured time less its per-position part: the KV
// bytes over the bandwidth, or the slope of the step time between a short
// and the long context when that is larger (small heads again), plus the
// observer's scan.
// The prefill rate is from CPU time over the threads where the platform
// reports it (the quiet-machine figure); CPUShare says how much of that
// the wall clock got. It takes two to five prefill chunks' time (more
// than two only while they fit PrefillBudget) and as many of a quarter
// chunk (a 7-8B model: about two minutes on 2 cores).
func Calibrate(m *model.Model, so model.SessionOptions, newObserver func() model.Observer) (Rates, error) {
	return CalibrateBatch(m, so, newObserver, 1)
}

// CalibrateBatch is Calibrate for a run that decodes batch sequences
// together (model.StepBatch): on a Batched model it also times a step of
// batch sessions at once and sets Rates.BatchStepRatio (applied by
// InBatches).
func CalibrateBatch(m *model.Model, so model.SessionOptions, newObserver func() model.Observer, batch int) (Rates, error) {
	cfg := m.Config()
	shape := ShapeOf(cfg)
	sess, err := m.NewSession(so)
	if err != nil {
		return Rates{}, fmt.Errorf("calibrate: %w", err)
	}
	defer sess.Release() // the run after the plan starts in its memory
	so = sess.Options()
	c := min(so.Chunk, so.MaxContext-CalibrationSteps-1)
	if c < 1 {
		return Rates{}, fmt.Errorf("calibrate: a context of %d tokens leaves no room to time a prefill", so.MaxContext)
	}
	rng := rand.New(rand.NewPCG(1, 7))
	ids := make([]int, c+CalibrationSteps)
	for i := range ids {
		ids[i] = rng.IntN(cfg.VocabSize)
	}
	// Prefills of one session, the first only warming caches and buffers
	// (it runs up to half again as slow): then at least one more, and up to
	// PrefillRuns while they take less than PrefillBudget in all. Their
	// wall time less the time their threads waited for a CPU is what they
	// take on a quiet machine; the fastest of them stands for it, as
	// other work on the machine only ever slows a run (one run's figure
	// moved a 1.1B model's grid projection by a fifth between dry runs);
	// the ratio of quiet to wall time says how much of the CPUs other
	// work left us.
	threads := float64(max(kernels.Threads(), 1))
	prefillTime := func(n int) (quiet, share float64, err error) {
		var wall, q float64
		quiet = math.Inf(1)
		runs := 0
		for total := 0.0; runs < 2 || (runs <= PrefillRuns && total < PrefillBudget.Seconds()); runs++ {
			sess.Truncate(0)
			u := snapshot()
			if err := sess.Prefill(context.Background(), ids[:n], nil); err != nil {
				return 0, 0, fmt.Errorf("calibrate: %w", err)
			}
			w, qt, _ := u.quietSince(int(threads))
			total += w.Seconds()
			if runs > 0 {
				wall += w.Seconds()
				q += qt.Seconds()
				quiet = min(quiet, qt.Seconds())
			}
		}
		share = 1.0
		if wall > 0 {
			share = min(q/wall, 1)
		}
		return quiet, share, nil
	}
	prefill, share, err := prefillTime(c)
	if err != nil {
		return Rates{}, err
	}
	// Decode steps are timed one by one as the run takes them (the step,
	// then its logits), so the fastest (the figure least disturbed by other
	// work) stands for the quiet machine; so does their quiet time: the
	// smaller of the two.
	steps := func(pos int, obs model.Observer) (float64, error) {
		sess.Truncate(pos)
		times := make([]float64, 0, CalibrationSteps)
		u := snapshot()
		for _, id := range ids[c:] {
			start := time.Now()
			if err := sess.Step(id, obs); err != nil {
				return 0, fmt.Errorf("calibrate: %w", err)
			}
			sess.Logits()
			times = append(times, time.Since(start).Seconds())
		}
		quiet := slices.Min(times)
		if _, q, _ := u.quietSince(int(threads)); q > 0 {
			quiet = min(quiet, q.Seconds()/float64(len(times)))
		}
		return quiet, nil
	}
	plain, err := steps(c, nil)
	if err != nil {
		return Rates{}, err
	}
	// A batch's step, per sequence: copies of the session at the same
	// position stepped together, the fastest of CalibrationSteps.
	batched := 0.0
	if batch > 1 && m.Batched() {
		sess.Truncate(c)
		ss := []*model.Session{sess}
		for len(ss) < batch {
			ss = append(ss, sess.Clone())
		}
		batched = math.Inf(1)
		for _, id := range ids[c:] {
			start := time.Now()
			if err := model.StepBatch(ss, slices.Repeat([]int{id}, batch), nil); err != nil {
				return Rates{}, fmt.Errorf("calibrate: %w", err)
			}
			for _, s := range ss {
				s.Logits()
			}
			batched = min(batched, time.Since(start).Seconds()/float64(batch))
		}
		for _, s := range ss[1:] {
			s.Release()
		}
	}
	// The observer's work grows with the cached positions it scans: timed
	// on its own over long rows, where a difference of two noisy step
	// times at a short context could not show it.
	scan := 0.0
	if newObserver != nil {
		scan = scanTime(newObserver(), cfg.NumLayers, cfg.NumHeads)
	}
	bandwidth := kernels.MemoryBandwidth(kernels.Threads(), 64<<20, BandwidthPasses) * 1e9
	kvBytes := so.CacheDType.Bytes()
	rate := shape.PrefillFLOPs(0, c, so.Chunk) / prefill // FLOP/s
	r := shape.NewRates(rate, 0, 0, "")
	base := r // the chunk's FLOP rate for pairs and tokens alike
	// A cached position costs a decode step at least its keys and values
	// read from memory; with small heads the attention's own work (the
	// dot products, the exponentials) costs more: the slope of the step
	// time between a short and the long context, when it is larger.
	perPosition := shape.KVReadSeconds(kvBytes, bandwidth)
	// Or what decode attention itself takes per position at a long
	// context, as a profiling run asks for its probability rows (the
	// slope below cannot see it: at a 512-token context it is a few % of
	// a 1B model's step, at 8192 it was two fifths).
	decodeAttn := 0.0
	if ctx := min(AttentionContext, so.MaxContext); ctx > 0 {
		decodeAttn = decodeAttentionTime(&cfg, m.Compute(), ctx, newObserver != nil) / float64(ctx) * float64(cfg.NumLayers)
		perPosition = max(perPosition, decodeAttn)
	}
	positions := float64(c + CalibrationSteps/2)
	fixed := max(plain-perPosition*positions, 0)
	split, attn := false, ""
	if short := min(32, c/8); short > 0 {
		near, err := steps(short, nil)
		if err != nil {
			return Rates{}, err
		}
		// Only a difference well above the timing noise counts: a quarter
		// of the long step (a 1B model's KV reads are a few % of it, and
		// noise would make them a slope).
		if slope := (plain - near) / float64(c-short); slope > perPosition && plain-near > plain/4 {
			perPosition = slope
			fixed = max(near-slope*float64(short+CalibrationSteps/2), 0)
		}
		// Prefill likewise: the FLOP rate of the chunk prices a token's
		// matrices and an attention pair alike; a quarter chunk timed too
		// splits the two when attention runs slower than the matrices.
		// (A split prefill attention's own rate contradicts is undone
		// below.)
		if n := c / 4; n >= 16 {
			t4, _, err := prefillTime(n)
			if err != nil {
				return Rates{}, err
			}
			tc, pc := shape.PrefillWork(0, c, so.Chunk)
			t4w, p4 := shape.PrefillWork(0, n, so.Chunk)
			k := tc / t4w
			// Again only when attention is a good part of the chunk.
			if pair := (prefill - k*t4) / (pc - k*p4); pair > r.PrefillPerPair && pair*pc > prefill/5 {
				if token := (prefill - pair*pc) / tc; token > 0 {
					r.PrefillPerPair, r.PrefillPerToken = pair, time.Duration(token*float64(time.Second))
					split = true
				}
			}
		}
	}
	// A long prompt's pairs at prefill attention's own rate (the last
	// chunk of a prompt as long as the context allows, up to
	// AttentionContext), when the chunk could not split them off and
	// attention runs slower than the chunk: a short chunk's attention is
	// a few % of its work, a long prompt's most of it.
	if ctx := min(AttentionContext, so.MaxContext); ctx > c {
		if rate := attentionRate(&cfg, m.Compute(), ctx, c, int(threads)); rate > 0 {
			flops := 4 * float64(shape.Layers*shape.Heads*shape.HeadDim)
			if split && noisySplit(r.PrefillPerPair, flops/rate) {
				// The split came from the difference of two noisy chunk
				// times where attention is a small part of either (one
				// dry run priced a 1.1B model's grid at 59 h instead of
				// 11): the direct measurement prices the pairs instead.
				r.PrefillPerPair, r.PrefillPerToken = base.PrefillPerPair, base.PrefillPerToken
				split = false
			}
			tokens, pairs := shape.PrefillWork(0, c, so.Chunk)
			if pair, token, ok := splitAtRate(prefill, tokens, pairs, flops, rate, r.PrefillPerPair); !split && ok {
				r.PrefillPerPair, r.PrefillPerToken = pair, time.Duration(token*float64(time.Second))
				attn = fmt.Sprintf(", attention %.1f GFLOP/s at %d tokens", rate/1e9, ctx)
			}
		}
	}
	r.StepFixed = time.Duration(fixed * float64(time.Second))
	if batched > 0 {
		// With no fixed time to share (a tiny model, whose step is all
		// cached positions) the ratio stays 0 and InBatches changes
		// nothing.
		r.Batch = batch
		if fixed > 0 {
			r.BatchStepRatio = max(batched-perPosition*float64(c+CalibrationSteps/2), 0) / fixed
		}
	}
	r.StepPerPosition = perPosition + scan
	r.Source = fmt.Sprintf("measured on this model: a %d-token prefill at %.1f GFLOP/s%s, decode %.1f ms/step at %d tokens (%.0f ns per cached position; its attention alone %.0f ns at %d), %d threads",
		c, rate/1e9, attn, (plain+scan*positions)*1e3, c, r.StepPerPosition*1e9, decodeAttn*1e9, min(AttentionContext, so.MaxContext), int(threads))
	r.CPUShare = share
	return r, nil
}

// scanTime returns the seconds per cached position that obs spends on a
// decode step's attention rows (layers x heads rows, each as long as the
// cache), timed on rows of 4096 positions.
func scanTime(obs model.Observer, layers, heads int) float64 {
	const n = 4096
	if obs == nil || !obs.WantProbs() {
		return 0
	}
	rows := make([][]float32, heads)
	for h := range rows {
		rows[h] = make([]float32, n)
		for j := range rows[h] {
			rows[h][j] = 1 / float32(n)
		}
	}
	best := 0.0
	for i := range 5 {
		start := time.Now()
		for l := range layers {
			obs.DecodeStep(&model.DecodeView{Layer: l, Pos: n - 1, Probs: rows})
		}
		if t := time.Since(start).Seconds(); i == 0 || t < best {
			best = t
		}
	}
	return best / n
}

// maxSplitOverDirect bounds how much more a pair may cost by the
// quarter-chunk split than by prefill attention's own rate before the
// split counts as timing noise (noisySplit). The two measure different
// prompts (a chunk from position 0, the last chunk of a longer one), so
// they may differ by some; a split ten times the direct price was noise.
const maxSplitOverDirect = 2

// noisySplit reports whether a quarter-chunk split's per-pair cost is
// more than maxSplitOverDirect times the one prefill attention's own rate
// gives (direct): then the split stems from the noise of two chunk times,
// not from attention.
func noisySplit(split, direct float64) bool {
	return direct > 0 && split > maxSplitOverDirect*direct
}

// splitAtRate divides a prefill's measured seconds, of tokens and pairs
// in Shape.PrefillWork's units, into a cost per attention pair
// (flopsPerPair each at rate FLOP/s) and a cost per token (what remains,
// over tokens). ok reports whether that prices a pair above now, the
// current per-pair cost, and leaves the tokens a positive cost; otherwise
// the current split stands.
func splitAtRate(prefill, tokens, pairs, flopsPerPair, rate, now float64) (pair, token float64, ok bool) {
	pair = flopsPerPair / rate
	token = (prefill - pair*pairs) / tokens
	return pair, token, pair > now && token > 0
}

// attentionRate returns prefill attention's rate in FLOP/s on cfg's heads
// (model.AttentionWork: the last chunk of a context-token prompt), the
// fastest of AttentionRuns runs after a warming one, each timed as a
// quiet machine would take it (quietSince), as the prefill chunks are.
func attentionRate(cfg *model.Config, compute model.ComputeDType, context, chunk, threads int) float64 {
	run, flops := model.AttentionWork(cfg, compute, context, chunk)
	best := fastest(AttentionRuns, run, func() float64 {
		u := snapshot()
		run()
		_, quiet, _ := u.quietSince(threads)
		return quiet.Seconds()
	})
	if best <= 0 {
		return 0
	}
	return flops / best
}

// fastest runs run once to warm it, then returns the smallest of runs
// times timed gives (timed runs it once and returns its seconds), or 0
// when none is finite.
func fastest(runs int, run func(), timed func() float64) float64 {
	run()
	best := math.Inf(1)
	for range runs {
		best = min(best, timed())
	}
	if math.IsInf(best, 0) {
		return 0
	}
	return best
}

// DecodeAttentionRuns is the number of runs of one layer's decode
// attention Calibrate times, taking the fastest by the wall clock: each
// is well under a millisecond for a 1B model at 4096 positions, too short
// for the CPU-time clocks that quiet-time the longer measurements.
const DecodeAttentionRuns = 20

// decodeAttentionTime returns the seconds one layer's decode attention
// takes at a context-token cache (model.DecodeAttentionWork, with the
// probability rows when probs), the fastest of DecodeAttentionRuns runs
// after a warming one.
func decodeAttentionTime(cfg *model.Config, compute model.ComputeDType, context int, probs bool) float64 {
	run := model.DecodeAttentionWork(cfg, compute, context, probs)
	return fastest(DecodeAttentionRuns, run, func() float64 {
		start := time.Now()
		run()
		return time.Since(start).Seconds()
	})
}
