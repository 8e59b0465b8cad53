package modeltest

import (
	"math"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
)

// Reference is an obviously-correct float64 forward pass of a model, for
// tests: it runs a whole sequence at once, builds the full [tokens, tokens]
// attention matrix of every head, and records every intermediate the fast
// forward pass exposes. It is written from the transformers formulas
// independently of package model (only Config and Weights are shared).
type Reference struct {
	Config *model.Config
	w      *model.Weights
}

// NewReference returns the reference forward pass of cfg with weights w
// (a model's Config() copy, or a parsed config).
func NewReference(cfg model.Config, w *model.Weights) *Reference {
	return &Reference{Config: &cfg, w: w}
}

// Trace is what Reference.Run computed, all in float64.
type Trace struct {
	IDs       []int
	Logits    [][]float64     // [pos][vocab]
	Queries   [][][]float64   // [layer][pos][heads*headDim] post-RoPE
	Keys      [][][]float64   // [layer][pos][kvHeads*headDim] post-RoPE
	Values    [][][]float64   // [layer][pos][kvHeads*headDim]
	Probs     [][][][]float64 // [layer][head][query pos][key pos] post-softmax
	Output    [][][]float64   // [layer][pos][heads*headDim] attention output before o_proj
	Projected [][][]float64   // [layer][pos][hidden] after o_proj
}

func row64(m kernels.Matrix, r int) []float64 {
	tmp := make([]float32, m.Cols)
	m.Row(tmp, r)
	out := make([]float64, m.Cols)
	for i, v := range tmp {
		out[i] = float64(v)
	}
	return out
}

// matVec returns W·x for W [rows, cols] and x [cols], plus bias if given.
func matVec(m kernels.Matrix, x []float64, bias []float32) []float64 {
	out := make([]float64, m.Rows)
	for r := range out {
		w := row64(m, r)
		var s float64
		for i, v := range x {
			s += w[i] * v
		}
		if bias != nil {
			s += float64(bias[r])
		}
		out[r] = s
	}
	return out
}

func rmsNorm64(x []float64, w []float32, eps float64) []float64 {
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	scale := 1 / math.Sqrt(ss/float64(len(x))+eps)
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(w[i]) * v * scale
	}
	return out
}

// InvFreq returns RoPE's inverse frequencies for a sequence of seqLen
// tokens, straight from transformers' rope initialisation functions
// (default, linear, dynamic, llama3).
func InvFreq(cfg *model.Config, seqLen int) []float64 {
	d := cfg.HeadDim
	base := cfg.RopeTheta
	rs := cfg.RopeScaling
	if rs != nil && rs.Type == "dynamic" {
		seq := math.Max(float64(seqLen), float64(cfg.MaxPositionEmbeddings))
		base *= math.Pow(rs.Factor*seq/float64(cfg.MaxPositionEmbeddings)-(rs.Factor-1), float64(d)/float64(d-2))
	}
	inv := make([]float64, d/2)
	for i := range inv {
		inv[i] = 1 / math.Pow(base, float64(2*i)/float64(d))
		if rs == nil {
			continue
		}
		switch rs.Type {
		case "linear":
			inv[i] /= rs.Factor
		case "llama3":
			old := float64(rs.OriginalMaxPositionEmbeddings)
			wavelen := 2 * math.Pi / inv[i]
			if wavelen > old/rs.LowFreqFactor {
				inv[i] /= rs.Factor
			} else if wavelen >= old/rs.HighFreqFactor {
				smooth := (old/wavelen - rs.LowFreqFactor) / (rs.HighFreqFactor - rs.LowFreqFactor)
				inv[i] = (1-smooth)*inv[i]/rs.Factor + smooth*inv[i]
			}
		}
	}
	return inv
}

// rotate applies rotate-half RoPE at position pos to every head of x.
func rotate(x []float64, heads, d, pos int, inv []float64) {
	half := d / 2
	for h := 0; h < heads; h++ {
		v := x[h*d : (h+1)*d]
		for i := 0; i < half; i++ {
			c, s := math.Cos(float64(pos)*inv[i]), math.Sin(float64(pos)*inv[i])
			x1, x2 := v[i], v[i+half]
			v[i] = x1*c - x2*s
			v[i+half] = x2*c + x1*s
		}
	}
}

// Run computes the whole sequence ids at positions 0 .. len(ids)-1 in one
// pass (dynamic RoPE uses seqLen = len(ids)).
func (r *Reference) Run(ids []int) *Trace {
	cfg, w := r.Config, r.w
	n, heads, kvHeads, d := len(ids), cfg.NumHeads, cfg.NumKVHeads, cfg.HeadDim
	group := heads / kvHeads
	inv := InvFreq(cfg, n)
	tr := &Trace{IDs: append([]int(nil), ids...)}
	x := make([][]float64, n) // [pos][hidden] residual
	for t, id := range ids {
		x[t] = row64(w.EmbedTokens, id)
	}
	for _, lw := range w.Layers {
		q := make([][]float64, n)
		k := make([][]float64, n)
		v := make([][]float64, n)
		for t := range x {
			xn := rmsNorm64(x[t], lw.InputLayernorm, cfg.RMSNormEps)
			q[t] = matVec(lw.QProj, xn, lw.QBias)
			k[t] = matVec(lw.KProj, xn, lw.KBias)
			v[t] = matVec(lw.VProj, xn, lw.VBias)
			rotate(q[t], heads, d, t, inv)
			rotate(k[t], kvHeads, d, t, inv)
		}
		probs := make([][][]float64, heads)
		out := make([][]float64, n)
		for t := range out {
			out[t] = make([]float64, heads*d)
		}
		for h := 0; h < heads; h++ {
			g := h / group
			probs[h] = make([][]float64, n)
			for i := 0; i < n; i++ {
				// Full score row with the causal / sliding-window mask as -Inf.
				row := make([]float64, n)
				maxv := math.Inf(-1)
				for j := 0; j < n; j++ {
					if j > i || (cfg.SlidingWindow > 0 && i-j >= cfg.SlidingWindow) {
						row[j] = math.Inf(-1)
						continue
					}
					var s float64
					for e := 0; e < d; e++ {
						s += q[i][h*d+e] * k[j][g*d+e]
					}
					row[j] = s / math.Sqrt(float64(d))
					maxv = math.Max(maxv, row[j])
				}
				var sum float64
				for j := range row {
					row[j] = math.Exp(row[j] - maxv)
					sum += row[j]
				}
				for j := range row {
					row[j] /= sum
					for e := 0; e < d; e++ {
						out[i][h*d+e] += row[j] * v[j][g*d+e]
					}
				}
				probs[h][i] = row
			}
		}
		proj := make([][]float64, n)
		for t := range x {
			proj[t] = matVec(lw.OProj, out[t], lw.OBias)
			for e := range x[t] {
				x[t][e] += proj[t][e]
			}
			xn := rmsNorm64(x[t], lw.PostAttentionLayernorm, cfg.RMSNormEps)
			gate := matVec(lw.GateProj, xn, nil)
			up := matVec(lw.UpProj, xn, nil)
			for e := range gate {
				gate[e] = gate[e] / (1 + math.Exp(-gate[e])) * up[e]
			}
			down := matVec(lw.DownProj, gate, nil)
			for e := range x[t] {
				x[t][e] += down[e]
			}
		}
		tr.Queries = append(tr.Queries, q)
		tr.Keys = append(tr.Keys, k)
		tr.Values = append(tr.Values, v)
		tr.Probs = append(tr.Probs, probs)
		tr.Output = append(tr.Output, out)
		tr.Projected = append(tr.Projected, proj)
	}
	for t := range x {
		tr.Logits = append(tr.Logits, matVec(w.LMHead, rmsNorm64(x[t], w.Norm, cfg.RMSNormEps), nil))
	}
	return tr
}

// AttendSubset recomputes, from a trace, the attention of the query at pos
// in layer over only the key positions in keep (ignoring any a sliding
// window hides): the output before o_proj [heads*headDim] and after
// [hidden].
func (r *Reference) AttendSubset(tr *Trace, layer, pos int, keep []int) (pre, post []float64) {
	cfg := r.Config
	heads, d := cfg.NumHeads, cfg.HeadDim
	group := heads / cfg.NumKVHeads
	pre = make([]float64, heads*d)
	var vis []int
	for _, j := range keep {
		if j <= pos && (cfg.SlidingWindow == 0 || pos-j < cfg.SlidingWindow) {
			vis = append(vis, j)
		}
	}
	q, k, v := tr.Queries[layer][pos], tr.Keys[layer], tr.Values[layer]
	for h := 0; h < heads && len(vis) > 0; h++ {
		g := h / group
		scores := make([]float64, len(vis))
		maxv := math.Inf(-1)
		for i, j := range vis {
			for e := 0; e < d; e++ {
				scores[i] += q[h*d+e] * k[j][g*d+e]
			}
			scores[i] /= math.Sqrt(float64(d))
			maxv = math.Max(maxv, scores[i])
		}
		var sum float64
		for i := range scores {
			scores[i] = math.Exp(scores[i] - maxv)
			sum += scores[i]
		}
		for i, j := range vis {
			for e := 0; e < d; e++ {
				pre[h*d+e] += scores[i] / sum * v[j][g*d+e]
			}
		}
	}
	return pre, matVec(r.w.Layers[layer].OProj, pre, r.w.Layers[layer].OBias)
}
