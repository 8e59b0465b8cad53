package model

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/compresskv/compresskv/internal/sumcache"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/safetensors"
)

// Weights are the tensors of a checkpoint, named as in Hugging Face
// checkpoints. Matrices stay in their stored dtype; the small vectors (norm
// weights, biases) are float32.
type Weights struct {
	EmbedTokens kernels.Matrix // model.embed_tokens.weight [vocab, hidden]
	Layers      []LayerWeights // model.layers.{i}
	Norm        []float32      // model.norm.weight [hidden]
	LMHead      kernels.Matrix // lm_head.weight [vocab, hidden]; EmbedTokens when tied
}

// LayerWeights are the tensors of one decoder layer (model.layers.{i}.*).
type LayerWeights struct {
	InputLayernorm         []float32      // input_layernorm.weight [hidden]
	QProj                  kernels.Matrix // self_attn.q_proj.weight [heads*headDim, hidden]
	KProj                  kernels.Matrix // self_attn.k_proj.weight [kvHeads*headDim, hidden]
	VProj                  kernels.Matrix // self_attn.v_proj.weight [kvHeads*headDim, hidden]
	OProj                  kernels.Matrix // self_attn.o_proj.weight [hidden, heads*headDim]
	QBias, KBias, VBias    []float32      // self_attn.{q,k,v}_proj.bias; nil unless AttentionBias
	OBias                  []float32      // self_attn.o_proj.bias [hidden]; nil unless OProjBias
	PostAttentionLayernorm []float32      // post_attention_layernorm.weight [hidden]
	GateProj               kernels.Matrix // mlp.gate_proj.weight [intermediate, hidden]
	UpProj                 kernels.Matrix // mlp.up_proj.weight [intermediate, hidden]
	DownProj               kernels.Matrix // mlp.down_proj.weight [hidden, intermediate]
}

// LoadOptions are the settings fixed when a model is loaded, because they
// change how its weights are held; the zero value gives the defaults.
// Everything else about a run is a SessionOptions.
type LoadOptions struct {
	Compute ComputeDType // arithmetic of the layer projections and prefill attention: ComputeF32 (default) or ComputeBF16 (projections packed once at load)

	// SumCache remembers the SHA-256 of each weight file the fingerprint
	// hashes, so an unchanged checkpoint is hashed once per machine; the
	// zero value caches nothing. A cache that cannot be written costs
	// only the next load's hashing.
	SumCache sumcache.Cache
	// HashProgress, when set, is called while the weight files are
	// hashed (only those the cache does not know), with the bytes hashed
	// so far and their total, from one goroutine at a time.
	HashProgress func(done, total int64)
}

// Model is a loaded checkpoint ready to run. It is read-only once built
// (Config returns a copy; Weights are shared and never written), so any
// number of Sessions may share it; how a sequence runs (chunk, KV cache dtype, context, RoPE
// arithmetic) is a SessionOptions of each Session.
type Model struct {
	config  *Config
	weights *Weights

	faultState

	fingerprint string
	set         *safetensors.Set                // nil for in-memory models
	compute     ComputeDType                    // LoadOptions.Compute
	packed      []packedLayer                   // [layers] bf16 panels under ComputeBF16, else nil
	ropes       [len(ropeArithmeticNames)]*rope // the config's RoPE in each arithmetic
	pool        sessionPool                     // released sessions' memory
}

// tensorSpec is one tensor the config implies.
type tensorSpec struct {
	name  string
	shape []int
	dst   *kernels.Matrix // set for matrices
	vec   *[]float32      // set for vectors
}

// specs lists every tensor cfg implies, with where it goes in w.
func specs(cfg *Config, w *Weights) []tensorSpec {
	h, q, kv, inter := cfg.HiddenSize, cfg.NumHeads*cfg.HeadDim, cfg.NumKVHeads*cfg.HeadDim, cfg.IntermediateSize
	if len(w.Layers) != cfg.NumLayers {
		w.Layers = make([]LayerWeights, cfg.NumLayers)
	}
	list := []tensorSpec{{name: "model.embed_tokens.weight", shape: []int{cfg.VocabSize, h}, dst: &w.EmbedTokens}}
	for i := range w.Layers {
		lw := &w.Layers[i]
		p := fmt.Sprintf("model.layers.%d.", i)
		list = append(list,
			tensorSpec{name: p + "input_layernorm.weight", shape: []int{h}, vec: &lw.InputLayernorm},
			tensorSpec{name: p + "self_attn.q_proj.weight", shape: []int{q, h}, dst: &lw.QProj},
			tensorSpec{name: p + "self_attn.k_proj.weight", shape: []int{kv, h}, dst: &lw.KProj},
			tensorSpec{name: p + "self_attn.v_proj.weight", shape: []int{kv, h}, dst: &lw.VProj},
			tensorSpec{name: p + "self_attn.o_proj.weight", shape: []int{h, q}, dst: &lw.OProj},
		)
		if cfg.AttentionBias {
			list = append(list,
				tensorSpec{name: p + "self_attn.q_proj.bias", shape: []int{q}, vec: &lw.QBias},
				tensorSpec{name: p + "self_attn.k_proj.bias", shape: []int{kv}, vec: &lw.KBias},
				tensorSpec{name: p + "self_attn.v_proj.bias", shape: []int{kv}, vec: &lw.VBias},
			)
		}
		if cfg.OProjBias {
			list = append(list, tensorSpec{name: p + "self_attn.o_proj.bias", shape: []int{h}, vec: &lw.OBias})
		}
		list = append(list,
			tensorSpec{name: p + "post_attention_layernorm.weight", shape: []int{h}, vec: &lw.PostAttentionLayernorm},
			tensorSpec{name: p + "mlp.gate_proj.weight", shape: []int{inter, h}, dst: &lw.GateProj},
			tensorSpec{name: p + "mlp.up_proj.weight", shape: []int{inter, h}, dst: &lw.UpProj},
			tensorSpec{name: p + "mlp.down_proj.weight", shape: []int{h, inter}, dst: &lw.DownProj},
		)
	}
	list = append(list, tensorSpec{name: "model.norm.weight", shape: []int{h}, vec: &w.Norm})
	if !cfg.TieWordEmbeddings {
		list = append(list, tensorSpec{name: "lm_head.weight", shape: []int{cfg.VocabSize, h}, dst: &w.LMHead})
	}
	return list
}

// Load opens the checkpoint folder dir (config.json and its safetensors
// files), checks that every tensor the config implies is present with the
// implied shape and a float dtype before anything is computed, and returns
// the model. Matrices view the memory-mapped files; Close releases them.
func Load(dir string, opts LoadOptions) (*Model, error) {
	cfg, cfgBytes, err := readConfig(filepath.Join(dir, "config.json"), "model "+dir)
	if err != nil {
		return nil, err
	}
	set, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", dir, err)
	}
	m, err := loadSet(cfg, cfgBytes, set, dir, opts)
	if err != nil {
		set.Close()
		return nil, err
	}
	return m, nil
}

func loadSet(cfg *Config, cfgBytes []byte, set *safetensors.Set, dir string, opts LoadOptions) (_ *Model, err error) {
	// Converting vectors and packing bf16 panels read the mapped files: a
	// file truncated meanwhile is an error, not SIGBUS (see fault.go).
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if err = set.Fault(r); err == nil {
				panic(r)
			}
		}
	}()
	w := &Weights{}
	list := specs(cfg, w)
	// Check every name, shape and dtype first, so a wrong checkpoint fails
	// fast and names all it can in one message.
	var problems []error
	for _, s := range list {
		info, ok := set.Info(s.name)
		if !ok {
			problems = append(problems, fmt.Errorf("tensor %q: missing (config wants shape %v)", s.name, s.shape))
			continue
		}
		if !slices.Equal(info.Shape, s.shape) {
			problems = append(problems, fmt.Errorf("tensor %q: shape %v, config wants %v", s.name, info.Shape, s.shape))
		}
		switch info.DType {
		case safetensors.F32, safetensors.F16, safetensors.BF16:
		default:
			problems = append(problems, fmt.Errorf("tensor %q: dtype %v, want F32, F16 or BF16", s.name, info.DType))
		}
	}
	problems = append(problems, unexplained(cfg, set, list)...)
	if len(problems) > 0 {
		const show = 8
		if len(problems) > show {
			problems = append(problems[:show], fmt.Errorf("... and %d more", len(problems)-show))
		}
		return nil, fmt.Errorf("model %s does not match its config.json: %w", dir, errors.Join(problems...))
	}
	for _, s := range list {
		t, err := set.Tensor(s.name)
		if err != nil {
			return nil, err
		}
		if s.dst != nil {
			if *s.dst, err = tensorMatrix(t); err != nil {
				return nil, err
			}
			continue
		}
		if *s.vec, err = t.Float32s(); err != nil {
			return nil, err
		}
	}
	if cfg.TieWordEmbeddings {
		w.LMHead = w.EmbedTokens
	}
	m, err := New(cfg, w, opts)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", dir, err)
	}
	m.set = set
	if m.fingerprint, err = fingerprint(cfgBytes, set, opts); err != nil {
		return nil, fmt.Errorf("model %s: %w", dir, err)
	}
	if m.packed != nil {
		// The packed panels replace the mapped projections for good: let
		// the OS drop their pages, so bf16 compute does not double the
		// resident weights.
		for _, s := range list {
			if s.dst != nil && isProjection(s.name) {
				set.Release(s.name)
			}
		}
	}
	return m, nil
}

// isProjection reports whether the tensor is one of a layer's seven
// projection matrices (the ones bf16 compute packs).
func isProjection(name string) bool {
	for _, p := range []string{"q_proj.weight", "k_proj.weight", "v_proj.weight", "o_proj.weight", "gate_proj.weight", "up_proj.weight", "down_proj.weight"} {
		if strings.HasSuffix(name, "."+p) {
			return true
		}
	}
	return false
}

// unexplained lists the tensors of set that cfg does not imply (list),
// each naming its file: a checkpoint whose config does not explain all its
// weights (an o_proj bias the config says nothing of, quantisation scales,
// another architecture's layers) would run as a different model, so it is
// refused rather than half used. Two kinds are ignored, as transformers
// ignores them:
//   - rotary_emb.inv_freq buffers, which older Llama checkpoints saved:
//     transformers recomputes inv_freq from config.json and never loads them;
//   - lm_head.weight of [vocab, hidden] when tie_word_embeddings is true:
//     transformers ties lm_head to embed_tokens after loading, so the stored
//     copy is never used.
func unexplained(cfg *Config, set *safetensors.Set, list []tensorSpec) []error {
	want := make(map[string]bool, len(list))
	for _, s := range list {
		want[s.name] = true
	}
	var problems []error
	for _, f := range set.Files() {
		for _, info := range f.Infos() {
			switch {
			case want[info.Name], strings.HasSuffix(info.Name, "rotary_emb.inv_freq"):
				continue
			case info.Name == "lm_head.weight" && cfg.TieWordEmbeddings:
				if !slices.Equal(info.Shape, []int{cfg.VocabSize, cfg.HiddenSize}) {
					problems = append(problems, fmt.Errorf("%s: tensor %q: shape %v, config wants %v (tied to the embedding)", f.Path(), info.Name, info.Shape, []int{cfg.VocabSize, cfg.HiddenSize}))
				}
				continue
			}
			problems = append(problems, fmt.Errorf("%s: tensor %q: not used by the config (%s); a checkpoint must hold exactly the weights its config.json implies", f.Path(), info.Name, configSummary(cfg)))
		}
	}
	return problems
}

// configSummary names the switches that decide which tensors a config
// implies, for the error about a tensor it does not.
func configSummary(cfg *Config) string {
	return fmt.Sprintf("%s, %d layers, q/k/v bias %v, o_proj bias %v, tie_word_embeddings %v",
		cfg.Architecture, cfg.NumLayers, cfg.AttentionBias, cfg.OProjBias, cfg.TieWordEmbeddings)
}

// tensorMatrix returns a 2-D F32, F16 or BF16 tensor [rows, cols] as a
// kernels.Matrix in its stored dtype: a zero-copy view of the mapping when
// aligned, a copy otherwise. The matrix must be treated as read-only.
func tensorMatrix(t safetensors.Tensor) (kernels.Matrix, error) {
	if len(t.Shape) != 2 {
		return kernels.Matrix{}, fmt.Errorf("%s: tensor %q: shape %v is not 2-D, cannot be a matrix", t.File, t.Name, t.Shape)
	}
	m := kernels.Matrix{Rows: t.Shape[0], Cols: t.Shape[1]}
	switch t.DType {
	case safetensors.F32:
		m.DType = kernels.F32
	case safetensors.F16:
		m.DType = kernels.F16
	case safetensors.BF16:
		m.DType = kernels.BF16
	default:
		return kernels.Matrix{}, fmt.Errorf("%s: tensor %q: dtype %s is not a float type (want F32, F16 or BF16)", t.File, t.Name, t.DType)
	}
	if int64(len(t.Data)) != int64(m.Rows)*int64(m.Cols)*int64(t.DType.ElemSize()) {
		return kernels.Matrix{}, fmt.Errorf("%s: tensor %q: %d data bytes do not hold %s %v", t.File, t.Name, len(t.Data), t.DType, t.Shape)
	}
	var ok bool
	var err error
	if m.DType == kernels.F32 {
		if m.F32, ok = t.Float32View(); !ok {
			m.F32, err = t.Float32s()
		}
	} else if m.U16, ok = t.Uint16View(); !ok {
		m.U16, err = t.Uint16s()
	}
	if err != nil {
		return kernels.Matrix{}, err
	}
	return m, nil
}

// fingerprint is the SHA-256 of a manifest of the checkpoint's files, one
// line "<sha256 hex>  <name>\n" per file (sha256sum's format): config.json
// first, then every safetensors file in name order. Each file's sum covers
// all of its bytes (header and tensor data), so two checkpoints of equal
// shapes but different weights fingerprint apart; a user can recompute it
// with sha256sum. Weight files the cache knows are not read again; the
// others are hashed from their mappings, several at once.
func fingerprint(cfgBytes []byte, set *safetensors.Set, opts LoadOptions) (string, error) {
	files := set.Files()
	slices.SortFunc(files, func(a, b *safetensors.File) int {
		return strings.Compare(filepath.Base(a.Path()), filepath.Base(b.Path()))
	})
	sums := make([][sha256.Size]byte, len(files))
	var todo []int // files to hash
	var total int64
	for i, f := range files {
		if sum, ok := opts.SumCache.Get(f.Path(), f.Stat()); ok {
			sums[i] = sum
			continue
		}
		todo = append(todo, i)
		total += f.Size()
	}
	if err := hashFiles(files, todo, sums, total, opts.HashProgress); err != nil {
		return "", err
	}
	for _, i := range todo {
		_ = opts.SumCache.Put(files[i].Path(), files[i].Stat(), sums[i]) // a cache that cannot be written only costs a later rehash
	}
	var manifest strings.Builder
	cfgSum := sha256.Sum256(cfgBytes)
	fmt.Fprintf(&manifest, "%x  config.json\n", cfgSum)
	for i, f := range files {
		fmt.Fprintf(&manifest, "%x  %s\n", sums[i], filepath.Base(f.Path()))
	}
	sum := sha256.Sum256([]byte(manifest.String()))
	return hex.EncodeToString(sum[:]), nil
}

// hashFiles sets sums[i] to the SHA-256 of files[i] for every i in todo,
// on up to kernels.Threads() goroutines (one file each: SHA-256 is serial
// within a file), reporting the bytes done of total to progress.
func hashFiles(files []*safetensors.File, todo []int, sums [][sha256.Size]byte, total int64, progress func(done, total int64)) error {
	var mu sync.Mutex
	var done int64
	report := func(n int) {
		if progress == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		done += int64(n)
		progress(done, total)
	}
	errs := make([]error, len(todo))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(kernels.Threads(), len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= len(todo) {
					return
				}
				sums[todo[k]], errs[k] = files[todo[k]].Sum(report)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// New builds a model from in-memory weights, checking every shape against
// cfg. Its Fingerprint hashes cfg.JSON() only.
func New(cfg *Config, w *Weights, opts LoadOptions) (*Model, error) {
	if cfg == nil || w == nil {
		return nil, errors.New("model.New: nil config or weights")
	}
	cfg = cfg.clone() // the model's own: a later change to the caller's is not the model's
	if len(w.Layers) != cfg.NumLayers {
		return nil, fmt.Errorf("weights have %d layers, config wants %d", len(w.Layers), cfg.NumLayers)
	}
	tied := w.LMHead
	for _, s := range specs(cfg, w) {
		if s.dst != nil {
			m := *s.dst
			if m.Rows != s.shape[0] || m.Cols != s.shape[1] || !matrixFilled(m) {
				return nil, fmt.Errorf("tensor %q: matrix [%d, %d] (%v, %d+%d values), config wants %v", s.name, m.Rows, m.Cols, m.DType, len(m.F32), len(m.U16), s.shape)
			}
			continue
		}
		if len(*s.vec) != s.shape[0] {
			return nil, fmt.Errorf("tensor %q: %d values, config wants %v", s.name, len(*s.vec), s.shape)
		}
	}
	if cfg.TieWordEmbeddings {
		w.LMHead = w.EmbedTokens
	} else {
		w.LMHead = tied
	}
	if opts.Compute > ComputeBF16 {
		return nil, fmt.Errorf("model options: unknown %v", opts.Compute)
	}
	sum := sha256.Sum256(cfg.JSON())
	m := &Model{config: cfg, weights: w, fingerprint: hex.EncodeToString(sum[:]), compute: opts.Compute}
	for a := range m.ropes {
		m.ropes[a] = newRope(cfg, RopeArithmetic(a))
	}
	if opts.Compute == ComputeBF16 {
		m.packed = packLayers(w)
	}
	return m, nil
}

// matrixFilled reports whether m's storage holds Rows*Cols values of its dtype.
func matrixFilled(m kernels.Matrix) bool {
	n := m.Rows * m.Cols
	switch m.DType {
	case kernels.F32:
		return len(m.F32) == n
	case kernels.F16, kernels.BF16:
		return len(m.U16) == n
	}
	return false
}

// Config returns a copy of the model's configuration: changing it changes
// nothing in the model, whose shape is fixed once it is built.
func (m *Model) Config() Config { return *m.config.clone() }

// Weights returns the model's weights. They are shared with the model (and
// with the mapped checkpoint files): callers read them, e.g. to run a
// reference implementation, and must never write to them.
func (m *Model) Weights() *Weights { return m.weights }

// Compute returns the arithmetic of the layer projections and prefill
// attention the model was loaded with.
func (m *Model) Compute() ComputeDType { return m.compute }

// Fingerprint identifies the model: for a loaded checkpoint the SHA-256
// hex of the sha256sum manifest of config.json and its safetensors files
// (see fingerprint), so it changes with any byte of a weight; for a model
// built by New, the SHA-256 of Config.JSON().
func (m *Model) Fingerprint() string { return m.fingerprint }

// Close releases the memory-mapped weight files of a loaded model. The model
// and its sessions must not be used afterwards.
func (m *Model) Close() error {
	if m.set == nil {
		return nil
	}
	err := m.set.Close()
	m.set = nil
	return err
}

// RandomWeights returns weights of the shapes cfg implies, drawn from a
// seeded generator, with matrices stored as dtype (BF16, rounded to
// nearest, or F32 for any other dtype). Each
// matrix is uniform with variance 1/fan_in, norms are near 1 and biases
// small, so activations stay O(1) through the layers. The same (cfg, dtype,
// seed) always gives the same weights.
func RandomWeights(cfg *Config, dtype kernels.DType, seed int64) *Weights {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x636f6d70726573)) // "compres"
	w := &Weights{}
	for _, s := range specs(cfg, w) {
		switch {
		case s.dst != nil:
			n := s.shape[0] * s.shape[1]
			a := math.Sqrt(3 / float64(s.shape[1]))
			if s.name == "model.embed_tokens.weight" {
				a = math.Sqrt(3) // unit variance embeddings
			}
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(a * (2*rng.Float64() - 1))
			}
			*s.dst = matrixOf(v, s.shape[0], s.shape[1], dtype)
		case strings.HasSuffix(s.name, ".bias"):
			v := make([]float32, s.shape[0])
			for i := range v {
				v[i] = float32(0.2 * (2*rng.Float64() - 1))
			}
			*s.vec = v
		default: // norm weights
			v := make([]float32, s.shape[0])
			for i := range v {
				v[i] = float32(1 + 0.2*(2*rng.Float64()-1))
			}
			*s.vec = v
		}
	}
	if cfg.TieWordEmbeddings {
		w.LMHead = w.EmbedTokens
	}
	return w
}

// matrixOf stores v [rows, cols] as a BF16 (rounded to nearest) or F32
// matrix.
func matrixOf(v []float32, rows, cols int, dtype kernels.DType) kernels.Matrix {
	m := kernels.Matrix{Rows: rows, Cols: cols, DType: dtype}
	switch dtype {
	case kernels.BF16:
		m.U16 = make([]uint16, len(v))
		for i, x := range v {
			m.U16[i] = kernels.Float32ToBF16(x)
		}
	default:
		m.DType = kernels.F32
		m.F32 = v
	}
	return m
}
