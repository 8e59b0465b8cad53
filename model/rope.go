package model

import "math"

// rope holds the rotary position embedding of a model: the inverse
// frequencies inv_freq[i] = 1 / theta^(2i/d) for the d/2 rotated pairs, with
// the config's rope scaling applied.
type rope struct {
	headDim int
	theta   float64
	maxPos  int          // max_position_embeddings (dynamic NTK threshold)
	scaling *RopeScaling // nil: plain RoPE
	invFreq []float64    // [headDim/2] for sequences up to maxPos
}

func newRope(cfg *Config) *rope {
	r := &rope{headDim: cfg.HeadDim, theta: cfg.RopeTheta, maxPos: cfg.MaxPositionEmbeddings, scaling: cfg.RopeScaling}
	r.invFreq = r.frequencies(r.theta)
	return r
}

// frequencies returns inv_freq for base theta with linear or llama3 scaling
// applied (dynamic scaling changes the base instead; see invFreqAt).
func (r *rope) frequencies(base float64) []float64 {
	half := r.headDim / 2
	inv := make([]float64, half)
	for i := range inv {
		inv[i] = 1 / math.Pow(base, float64(2*i)/float64(r.headDim))
	}
	s := r.scaling
	switch {
	case s == nil:
	case s.Type == "linear":
		// Positions divided by factor == frequencies divided by factor.
		for i := range inv {
			inv[i] /= s.Factor
		}
	case s.Type == "llama3":
		// Long wavelengths are slowed by factor, short ones kept, and the
		// band between interpolated smoothly (transformers'
		// _compute_llama3_parameters).
		old := float64(s.OriginalMaxPositionEmbeddings)
		lowWavelen := old / s.LowFreqFactor
		highWavelen := old / s.HighFreqFactor
		for i, f := range inv {
			wavelen := 2 * math.Pi / f
			switch {
			case wavelen < highWavelen:
			case wavelen > lowWavelen:
				inv[i] = f / s.Factor
			default:
				smooth := (old/wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor)
				inv[i] = (1-smooth)*f/s.Factor + smooth*f
			}
		}
	}
	return inv
}

// invFreqAt returns the inverse frequencies for a forward call whose last
// position is seqLen-1. Only dynamic NTK scaling depends on it: as in
// transformers, once the sequence outgrows max_position_embeddings the base
// becomes theta * (factor*seqLen/maxPos - (factor-1))^(d/(d-2)). Keys already
// in the cache keep the rotation they were given when computed, exactly as
// with transformers' KV cache; so beyond max_position_embeddings a chunked
// prefill differs slightly from a one-shot prefill.
func (r *rope) invFreqAt(seqLen int) []float64 {
	s := r.scaling
	if s == nil || s.Type != "dynamic" || seqLen <= r.maxPos {
		return r.invFreq
	}
	d := float64(r.headDim)
	base := r.theta * math.Pow(s.Factor*float64(seqLen)/float64(r.maxPos)-(s.Factor-1), d/(d-2))
	return r.frequencies(base)
}

// angles fills cos and sin [n, headDim/2] with the rotation of positions
// p0 .. p0+n-1 (angle = position * inv_freq, computed in float64).
func (r *rope) angles(cos, sin []float32, p0, n int) {
	inv := r.invFreqAt(p0 + n)
	half := len(inv)
	for t := 0; t < n; t++ {
		pos := float64(p0 + t)
		for i, f := range inv {
			s, c := math.Sincos(pos * f)
			cos[t*half+i], sin[t*half+i] = float32(c), float32(s)
		}
	}
}

// applyRope rotates x [n, heads*headDim] in place with the rotate-half
// layout of Hugging Face checkpoints: element i pairs with i + headDim/2,
// (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin). cos and sin are
// [n, headDim/2].
func applyRope(x []float32, n, heads, headDim int, cos, sin []float32) {
	half := headDim / 2
	for t := 0; t < n; t++ {
		c, s := cos[t*half:(t+1)*half], sin[t*half:(t+1)*half]
		for h := 0; h < heads; h++ {
			v := x[(t*heads+h)*headDim : (t*heads+h+1)*headDim]
			for i := 0; i < half; i++ {
				x1, x2 := v[i], v[i+half]
				v[i] = x1*c[i] - x2*s[i]
				v[i+half] = x2*c[i] + x1*s[i]
			}
		}
	}
}
