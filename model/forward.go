package model

import (
	"github.com/compresskv/compresskv/model/kernels"
)

// forward runs the decoder over one chunk of tokens, ids, at positions
// p0 = s.Len() .. p0+n-1, in the order of transformers' LlamaForCausalLM:
// embedding, then per layer pre-norm attention and a pre-norm SwiGLU MLP,
// each added to the residual stream, then the final norm and lm_head. The
// chunk's keys and values are appended to the KV cache. When logits is not
// nil it receives [n, vocab] logits of every row; otherwise the last row's
// residual is kept for Logits.
func (s *Session) forward(ids []int, logits []float32) error {
	cfg, w := s.m.config, s.m.weights
	n, p0 := len(ids), s.Len()
	hidden, heads, kvHeads, headDim := cfg.HiddenSize, cfg.NumHeads, cfg.NumKVHeads, cfg.HeadDim
	b := s.scratch(n)

	// Token embedding: row ids[t] of embed_tokens.
	x := b.x // [n, hidden] residual stream
	for t, id := range ids {
		w.EmbedTokens.Row(x[t*hidden:(t+1)*hidden], id)
	}
	// RoPE angles of this chunk's positions, shared by every layer. The
	// sequence length that dynamic NTK scaling reads is the end of the
	// whole Prefill call, not of this chunk, so chunking changes nothing.
	seqLen := max(s.call.ropeLen, p0+n)
	cos, sin := s.m.ropes[s.opts.Rope].angles(&s.rope, b.angles, p0, n, seqLen) // [n, headDim/2]

	for l := range w.Layers {
		lw, pl := &w.Layers[l], s.m.layerPacked(l)
		cache := s.caches[l]

		// Attention: RMSNorm, q/k/v projections (+ bias for Qwen2 and Llama
		// with attention_bias).
		rmsNorm(b.xb, x, lw.InputLayernorm, cfg.RMSNormEps)
		linear(b.q, b.xb, n, lw.QProj, pl.q) // [n, heads*headDim]
		linear(b.k, b.xb, n, lw.KProj, pl.k) // [n, kvHeads*headDim]
		linear(b.v, b.xb, n, lw.VProj, pl.v) // [n, kvHeads*headDim]
		if cfg.AttentionBias {
			addBias(b.q, lw.QBias)
			addBias(b.k, lw.KBias)
			addBias(b.v, lw.VBias)
		}
		// Rotary position embedding on queries and keys (rotate-half pairs).
		applyRope(b.q, n, heads, headDim, cos, sin)
		applyRope(b.k, n, kvHeads, headDim, cos, sin)
		// The chunk's keys and values join the cache; attention reads them
		// back from it, so every chunking sees identically stored keys. The
		// first chunk of a call makes room for the whole call.
		cache.reserve(seqLen - p0)
		cache.append(b.k, b.v, n)
		// Causal (optionally sliding-window) grouped-query attention:
		// query head h reads KV head h / (heads/kvHeads), scale 1/sqrt(headDim).
		// A compressed cache holds fewer rows than positions: attention
		// indexes it from c0, RoPE above used the true positions.
		c0 := p0 - s.dropped(l)
		s.attn.run(b.att, b.q, n, c0, cache, s.probs(l))
		s.m.outputProjection(l, b.proj, b.att, n) // [n, hidden]
		s.observe(l, b, n, c0)
		addInto(x, b.proj)

		// MLP: RMSNorm, then down(silu(gate(x)) * up(x)).
		rmsNorm(b.xb, x, lw.PostAttentionLayernorm, cfg.RMSNormEps)
		linear(b.gate, b.xb, n, lw.GateProj, pl.gate) // [n, intermediate]
		linear(b.up, b.xb, n, lw.UpProj, pl.up)       // [n, intermediate]
		swiGLU(b.gate, b.up)
		linear(b.proj, b.gate, n, lw.DownProj, pl.down) // [n, hidden]
		addInto(x, b.proj)

		if err := checkFinite(x, hidden, l, p0); err != nil {
			return err
		}
	}

	// Final norm and lm_head (embed_tokens when tied): all rows on request,
	// else only the last row, lazily in Logits.
	copy(s.last, x[(n-1)*hidden:n*hidden])
	s.logitsFresh = false
	if logits != nil {
		rmsNorm(b.xb, x, w.Norm, cfg.RMSNormEps)
		kernels.MatMul(logits, b.xb, n, w.LMHead) // [n, vocab]
		copy(s.logits, logits[(n-1)*cfg.VocabSize:])
		s.logitsFresh = true
	}
	return nil
}

// outputProjection writes layer l's o_proj of the attention output att [n,
// heads*headDim] into out [n, hidden], with o_proj's bias when the layer has
// one (Llama with attention_bias).
func (m *Model) outputProjection(l int, out, att []float32, n int) {
	lw := &m.weights.Layers[l]
	linear(out, att, n, lw.OProj, m.layerPacked(l).o)
	if lw.OBias != nil {
		addBias(out, lw.OBias)
	}
}
