package model

import (
	"errors"
	"fmt"
)

// BatchRows is the number of decode steps StepBatch runs through the layer
// matrices together at most: one row block of the bf16 micro-kernel, which
// computes 8 rows for about the time one row's weight reads take (a
// TinyLlama-shaped step at 512 positions: 50 ms for one session, 78 ms
// for eight).
const BatchRows = 8

// Batched reports whether StepBatch shares the layer matrices among the
// steps of sessions of m: under ComputeBF16, where a row's projection bits
// do not depend on the other rows (float32 compute sums a one-row product
// in another order than a product of kernels.MinGEMMRows rows or more, so
// there StepBatch steps the sessions one after another, with the bits of
// Step).
func (m *Model) Batched() bool { return m.packed != nil }

// StepBatch feeds ids[i] to ss[i] as Step does, observed by obs[i] (nil
// for none), every session getting exactly the bits Step gives it. When
// the model is Batched, the sessions' steps go through each layer's
// matrices together, BatchRows at a time, so the weights are read once
// for all of them (each session's attention still reads its own cache).
// The sessions must be distinct sessions of one model. On error every
// session is rolled back to where it was, as Step does.
func StepBatch(ss []*Session, ids []int, obs []Observer) error {
	if len(ids) != len(ss) || (obs != nil && len(obs) != len(ss)) {
		return fmt.Errorf("step batch: %d sessions, %d tokens, %d observers", len(ss), len(ids), len(obs))
	}
	observer := func(i int) Observer {
		if obs == nil {
			return nil
		}
		return obs[i]
	}
	seen := make(map[*Session]bool, len(ss))
	for i, s := range ss {
		if s == nil || seen[s] {
			return fmt.Errorf("step batch: session %d is nil or given twice", i)
		}
		seen[s] = true
		if s.m != ss[0].m {
			return errors.New("step batch: the sessions belong to different models")
		}
	}
	if len(ss) == 0 {
		return nil
	}
	if !ss[0].m.Batched() || len(ss) == 1 {
		for i, s := range ss {
			if err := s.Step(ids[i], observer(i)); err != nil {
				for _, done := range ss[:i] {
					done.Truncate(done.Len() - 1)
				}
				if len(ss) > 1 {
					err = fmt.Errorf("session %d: %w", i, err)
				}
				return err
			}
		}
		return nil
	}
	starts := make([]int, len(ss))
	for i, s := range ss {
		if err := s.checkTokens(ids[i : i+1]); err != nil {
			return fmt.Errorf("session %d: %w", i, err)
		}
		starts[i] = s.Len()
	}
	for lo := 0; lo < len(ss); lo += BatchRows {
		hi := min(lo+BatchRows, len(ss))
		if err := stepRows(ss[lo:hi], ids[lo:hi], obs, lo); err != nil {
			for i, s := range ss[:hi] {
				s.Truncate(starts[i])
			}
			return err
		}
	}
	return nil
}

// StepFunc feeds ids[i] to ss[i], observed by obs[i]: one decode step of
// several sequences (DecodeBatch).
type StepFunc func(ss []Stepper, ids []int, obs []Observer) error

// StepSessions is the StepFunc of Sessions: StepBatch. Every stepper must
// be a *Session.
func StepSessions(ss []Stepper, ids []int, obs []Observer) error {
	sessions := make([]*Session, len(ss))
	for i, s := range ss {
		var ok bool
		if sessions[i], ok = s.(*Session); !ok {
			return fmt.Errorf("step batch: sequence %d is a %T, not a *model.Session", i, s)
		}
	}
	return StepBatch(sessions, ids, obs)
}

// stepEach feeds each stepper its token with its own Step.
func stepEach(ss []Stepper, ids []int, obs []Observer) error {
	for i, s := range ss {
		if err := s.Step(ids[i], obs[i]); err != nil {
			if len(ss) > 1 {
				err = fmt.Errorf("sequence %d: %w", i, err)
			}
			return err
		}
	}
	return nil
}

// stepRows is StepBatch's shared step for at most BatchRows sessions;
// obs[off+i] observes ss[i].
func stepRows(ss []*Session, ids []int, obs []Observer, off int) (err error) {
	m := ss[0].m
	if err := m.brokenErr(); err != nil {
		return err
	}
	defer m.recoverFault(faultGuard(), &err)
	for i, s := range ss {
		s.call = callState{decode: true}
		if obs != nil && obs[off+i] != nil {
			s.call.obs, s.call.wantProbs = obs[off+i], obs[off+i].WantProbs()
		}
	}
	defer func() {
		for _, s := range ss {
			s.call = callState{}
		}
	}()
	if err := forwardRows(ss, ids, off); err != nil {
		return err
	}
	for _, s := range ss {
		s.hasLast = true
	}
	return nil
}

// forwardRows is forward for one token of each session (ss[i] being
// session off+i of the batch), the sessions' rows stacked in the first session's scratch and padded to a whole block
// of the micro-kernel. A row's bits depend on no other row (norms, RoPE,
// SwiGLU and additions are per row, and so are the bf16 products' sums),
// so the pad rows, zero at first, are computed and never read.
func forwardRows(ss []*Session, ids []int, off int) error {
	s0 := ss[0]
	cfg, w := s0.m.config, s0.m.weights
	n, rows := len(ss), BatchRows
	hidden, heads, kvHeads, headDim := cfg.HiddenSize, cfg.NumHeads, cfg.NumKVHeads, cfg.HeadDim
	qd, kvd, half := heads*headDim, kvHeads*headDim, headDim/2
	b := s0.scratch(rows)
	x := b.x
	clear(x[n*hidden:])
	p0 := make([]int, n)
	cos, sin := make([][]float32, n), make([][]float32, n)
	for i, s := range ss {
		w.EmbedTokens.Row(x[i*hidden:(i+1)*hidden], ids[i])
		p0[i] = s.Len()
		// The session's own rope table; a recomputed angle goes to its
		// own slot of the scratch.
		cos[i], sin[i] = s.m.ropes[s.opts.Rope].angles(&s.rope, b.angles[2*i*half:], p0[i], 1, p0[i]+1)
	}
	for l := range w.Layers {
		lw, pl := &w.Layers[l], s0.m.layerPacked(l)
		rmsNorm(b.xb, x, lw.InputLayernorm, cfg.RMSNormEps)
		linear(b.q, b.xb, rows, lw.QProj, pl.q)
		linear(b.k, b.xb, rows, lw.KProj, pl.k)
		linear(b.v, b.xb, rows, lw.VProj, pl.v)
		if cfg.AttentionBias {
			addBias(b.q[:n*qd], lw.QBias)
			addBias(b.k[:n*kvd], lw.KBias)
			addBias(b.v[:n*kvd], lw.VBias)
		}
		clear(b.att[n*qd:])
		for i, s := range ss {
			r := b.row(i, cfg)
			applyRope(r.q, 1, heads, headDim, cos[i], sin[i])
			applyRope(r.k, 1, kvHeads, headDim, cos[i], sin[i])
			cache := s.caches[l]
			cache.reserve(1)
			cache.append(r.k, r.v, 1)
			c0 := p0[i] - s.dropped(l)
			s.attn.run(r.att, r.q, 1, c0, cache, s.probs(l))
		}
		s0.m.outputProjection(l, b.proj, b.att, rows)
		for i, s := range ss {
			s.observe(l, b.row(i, cfg), 1, p0[i]-s.dropped(l))
		}
		addInto(x, b.proj)

		rmsNorm(b.xb, x, lw.PostAttentionLayernorm, cfg.RMSNormEps)
		linear(b.gate, b.xb, rows, lw.GateProj, pl.gate)
		linear(b.up, b.xb, rows, lw.UpProj, pl.up)
		swiGLU(b.gate, b.up)
		linear(b.proj, b.gate, rows, lw.DownProj, pl.down)
		addInto(x, b.proj)
		for i := range ss {
			if err := checkFinite(x[i*hidden:(i+1)*hidden], hidden, l, p0[i]); err != nil {
				return fmt.Errorf("session %d: %w", off+i, err)
			}
		}
	}
	for i, s := range ss {
		copy(s.last, x[i*hidden:(i+1)*hidden])
		s.logitsFresh = false
	}
	return nil
}

// row returns the one-row view of row i of a chunk's scratch.
func (b *scratch) row(i int, cfg *Config) *scratch {
	hidden, q, kv, inter, half := cfg.HiddenSize, cfg.NumHeads*cfg.HeadDim, cfg.NumKVHeads*cfg.HeadDim, cfg.IntermediateSize, cfg.HeadDim/2
	return &scratch{
		rows: 1,
		x:    b.x[i*hidden : (i+1)*hidden], xb: b.xb[i*hidden : (i+1)*hidden],
		q: b.q[i*q : (i+1)*q], att: b.att[i*q : (i+1)*q],
		k: b.k[i*kv : (i+1)*kv], v: b.v[i*kv : (i+1)*kv],
		proj: b.proj[i*hidden : (i+1)*hidden],
		gate: b.gate[i*inter : (i+1)*inter], up: b.up[i*inter : (i+1)*inter],
		angles: b.angles[2*i*half : 2*(i+1)*half],
	}
}
