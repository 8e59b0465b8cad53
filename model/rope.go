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
	if r.fixed(seqLen) {
		return r.invFreq
	}
	s := r.scaling
	d := float64(r.headDim)
	base := r.theta * math.Pow(s.Factor*float64(seqLen)/float64(r.maxPos)-(s.Factor-1), d/(d-2))
	return r.frequencies(base)
}

// ropeTable holds cos and sin [positions, headDim/2] of positions
// 0 .. positions-1 at a rope's fixed frequencies, so a forward call reads
// its angles instead of calling math.Sincos for every (position, pair).
// Each Session keeps its own (a Model's Sessions run concurrently); it
// grows with the longest sequence seen.
type ropeTable struct {
	positions int
	cos, sin  []float32
}

// fixed reports whether a forward call whose last position is seqLen-1
// uses the frequencies invFreq (all but dynamic NTK past max_position_embeddings).
func (r *rope) fixed(seqLen int) bool {
	s := r.scaling
	return s == nil || s.Type != "dynamic" || seqLen <= r.maxPos
}

// angles returns cos and sin [n, headDim/2] of positions p0 .. p0+n-1
// (angle = position * inv_freq, computed in float64 and rounded once), as
// views of table, which it extends as needed. Under dynamic NTK scaling
// past max_position_embeddings the frequencies change with every call, so
// the angles are computed into buf instead.
func (r *rope) angles(table *ropeTable, buf []float32, p0, n int) (cos, sin []float32) {
	half := r.headDim / 2
	if !r.fixed(p0 + n) {
		cos, sin = buf[:n*half], buf[n*half:2*n*half]
		r.fill(cos, sin, r.invFreqAt(p0+n), p0, n)
		return cos, sin
	}
	if end := p0 + n; end > table.positions {
		// Doubling, but not past max_position_embeddings unless asked
		// (under dynamic scaling later positions never use invFreq).
		grown := max(end, min(2*table.positions, r.maxPos))
		from := table.positions
		table.cos = append(table.cos, make([]float32, (grown-from)*half)...)
		table.sin = append(table.sin, make([]float32, (grown-from)*half)...)
		r.fill(table.cos[from*half:], table.sin[from*half:], r.invFreq, from, grown-from)
		table.positions = grown
	}
	return table.cos[p0*half : (p0+n)*half], table.sin[p0*half : (p0+n)*half]
}

// fill writes cos and sin [n, len(inv)] of positions p0 .. p0+n-1.
func (r *rope) fill(cos, sin []float32, inv []float64, p0, n int) {
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
