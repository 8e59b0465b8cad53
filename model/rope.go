package model

import (
	"fmt"
	"math"
)

// RopeArithmetic selects how the rotary position embedding computes its
// frequencies and angles. The zero value is RopeHF.
type RopeArithmetic uint8

const (
	// RopeHF reproduces Hugging Face transformers' float32 arithmetic:
	// inv_freq computed step by step in float32 as its rope initialisation
	// functions do and stored as float32, angle = float32(position) x
	// inv_freq rounded to float32, then cos and sin of that angle. The
	// default: models were trained, and are run, with these angles.
	RopeHF RopeArithmetic = iota
	// RopeExact computes inv_freq and every angle in float64 and rounds cos
	// and sin to float32 once: the mathematically exact rotation, which
	// drifts from RopeHF as positions grow (float32 angles lose about
	// position x 2^-24 radians).
	RopeExact
)

var ropeArithmeticNames = [...]string{RopeHF: "hf", RopeExact: "exact"}

// String returns the name ParseRopeArithmetic reads: "hf" or "exact".
func (a RopeArithmetic) String() string {
	if int(a) < len(ropeArithmeticNames) {
		return ropeArithmeticNames[a]
	}
	return fmt.Sprintf("RopeArithmetic(%d)", uint8(a))
}

// ParseRopeArithmetic reads "hf" or "exact".
func ParseRopeArithmetic(s string) (RopeArithmetic, error) {
	for a, name := range ropeArithmeticNames {
		if s == name {
			return RopeArithmetic(a), nil
		}
	}
	return 0, fmt.Errorf("rope arithmetic %q: want hf (Hugging Face's float32 angles, the default) or exact (float64)", s)
}

// rope holds the rotary position embedding of a model: the inverse
// frequencies inv_freq[i] = 1 / theta^(2i/d) for the d/2 rotated pairs, with
// the config's rope scaling applied, in the model's RopeArithmetic.
type rope struct {
	headDim    int
	theta      float64
	maxPos     int          // max_position_embeddings (dynamic NTK threshold)
	scaling    *RopeScaling // nil: plain RoPE
	arithmetic RopeArithmetic
	invFreq    []float64 // [headDim/2] for sequences up to maxPos; float32 values under RopeHF
}

func newRope(cfg *Config, arithmetic RopeArithmetic) *rope {
	r := &rope{headDim: cfg.HeadDim, theta: cfg.RopeTheta, maxPos: cfg.MaxPositionEmbeddings, scaling: cfg.RopeScaling, arithmetic: arithmetic}
	r.invFreq = r.frequencies(r.maxPos)
	return r
}

// dynamic reports whether the rope uses dynamic NTK scaling.
func (r *rope) dynamic() bool { return r.scaling != nil && r.scaling.Type == "dynamic" }

// fixed reports whether a forward call over a sequence of seqLen tokens
// uses the frequencies invFreq (all but dynamic NTK past
// max_position_embeddings).
func (r *rope) fixed(seqLen int) bool { return !r.dynamic() || seqLen <= r.maxPos }

// invFreqAt returns the inverse frequencies of a forward call over a
// sequence of seqLen tokens (positions 0 .. seqLen-1, the last ones fed by
// the call). Only dynamic NTK scaling depends on it: as in transformers'
// dynamic_rope_update, once the sequence outgrows max_position_embeddings
// every position of the call is rotated with the base
// theta * (factor*seqLen/maxPos - (factor-1))^(d/(d-2)), while keys already
// in the cache keep the rotation of the call that computed them.
func (r *rope) invFreqAt(seqLen int) []float64 {
	if r.fixed(seqLen) {
		return r.invFreq
	}
	return r.frequencies(seqLen)
}

// frequencies computes inv_freq for a sequence of seqLen tokens in the
// rope's arithmetic.
func (r *rope) frequencies(seqLen int) []float64 {
	if r.arithmetic == RopeExact {
		return r.exactFrequencies(seqLen)
	}
	f32 := r.hfFrequencies(seqLen)
	inv := make([]float64, len(f32))
	for i, f := range f32 {
		inv[i] = float64(f)
	}
	return inv
}

// exactFrequencies is inv_freq in float64 with linear, dynamic or llama3
// scaling applied.
func (r *rope) exactFrequencies(seqLen int) []float64 {
	d, s := float64(r.headDim), r.scaling
	base := r.theta
	if !r.fixed(seqLen) {
		base *= math.Pow(s.Factor*float64(seqLen)/float64(r.maxPos)-(s.Factor-1), d/(d-2))
	}
	inv := make([]float64, r.headDim/2)
	for i := range inv {
		inv[i] = 1 / math.Pow(base, float64(2*i)/d)
	}
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

// hfFrequencies is inv_freq as transformers computes it (the rope
// initialisation functions of modeling_rope_utils.py on CPU), one float32
// rounding per tensor operation: the exponent float32(2i)/float32(d), the
// power, the reciprocal (torch's 1.0/t is t.reciprocal()*1.0), then the
// scaling. Python scalars meeting a float32 tensor are rounded to float32
// first; a float32 0-d tensor raised to a Python float is computed in
// double and rounded (torch's scalar-exponent pow). Powers are correctly
// rounded here; torch's vectorised powf is within one ulp of that, so an
// inverse frequency may differ from transformers' by one float32 ulp.
// Explicit float32 conversions keep every product rounded before it is
// added (no fused multiply-add on any architecture).
func (r *rope) hfFrequencies(seqLen int) []float32 {
	d, s := r.headDim, r.scaling
	var base float32
	switch {
	case !r.fixed(seqLen):
		// dynamic_rope_update past max_position_embeddings: seq_len is an
		// int64 tensor, so the whole base is float32 tensor arithmetic.
		t := float32(float32(s.Factor)*float32(seqLen)) / float32(r.maxPos)
		t -= float32(s.Factor - 1)
		base = float32(r.theta) * float32(math.Pow(float64(t), float64(d)/float64(d-2)))
	case r.dynamic():
		// At init seq_len is max_position_embeddings, a Python int: the
		// base is Python (double) arithmetic, then rounded to float32.
		m := float64(r.maxPos)
		base = float32(r.theta * math.Pow(s.Factor*m/m-(s.Factor-1), float64(d)/float64(d-2)))
	default:
		base = float32(r.theta)
	}
	inv := make([]float32, d/2)
	for i := range inv {
		exponent := float32(2*i) / float32(d)
		inv[i] = 1 / float32(math.Pow(float64(base), float64(exponent)))
	}
	switch {
	case s == nil:
	case s.Type == "linear":
		factor := float32(s.Factor)
		for i := range inv {
			inv[i] /= factor
		}
	case s.Type == "llama3":
		// _compute_llama3_parameters in float32: wavelen =
		// reciprocal(inv_freq) * 2pi, compared with the Python wavelength
		// bounds rounded to float32, and the smooth band interpolated.
		factor := float32(s.Factor)
		low := float32(s.LowFreqFactor)
		old := float32(s.OriginalMaxPositionEmbeddings)
		band := float32(s.HighFreqFactor - s.LowFreqFactor)
		lowWavelen := float32(float64(s.OriginalMaxPositionEmbeddings) / s.LowFreqFactor)
		highWavelen := float32(float64(s.OriginalMaxPositionEmbeddings) / s.HighFreqFactor)
		twoPi := float32(2 * math.Pi)
		for i, f := range inv {
			wavelen := float32(1/f) * twoPi
			switch {
			case wavelen < highWavelen:
			case wavelen > lowWavelen:
				inv[i] = f / factor
			default:
				smooth := (float32(float32(1/wavelen)*old) - low) / band
				inv[i] = float32(float32((1-smooth)*f)/factor) + float32(smooth*f)
			}
		}
	}
	return inv
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

// angles returns cos and sin [n, headDim/2] of positions p0 .. p0+n-1 of a
// forward call over a sequence of seqLen >= p0+n tokens, as views of
// table, which it extends as needed. Under dynamic NTK scaling past
// max_position_embeddings the frequencies depend on seqLen, so the angles
// are computed into buf instead.
func (r *rope) angles(table *ropeTable, buf []float32, p0, n, seqLen int) (cos, sin []float32) {
	half := r.headDim / 2
	if !r.fixed(seqLen) {
		cos, sin = buf[:n*half], buf[n*half:2*n*half]
		r.fill(cos, sin, r.invFreqAt(seqLen), p0, n)
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

// fill writes cos and sin [n, len(inv)] of positions p0 .. p0+n-1. Under
// RopeHF the angle is float32(position) * float32(inv_freq) rounded to
// float32 (transformers' inv_freq @ position_ids in float32, one product
// per element), then cos and sin of it correctly rounded (torch's float32
// cos and sin are within one ulp of that); under RopeExact the angle is the
// float64 product.
func (r *rope) fill(cos, sin []float32, inv []float64, p0, n int) {
	half := len(inv)
	for t := 0; t < n; t++ {
		for i, f := range inv {
			angle := float64(p0+t) * f
			if r.arithmetic == RopeHF {
				angle = float64(float32(p0+t) * float32(f))
			}
			s, c := math.Sincos(angle)
			cos[t*half+i], sin[t*half+i] = float32(c), float32(s)
		}
	}
}

// applyRope rotates x [n, heads*headDim] in place with the rotate-half
// layout of Hugging Face checkpoints: element i pairs with i + headDim/2,
// (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin), each product rounded to
// float32 before the sum as in transformers' q*cos + rotate_half(q)*sin.
// cos and sin are [n, headDim/2].
func applyRope(x []float32, n, heads, headDim int, cos, sin []float32) {
	inBlocks(n, heads*headDim, func(lo, hi int) { ropeRows(x, lo, hi, heads, headDim, cos, sin) })
}

// ropeRows is applyRope on the tokens [lo, hi).
func ropeRows(x []float32, lo, hi, heads, headDim int, cos, sin []float32) {
	half := headDim / 2
	for t := lo; t < hi; t++ {
		c, s := cos[t*half:(t+1)*half], sin[t*half:(t+1)*half]
		for h := 0; h < heads; h++ {
			v := x[(t*heads+h)*headDim : (t*heads+h+1)*headDim]
			for i := 0; i < half; i++ {
				x1, x2 := v[i], v[i+half]
				v[i] = float32(x1*c[i]) - float32(x2*s[i])
				v[i+half] = float32(x2*c[i]) + float32(x1*s[i])
			}
		}
	}
}
