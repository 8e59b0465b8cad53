package model

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Stepper is what the decode loop drives: a Session, or a test double of
// one. Logits are those of the last fed position; Full reports that no
// further token fits the context.
type Stepper interface {
	Step(id int, obs Observer) error
	Logits() []float32
	Full() bool
}

// DecodeOptions say how Decode chooses, feeds, observes and stops. Every
// hook is optional; the zero value with MaxNew set is plain greedy
// decoding. Step t is the t-th token Decode produces (t = 0, 1, ...).
type DecodeOptions struct {
	// MaxNew is the number of tokens to produce at most (at least 1).
	MaxNew int
	// Choose picks the token of step t from the logits of the last fed
	// position (owned by the session: read, never keep). nil: Argmax, the
	// greedy choice. GreedyExcept masks tokens at chosen steps.
	Choose func(t int, logits []float32) int
	// Produced, when set, sees every produced token right after its choice,
	// before it is fed: the attention an Observer saw in the Step before it
	// belongs to the query that produced it (profile's pairing). An error
	// ends Decode with that error.
	Produced func(t, id int) error
	// Stop reports whether the token of step t ends decoding (an EOS, a
	// token whose text holds a newline). The stopping token is produced
	// (and seen by Produced) but not fed unless FeedLast. nil: decoding ends
	// only after MaxNew tokens or when the context is full.
	Stop func(t, id int) bool
	// Feed returns the token fed after step t produced id. nil: id itself;
	// teacher forcing returns the reference's token instead.
	Feed func(t, id int) int
	// FeedLast also feeds the last token (the stopping one, or the MaxNew-th)
	// when the context has room, so its logits exist (generate --logits).
	FeedLast bool
	// Observer sees every layer's attention of every fed token (Step).
	Observer Observer
	// KeepLogits makes DecodeResult.Logits hold the logits after every fed
	// token.
	KeepLogits bool
}

// StopReason says why Decode ended.
type StopReason int

const (
	// StopMaxNew: MaxNew tokens were produced.
	StopMaxNew StopReason = iota
	// StopToken: DecodeOptions.Stop ended decoding at the last produced token.
	StopToken
	// StopContext: the sequence fills the context; nothing more can be fed.
	StopContext
)

// String names the reason.
func (r StopReason) String() string {
	switch r {
	case StopMaxNew:
		return "max-new"
	case StopToken:
		return "stop-token"
	case StopContext:
		return "context-full"
	}
	return fmt.Sprintf("StopReason(%d)", int(r))
}

// DecodeResult is what Decode did.
type DecodeResult struct {
	IDs    []int      // produced tokens, the stopping one included
	Fed    []int      // tokens fed with Step, in order (IDs but the last, or all with FeedLast; the reference's under teacher forcing)
	Stop   StopReason // why decoding ended
	Logits []float32  // [len(Fed), vocab] logits after each fed token when KeepLogits
}

// Decode continues the sequence from the logits of its last fed position:
// at step t it chooses a token, reports it (Produced), stops after it when
// Stop says so, after MaxNew tokens or when the context is full, and
// otherwise feeds it (or Feed's replacement) with Step, observed by
// Observer. This is the one decode loop of the program: greedy generation,
// the reference's min-length rule (GreedyExcept), profile's scoring of each
// step's query, teacher forcing and calibration all run through it.
//
// ctx is checked before every Step; on cancellation Decode returns what it
// produced so far with ctx.Err().
func (s *Session) Decode(ctx context.Context, o DecodeOptions) (*DecodeResult, error) {
	if !s.hasLast {
		return nil, errors.New("decode: nothing to continue from (prefill a prompt first)")
	}
	return Decode(ctx, s, o)
}

// Decode is Session.Decode over any Stepper (tests drive fakes with it).
func Decode(ctx context.Context, s Stepper, o DecodeOptions) (*DecodeResult, error) {
	d, err := newDecoder(o)
	if err != nil {
		return nil, err
	}
	for {
		fed, more, err := d.next(s)
		if err != nil || !more {
			return d.res, err
		}
		if err := ctx.Err(); err != nil {
			return d.res, err
		}
		if err := s.Step(fed, o.Observer); err != nil {
			return d.res, err
		}
		if !d.stepped(s, fed) {
			return d.res, nil
		}
	}
}

// DecodeBatch runs Decode on every stepper at once: at each step the
// ones still decoding feed their tokens together through step (nil: each
// one's Step in turn; StepSessions for Sessions, whose StepBatch reads a
// Batched model's layer weights once for all of them). Each stepper gets
// exactly the tokens and results Decode gives it alone, and leaves the
// batch when it stops. On an error the results so far come back with it.
func DecodeBatch(ctx context.Context, ss []Stepper, o []DecodeOptions, step StepFunc) ([]*DecodeResult, error) {
	if len(o) != len(ss) {
		return nil, fmt.Errorf("decode batch: %d sequences, %d options", len(ss), len(o))
	}
	if step == nil {
		step = stepEach
	}
	ds := make([]*decoder, len(ss))
	res := make([]*DecodeResult, len(ss))
	for i, s := range ss {
		if s, ok := s.(*Session); ok && !s.hasLast {
			return nil, fmt.Errorf("decode batch: session %d has nothing to continue from (prefill a prompt first)", i)
		}
		d, err := newDecoder(o[i])
		if err != nil {
			return nil, fmt.Errorf("decode batch: sequence %d: %w", i, err)
		}
		ds[i], res[i] = d, d.res
	}
	active := make([]int, len(ss))
	for i := range active {
		active[i] = i
	}
	for len(active) > 0 {
		var batch []Stepper
		var ids []int
		var obs []Observer
		var stepping []int
		for _, i := range active {
			fed, more, err := ds[i].next(ss[i])
			if err != nil {
				if len(ss) > 1 {
					err = fmt.Errorf("sequence %d: %w", i, err)
				}
				return res, err
			}
			if more {
				batch, ids, obs = append(batch, ss[i]), append(ids, fed), append(obs, o[i].Observer)
				stepping = append(stepping, i)
			}
		}
		if len(batch) == 0 {
			return res, nil
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if err := step(batch, ids, obs); err != nil {
			return res, err
		}
		active = active[:0]
		for k, i := range stepping {
			if ds[i].stepped(ss[i], ids[k]) {
				active = append(active, i)
			}
		}
	}
	return res, nil
}

// decoder is one sequence's state in the decode loop: next chooses and
// reports step t's token and says whether to feed it; stepped records a
// fed token and says whether to go on.
type decoder struct {
	o      DecodeOptions
	choose func(t int, logits []float32) int
	res    *DecodeResult
	t      int
	last   bool // the token being fed is the last one (FeedLast)
}

func newDecoder(o DecodeOptions) (*decoder, error) {
	if o.MaxNew < 1 {
		return nil, fmt.Errorf("decode: max new tokens %d: want at least 1", o.MaxNew)
	}
	d := &decoder{o: o, choose: o.Choose, res: &DecodeResult{}}
	if d.choose == nil {
		d.choose = func(_ int, logits []float32) int { return Argmax(logits) }
	}
	return d, nil
}

// next chooses the token of the current step from s's logits, reports it
// and returns the token to feed, or more false when decoding ends here.
func (d *decoder) next(s Stepper) (fed int, more bool, err error) {
	o, res := &d.o, d.res
	logits := s.Logits()
	if len(logits) == 0 {
		if e, ok := s.(interface{ Err() error }); ok && e.Err() != nil {
			return 0, false, e.Err() // a weight file changed under the model
		}
	}
	t := d.t
	id := d.choose(t, logits)
	if id < 0 || id >= len(logits) {
		return 0, false, fmt.Errorf("decode step %d: no token to choose among %d logits", t, len(logits))
	}
	res.IDs = append(res.IDs, id)
	if o.Produced != nil {
		if err := o.Produced(t, id); err != nil {
			return 0, false, err
		}
	}
	d.last = true
	switch {
	case o.Stop != nil && o.Stop(t, id):
		res.Stop = StopToken
	case t+1 == o.MaxNew:
		res.Stop = StopMaxNew
	case s.Full():
		res.Stop = StopContext
	default:
		d.last = false
	}
	if d.last && (!o.FeedLast || s.Full()) {
		return 0, false, nil
	}
	fed = id
	if o.Feed != nil {
		fed = o.Feed(t, id)
	}
	return fed, true, nil
}

// stepped records that fed went in and reports whether decoding goes on.
func (d *decoder) stepped(s Stepper, fed int) bool {
	d.res.Fed = append(d.res.Fed, fed)
	if d.o.KeepLogits {
		d.res.Logits = append(d.res.Logits, s.Logits()...)
	}
	d.t++
	return !d.last
}

// Argmax returns the index of the largest value (the first one on ties, as
// torch.argmax), or -1 for an empty slice. It is the greedy choice of
// Decode and the top-1 position of an attention row.
func Argmax(x []float32) int {
	best := -1
	for i, v := range x {
		if best < 0 || v > x[best] {
			best = i
		}
	}
	return best
}

// ArgmaxExcept is Argmax over the indices not in skip, or -1 when every
// index is skipped: greedy decoding after transformers'
// MinLengthLogitsProcessor has set the skipped logits to -inf.
func ArgmaxExcept(x []float32, skip []int) int {
	best := -1
	for i, v := range x {
		if slices.Contains(skip, i) {
			continue
		}
		if best < 0 || v > x[best] {
			best = i
		}
	}
	return best
}

// GreedyExcept returns a DecodeOptions.Choose that never picks a token of
// skip during the first steps steps, and is Argmax after them. The
// reference's generate(min_length = prompt + 1) is GreedyExcept(eos, 1):
// the first new token is never an end of sequence.
func GreedyExcept(skip []int, steps int) func(t int, logits []float32) int {
	return func(t int, logits []float32) int {
		if t < steps {
			return ArgmaxExcept(logits, skip)
		}
		return Argmax(logits)
	}
}
