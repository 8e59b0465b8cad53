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
// residual is kept for Logits, and the last layer computes only the keys
// and values of the rows before its last LastLayerRows (see there).
func (s *Session) forward(ids []int, logits []float32) error {
	cfg, w := s.m.config, s.m.weights
	n, p0 := len(ids), s.Len()
	hidden, heads, kvHeads, headDim := cfg.HiddenSize, cfg.NumHeads, cfg.NumKVHeads, cfg.HeadDim
	inter, half := cfg.IntermediateSize, headDim/2
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
		// Rows r0..n-1 are computed in full; rows before r0 only as far as
		// their keys and values (r0 > 0 in the last layer alone).
		r0 := 0
		if l == len(w.Layers)-1 && logits == nil && !s.opts.FullLastLayer {
			r0 = n - LastLayerRows(cfg.KVGroup(), n, s.call.window)
		}
		t := b.from(r0, cfg) // the scratch of rows r0..n-1
		m := n - r0

		// Attention: RMSNorm, q/k/v projections (+ bias for Qwen2 and Llama
		// with attention_bias).
		rmsNorm(b.xb, x, lw.InputLayernorm, cfg.RMSNormEps)
		linear(t.q, t.xb, m, lw.QProj, pl.q) // [m, heads*headDim]
		linear(b.k, b.xb, n, lw.KProj, pl.k) // [n, kvHeads*headDim]
		linear(b.v, b.xb, n, lw.VProj, pl.v) // [n, kvHeads*headDim]
		if cfg.AttentionBias {
			addBias(t.q, lw.QBias)
			addBias(b.k, lw.KBias)
			addBias(b.v, lw.VBias)
		}
		// Rotary position embedding on queries and keys (rotate-half pairs).
		applyRope(t.q, m, heads, headDim, cos[r0*half:], sin[r0*half:])
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
		s.attn.run(t.att, t.q, m, c0+r0, cache, s.probs(l))
		s.m.outputProjection(l, t.proj, t.att, m) // [m, hidden]
		s.observe(l, t, m, c0+r0)
		addInto(t.x, t.proj)

		// MLP: RMSNorm, then down(silu(gate(x)) * up(x)).
		rmsNorm(t.xb, t.x, lw.PostAttentionLayernorm, cfg.RMSNormEps)
		linear(t.gate, t.xb, m, lw.GateProj, pl.gate) // [m, intermediate]
		linear(t.up, t.xb, m, lw.UpProj, pl.up)       // [m, intermediate]
		swiGLU(b.gate[r0*inter:n*inter], b.up[r0*inter:n*inter])
		linear(t.proj, t.gate, m, lw.DownProj, pl.down) // [m, hidden]
		addInto(t.x, t.proj)

		// Only computed rows are checked: a skipped row's residual is never
		// read. Its keys and values reach the cache unchecked, as every
		// row's always do (attention reads them, and a later row it gives
		// weight to turns non-finite and is reported here).
		if err := checkFinite(t.x, hidden, l, p0+r0); err != nil {
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

// LastLayerRows returns how many of a prefill chunk's n rows the last
// decoder layer computes in full when only the last row's logits are
// wanted (Prefill, not PrefillAll); of the others it computes only the
// keys and values, the one thing later positions read. group is the
// model's query heads per KV head (Config.KVGroup), window the queries the
// call's observer keeps (QueryWindower; 0 without an observer).
//
// Skipping rows changes no bit of what is read: the cache gets every row's
// keys and values as before, the observer's last queries of the chunk are
// among the rows computed, and the last row, whose residual is kept, gets
// the bits it gets among all n rows. The GEMM's sums do not depend on the
// other rows (at least kernels.MinGEMMRows keep the product off the GEMV
// path), RMSNorm, RoPE and the MLP's element-wise steps are per row, and a
// row's attention does not depend on the rows it is computed with
// (attention's itemBlock). The rows skipped are whole blocks of attnRows
// rows, counted back from the chunk's end.
func LastLayerRows(group, n, window int) int {
	need := max(kernels.MinGEMMRows, window)
	if n <= need {
		return n
	}
	block := attnBlock(group)
	return n - (n-need)/block*block
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
