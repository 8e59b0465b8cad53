package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Shape of the model. Every number here is part of the construction
// (circuit.go explains each); only the layer count is an option.
const (
	hiddenSize   = 512
	numHeads     = 4
	numKVHeads   = 2
	headDim      = 128
	halfDim      = headDim / 2 // RoPE rotates dims (i, i+halfDim) together
	intermediate = 64          // SwiGLU width; the MLP weights are all zero
	ropeTheta    = 1e10
	maxPositions = 4096
	rmsNormEps   = 1e-5
)

// The residual stream is cut into subspaces; a token's hidden state is
// always [constant | bos flag | token | previous tokens 1..3 | copy | scratch].
const (
	residConst   = 0                          // a large constant every embedding carries: positional queries and keys read it
	residBOS     = 1                          // 1 on the first token only: sink keys read it
	identityDim  = 64                         // width of a token identity vector
	residToken   = 2                          // [identityDim] identity of the current token (embedding)
	residPrev    = residToken + identityDim   // [3][identityDim] identities of tokens i-1, i-2, i-3 (written by layer 0)
	residCopy    = residPrev + 3*identityDim  // [identityDim] what retrieval heads copy; lm_head reads only this
	residScratch = residCopy + identityDim    // [identityDim] where distractor heads write
	residUsed    = residScratch + identityDim // dims from here on stay zero

	// The Streaming variant also writes residBag: the recency-weighted
	// average identity of the last tokens (layer 0's streaming head).
	residBag = residUsed // [identityDim]
)

// Token identities. The first matchDim coordinates (scaled by matchShare)
// are what retrieval heads compare; all identityDim coordinates are what
// lm_head reads. Both parts are unit vectors drawn at random, so distinct
// tokens are nearly orthogonal in each.
const (
	matchDim   = 24
	matchShare = 0.7071067811865476 // sqrt(1/2): half of the identity's squared norm is in the match part
)

// constValue is the constant component of every embedding. It dominates the
// residual norm, so RMSNorm divides every position by nearly the same rms
// and the attention logits built on it stay where they were planted.
const constValue = 16

// Head dims (query/key, before RoPE). Pair f is dims (f, f+halfDim) and
// rotates by position*omega_f, omega_f = theta^(-2f/headDim).
//   - pairs 0..positionPairs-1 (omega from 1 down to 0.08) carry positional
//     attention: a constant key and a query rotated back by Offset
//     positions, so q.k = sum_f a_f cos((j-i+Offset)*omega_f), highest at
//     j = i-Offset;
//   - pair sinkPair (omega 6e-5: at most 0.25 rad over 4096 positions)
//     carries the BOS flag for sink heads;
//   - pairs firstMatchPair..63 (slower still) carry the three matchDim-wide
//     blocks that retrieval heads compare, interleaved so each block rotates
//     alike; with rope_theta 1e10 they turn by < 0.2 rad over the whole
//     context, so matching ignores distance.
const (
	positionPairs  = 8
	sinkPair       = 27
	firstMatchPair = 28
)

// Streaming heads (the Streaming variant) attend to recent tokens through
// the otherwise unused middle pairs firstRecencyPair..sinkPair-1 (omega
// 0.056 down to 9e-5): a constant key, and an unrotated query, so
// q.k = recencyLogit * sum_f cos((i-j) omega_f) falls smoothly with the
// distance i-j, the fast pairs' revivals cancelled by the slow ones. With
// recencyLogit 0.6 about 84 % of the recency mass lies within the last 40
// tokens and 94 % within 150, at any context up to 4096. The sink part,
// streamingSink on the first token, takes about 40 % of the head's
// attention (TestStreamingHeads).
const (
	firstRecencyPair = positionPairs
	recencyLogit     = 0.6
	streamingSink    = 14.2
)

// The bag layer 0's streaming head writes is sharper: bagRecency puts
// most of its weight on the last 16 tokens (and drowns that head's sink). Span heads compare bags in the
// slow pairs of their own KV head (which holds no trigram keys), all
// identityDim coordinates, at spanLogit per unit of bag overlap.
// A position's bag resembles its neighbours' most, so span heads also
// subtract spanRecency times the recency kernel: they look for the same
// context far away, not for the tokens just before them.
const (
	bagRecency  = 1.0
	spanLogit   = 400
	spanRecency = 0.5
)

// bagCoord returns the head dim holding coordinate c of the bag in a span
// head's KV head: the dims of the slow pairs firstMatchPair..63, in order.
func bagCoord(c int) int {
	n := halfDim - firstMatchPair // slow pairs
	if c < n {
		return firstMatchPair + c
	}
	return halfDim + firstMatchPair + c - n
}

// positionWeights are the a_f of positional attention: the weights that
// maximise the smallest gap between the planted offset and any other
// position within maxPositions (0.228 of the peak; see
// TestPositionalMargin), found once by solving that max-min problem.
var positionWeights = [positionPairs]float64{0.40, 0.11, 0.10, 0.13, 0.07, 0.06, 0.06, 0.07}

// Attention logit scales (after the 1/sqrt(headDim) of attention).
const (
	positionLogit = 100 // peak logit of positional heads: others are >= 22.8 below
	sinkLogit     = 20  // logit of the first token for sink heads (others 0)
	matchLogit    = 25  // logit per matched token for retrieval heads (3 tokens: 75)
	scratchGain   = 0.5 // how strongly distractors write into scratch
	lmHeadScale   = 8   // lm_head gain: the copied token scores ~lmHeadScale/0.72 per retrieval layer (0.72: final rms)
)

// omega returns the RoPE angular frequency of pair f.
func omega(f int) float64 { return math.Pow(ropeTheta, -2*float64(f)/headDim) }

// matchCoord returns the head dim holding coordinate k of match block b
// (0: current token vs previous, 1: previous vs i-2, 2: i-2 vs i-3).
func matchCoord(b, k int) int {
	pair := firstMatchPair + 3*(k/2) + b
	return pair + (k%2)*halfDim
}

// tensor is one named weight, row-major float32.
type tensor struct {
	name  string
	shape []int
	data  []float32
}

// checkpoint is a built synthetic model in memory.
type checkpoint struct {
	config  Config
	heads   []Head
	vocab   *vocabulary
	tensors []tensor
}

// matrix is a row-major [rows, cols] float32 matrix under construction.
type matrix struct {
	rows, cols int
	data       []float32
}

func newMatrix(rows, cols int) *matrix {
	return &matrix{rows: rows, cols: cols, data: make([]float32, rows*cols)}
}

func (m *matrix) set(r, c int, v float64) { m.data[r*m.cols+c] = float32(v) }

// layerRMS is the expected rms of a (non-first) position's residual at the
// input of layer l: constValue^2 + the token identity, then three previous
// tokens from layer 0, then one copied identity per retrieval layer.
func layerRMS(l int) float64 {
	norm2 := constValue*constValue + 1.0
	if l >= 1 {
		norm2 += 3 + float64(l-1)
	}
	return math.Sqrt(norm2 / hiddenSize)
}

// bosRMS is the rms of the first position's residual at every layer: its
// value vectors are zero, so nothing is ever added to it.
func bosRMS() float64 { return math.Sqrt((constValue*constValue + 1.0) / hiddenSize) }

// identities draws the identity vector of every token id: [vocab][identityDim],
// zero for BOS (so attending to it adds nothing, as a sink should).
func identities(seed int64, vocab, bos int) [][]float64 {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6964656e74)) // "ident"
	unit := func(n int) []float64 {
		v := make([]float64, n)
		var s float64
		for i := range v {
			v[i] = rng.NormFloat64()
			s += v[i] * v[i]
		}
		for i := range v {
			v[i] /= math.Sqrt(s)
		}
		return v
	}
	rest := math.Sqrt(1 - matchShare*matchShare)
	ids := make([][]float64, vocab)
	for t := range ids {
		match, other := unit(matchDim), unit(identityDim-matchDim)
		e := make([]float64, identityDim)
		for k, v := range match {
			e[k] = matchShare * v
		}
		for k, v := range other {
			e[matchDim+k] = rest * v
		}
		if t == bos {
			clear(e)
		}
		ids[t] = e
	}
	return ids
}

// build constructs the whole checkpoint of o.
func build(o Options) (*checkpoint, error) {
	o = o.withDefaults()
	heads, err := Heads(o)
	if err != nil {
		return nil, err
	}
	vocab := buildVocabulary()
	V := vocab.size()
	cfg := Config{
		Architectures:         []string{"LlamaForCausalLM"},
		ModelType:             "llama",
		HiddenSize:            hiddenSize,
		IntermediateSize:      intermediate,
		NumHiddenLayers:       o.Layers,
		NumAttentionHeads:     numHeads,
		NumKeyValueHeads:      numKVHeads,
		HeadDim:               headDim,
		HiddenAct:             "silu",
		MaxPositionEmbeddings: maxPositions,
		RMSNormEps:            rmsNormEps,
		RopeTheta:             ropeTheta,
		VocabSize:             V,
		BOSTokenID:            vocab.bos,
		EOSTokenID:            vocab.eos,
		TorchDType:            "float32",
	}
	ident := identities(o.Seed, V, vocab.bos)
	ck := &checkpoint{config: cfg, heads: heads, vocab: vocab}
	add := func(name string, m *matrix) {
		ck.tensors = append(ck.tensors, tensor{name: name, shape: []int{m.rows, m.cols}, data: m.data})
	}
	ones := func() []float32 {
		v := make([]float32, hiddenSize)
		for i := range v {
			v[i] = 1
		}
		return v
	}

	// Embeddings: the constant, the BOS flag, the token identity.
	embed := newMatrix(V, hiddenSize)
	for t := 0; t < V; t++ {
		embed.set(t, residConst, constValue)
		if t == vocab.bos {
			embed.set(t, residBOS, 1)
		}
		for k, v := range ident[t] {
			embed.set(t, residToken+k, v)
		}
	}
	add("model.embed_tokens.weight", embed)

	for l := 0; l < o.Layers; l++ {
		q, k, v, out, err := attentionWeights(l, heads[l*numHeads:(l+1)*numHeads])
		if err != nil {
			return nil, err
		}
		p := fmt.Sprintf("model.layers.%d.", l)
		ck.tensors = append(ck.tensors, tensor{name: p + "input_layernorm.weight", shape: []int{hiddenSize}, data: ones()})
		add(p+"self_attn.q_proj.weight", q)
		add(p+"self_attn.k_proj.weight", k)
		add(p+"self_attn.v_proj.weight", v)
		add(p+"self_attn.o_proj.weight", out)
		ck.tensors = append(ck.tensors, tensor{name: p + "post_attention_layernorm.weight", shape: []int{hiddenSize}, data: ones()})
		add(p+"mlp.gate_proj.weight", newMatrix(intermediate, hiddenSize))
		add(p+"mlp.up_proj.weight", newMatrix(intermediate, hiddenSize))
		add(p+"mlp.down_proj.weight", newMatrix(hiddenSize, intermediate))
	}
	ck.tensors = append(ck.tensors, tensor{name: "model.norm.weight", shape: []int{hiddenSize}, data: ones()})

	// lm_head reads the copy subspace only: logit(t) = <identity(t), copy>.
	lmHead := newMatrix(V, hiddenSize)
	for t := 0; t < V; t++ {
		for k, v := range ident[t] {
			lmHead.set(t, residCopy+k, lmHeadScale*v)
		}
	}
	add("lm_head.weight", lmHead)
	return ck, nil
}

// attentionWeights builds q_proj [heads*headDim, hidden], k_proj and v_proj
// [kvHeads*headDim, hidden] and o_proj [hidden, heads*headDim] of layer l
// whose query heads play roles. Every KV head has the same keys and values
// (a layer's query heads differ only in what they ask), so any role can sit
// in any GQA group.
func attentionWeights(l int, roles []Head) (q, k, v, out *matrix, err error) {
	q = newMatrix(numHeads*headDim, hiddenSize)
	k = newMatrix(numKVHeads*headDim, hiddenSize)
	v = newMatrix(numKVHeads*headDim, hiddenSize)
	out = newMatrix(hiddenSize, numHeads*headDim)
	rms := layerRMS(l)
	constNorm := constValue / rms // the constant after RMSNorm
	scale := math.Sqrt(headDim)   // attention divides q.k by sqrt(headDim)

	streaming := slices.ContainsFunc(roles, func(h Head) bool { return h.Role == RoleStreaming })
	for g := 0; g < numKVHeads; g++ {
		base := g * headDim
		// Positional key: the constant, unrotated, in the first dim of each fast pair.
		for f := 0; f < positionPairs; f++ {
			k.set(base+f, residConst, 1/constNorm)
		}
		// Recency key (Streaming variant): the constant in the middle
		// pairs, cancelled on the first token by its BOS flag, so the
		// first token's logit is the sink part alone at any distance.
		if streaming {
			for f := firstRecencyPair; f < sinkPair; f++ {
				k.set(base+f, residConst, 1/constNorm)
				k.set(base+f, residBOS, -constValue/constNorm)
			}
		}
		// Sink key: the BOS flag (1 after RMSNorm at the first position).
		k.set(base+sinkPair, residBOS, bosRMS())
		spanGroup := slices.ContainsFunc(roles, func(h Head) bool { return h.Role == RoleSpan && h.KVHead == g })
		if spanGroup {
			// Bag keys: the bag of the position, in the slow pairs.
			for c := 0; c < identityDim; c++ {
				k.set(base+bagCoord(c), residBag+c, rms)
			}
		}
		// Match keys: the match part of tokens i-1, i-2, i-3, as unit vectors.
		if l >= 1 && !spanGroup {
			for b := 0; b < 3; b++ {
				for c := 0; c < matchDim; c++ {
					k.set(base+matchCoord(b, c), residPrev+b*identityDim+c, rms/matchShare)
				}
			}
		}
		// Values: the current token's identity.
		for c := 0; c < identityDim; c++ {
			v.set(base+c, residToken+c, rms)
		}
	}

	for _, h := range roles {
		base := h.Head * headDim
		target, gain := residScratch, scratchGain
		switch h.Role {
		case RolePreviousToken, RoleLocal:
			// Rotate the query back by Offset positions in every fast pair:
			// q.k = sum_f a_f cos((j-i+Offset) omega_f) peaks at j = i-Offset.
			for f := 0; f < positionPairs; f++ {
				rho := positionLogit * positionWeights[f] * scale / constNorm
				angle := float64(h.Offset) * omega(f)
				q.set(base+f, residConst, rho*math.Cos(angle))
				q.set(base+f+halfDim, residConst, -rho*math.Sin(angle))
			}
			if h.Role == RolePreviousToken && l == 0 {
				target, gain = residPrev+(h.Offset-1)*identityDim, 1
			}
		case RoleSink:
			q.set(base+sinkPair, residConst, sinkLogit*scale/constNorm)
		case RoleStreaming:
			q.set(base+sinkPair, residConst, streamingSink*scale/constNorm)
			recency := recencyLogit
			if l == 0 {
				// Layer 0's streaming head writes the bag span heads read.
				recency, target, gain = bagRecency, residBag, 1
			}
			for f := firstRecencyPair; f < sinkPair; f++ {
				q.set(base+f, residConst, recency*scale/constNorm)
			}
		case RoleSpan:
			for c := 0; c < identityDim; c++ {
				q.set(base+bagCoord(c), residBag+c, spanLogit*scale*rms)
			}
			for f := firstRecencyPair; f < sinkPair; f++ {
				q.set(base+f, residConst, -spanRecency*scale/constNorm)
			}
		case RoleRetrieval:
			if l == 0 {
				return nil, nil, nil, nil, fmt.Errorf("synth: layer 0 cannot hold a retrieval head")
			}
			// Block b compares token i-b (query) with token j-1-b (key).
			for b := 0; b < 3; b++ {
				src := residToken
				if b > 0 {
					src = residPrev + (b-1)*identityDim
				}
				for c := 0; c < matchDim; c++ {
					q.set(base+matchCoord(b, c), src+c, matchLogit*scale*rms/matchShare)
				}
			}
			target, gain = residCopy, 1
		default:
			return nil, nil, nil, nil, fmt.Errorf("synth: layer %d head %d: unknown role %q", l, h.Head, h.Role)
		}
		for c := 0; c < identityDim; c++ {
			out.set(target+c, base+c, gain)
		}
	}
	return q, k, v, out, nil
}
