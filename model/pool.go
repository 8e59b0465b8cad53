package model

import "sync"

// pooledSessions bounds how many released sessions' memory a Model keeps:
// enough for the parallel prompts of calibrate and eval (a compressed
// session beside each full one), not an unbounded hoard of KV caches.
const pooledSessions = 8

// sessionPool is a Model's store of released sessions (Session.Release).
type sessionPool struct {
	mu   sync.Mutex
	free []*Session
}

// put moves s's memory into a pooled session and leaves s released (its
// caches nil), so a use after Release cannot reach memory a new session
// owns. A full pool drops the memory for the garbage collector.
func (p *sessionPool) put(s *Session) {
	kept := &Session{
		m: s.m, opts: s.opts, caches: s.caches, attn: s.attn, rope: s.rope, buf: s.buf,
		last: s.last, logits: s.logits, recentQ: s.recentQ, probBuf: s.probBuf, probRows: s.probRows,
	}
	*s = Session{m: s.m, opts: s.opts}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < pooledSessions {
		p.free = append(p.free, kept)
	}
}

// take returns a pooled session emptied and set to opts, or nil when none
// holds a cache of opts' dtype. The most recently released one is taken
// first: its memory is the likeliest to still be in cache.
func (p *sessionPool) take(opts SessionOptions) *Session {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.free) - 1; i >= 0; i-- {
		s := p.free[i]
		if s.caches[0].dtype != opts.CacheDType {
			continue
		}
		p.free = append(p.free[:i], p.free[i+1:]...)
		for _, c := range s.caches {
			c.truncate(0)
		}
		if s.opts.Rope != opts.Rope {
			s.rope = ropeTable{} // the table holds the other arithmetic's angles
		}
		for l := range s.recentQ {
			s.recentQ[l] = s.recentQ[l][:0]
		}
		s.opts = opts
		return s
	}
	return nil
}
