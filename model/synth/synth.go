package synth

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/compresskv/compresskv/internal/atomicfile"
	"github.com/compresskv/compresskv/safetensors"
)

// Options choose one synthetic model. The zero Seed is a valid seed.
type Options struct {
	Seed   int64 // draws the token identities and which head plays which role
	Layers int   // number of layers, 2..MaxLayers (0 means DefaultLayers): layer 0 holds the previous-token heads, every later layer one retrieval head
	// Streaming makes the variant that embodies the failure mode of
	// all-head KV selection: in every GQA group one head is a streaming
	// head (RoleStreaming: a strong sink on the first token plus a broad
	// recency window), beside the planted retrieval head in its group. The
	// model answers exactly as the default one; only the heads that do
	// not answer change.
	Streaming bool
}

// DefaultOptions returns the built-in model: seed 1, three layers (two
// retrieval layers).
func DefaultOptions() Options { return Options{Seed: 1, Layers: DefaultLayers} }

// Revision numbers the generator's output. Any change to what Write
// produces for given Options must bump it: the command line caches written
// models under it, and TestDefaultModelGolden fails until it is bumped.
const Revision = 1

// Bounds of Options.Layers.
const (
	DefaultLayers = 3
	MaxLayers     = 16
)

// withDefaults fills the zero fields of o.
func (o Options) withDefaults() Options {
	if o.Layers == 0 {
		o.Layers = DefaultLayers
	}
	return o
}

// Validate reports options that cannot make a model.
func (o Options) Validate() error {
	o = o.withDefaults()
	if o.Layers < 2 || o.Layers > MaxLayers {
		return fmt.Errorf("synth: %d layers: want 2..%d (layer 0 finds previous tokens, later layers retrieve)", o.Layers, MaxLayers)
	}
	return nil
}

// Head roles. A retrieval head is the planted ground truth; the others are
// the distractors profiling must rank below it.
const (
	// RoleRetrieval heads are induction heads: at a query whose last three
	// tokens occurred earlier, they attend to the token that followed them
	// there and copy it to the output. On needle probes that is the answer.
	RoleRetrieval = "retrieval"
	// RolePreviousToken heads attend to position i-Offset. In layer 0 they
	// write the previous tokens that the retrieval heads match on; in later
	// layers they are distractors.
	RolePreviousToken = "previous-token"
	// RoleSink heads attend to the first token (the attention sink).
	RoleSink = "sink"
	// RoleLocal heads attend to the current token.
	RoleLocal = "local"
	// RoleStreaming heads (the Streaming variant) attend to the first
	// token and to the most recent tens of tokens, as the "streaming"
	// heads of real models do (StreamingLLM, DuoAttention).
	RoleStreaming = "streaming"
	// RoleSpan heads (the Streaming variant) are semantic retrieval heads:
	// they compare the recent context of the query (a bag of its last
	// tokens, written by layer 0's streaming head) with that of every
	// position, so at the end of a needle prompt they attend to the whole
	// needle sentence, answer included, not only to the next answer token.
	// They write to the scratch subspace: the answer still comes from the
	// retrieval heads.
	RoleSpan = "span"
)

// Head is the role of one query head.
type Head struct {
	Layer  int    `json:"layer"`
	Head   int    `json:"head"`    // query head index within the layer
	KVHead int    `json:"kv_head"` // the key/value head it reads (Head / (heads/kv_heads))
	Role   string `json:"role"`
	Offset int    `json:"offset"` // previous-token heads: attend to position i-Offset; 0 otherwise
}

// Heads returns the role of every query head, layer by layer. The roles
// depend on the seed: which head of a layer is the retrieval head, and how
// the distractors are placed.
func Heads(o Options) ([]Head, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 0x726f6c6573)) // "roles"
	var out []Head
	for l := 0; l < o.Layers; l++ {
		var roles []Head
		switch {
		case o.Streaming:
			roles = streamingRoles(l, rng)
		case l == 0:
			last := Head{Role: RoleSink}
			if rng.IntN(2) == 1 {
				last = Head{Role: RoleLocal}
			}
			roles = []Head{{Role: RolePreviousToken, Offset: 1}, {Role: RolePreviousToken, Offset: 2}, {Role: RolePreviousToken, Offset: 3}, last}
		default:
			roles = []Head{{Role: RoleRetrieval}, {Role: RoleSink}, {Role: RoleLocal}, {Role: RolePreviousToken, Offset: 1}}
		}
		if !o.Streaming {
			rng.Shuffle(len(roles), func(i, j int) { roles[i], roles[j] = roles[j], roles[i] })
		}
		for h, r := range roles {
			r.Layer, r.Head, r.KVHead = l, h, h/(numHeads/numKVHeads)
			out = append(out, r)
		}
	}
	return out, nil
}

// streamingRoles draws the roles of layer l of the Streaming variant: each
// GQA group (heads 2g, 2g+1) holds one streaming head. Layer 0 keeps its
// three previous-token heads (the circuit needs them) and puts the
// streaming head in the group with a free slot; later layers put the
// retrieval head in a random group beside a streaming head, and a span
// head beside the other streaming head.
func streamingRoles(l int, rng *rand.Rand) []Head {
	pair := func(a, b Head) []Head {
		if rng.IntN(2) == 1 {
			return []Head{b, a}
		}
		return []Head{a, b}
	}
	stream := Head{Role: RoleStreaming}
	var first, second []Head
	if l == 0 {
		prev := []Head{{Role: RolePreviousToken, Offset: 1}, {Role: RolePreviousToken, Offset: 2}, {Role: RolePreviousToken, Offset: 3}}
		rng.Shuffle(len(prev), func(i, j int) { prev[i], prev[j] = prev[j], prev[i] })
		first, second = pair(prev[0], prev[1]), pair(prev[2], stream)
	} else {
		first, second = pair(Head{Role: RoleRetrieval}, stream), pair(Head{Role: RoleSpan}, stream)
	}
	if rng.IntN(2) == 1 {
		first, second = second, first
	}
	return append(first, second...)
}

// Planted returns the planted retrieval heads, one per layer from layer 1
// on, or nil when the options are invalid (see Options.Validate).
func Planted(o Options) []Head {
	heads, err := Heads(o)
	if err != nil {
		return nil
	}
	var out []Head
	for _, h := range heads {
		if h.Role == RoleRetrieval {
			out = append(out, h)
		}
	}
	return out
}

// SpanHeads returns the span heads of the Streaming variant (nil for the
// default model).
func SpanHeads(o Options) []Head {
	heads, err := Heads(o)
	if err != nil {
		return nil
	}
	var out []Head
	for _, h := range heads {
		if h.Role == RoleSpan {
			out = append(out, h)
		}
	}
	return out
}

// PlantedHeads is Planted, under the name the profile tests use.
func PlantedHeads(o Options) []Head { return Planted(o) }

// RetrievalHeads maps each layer that has a planted retrieval head to that
// head's index, or returns nil when the options are invalid.
func RetrievalHeads(o Options) map[int]int {
	planted := Planted(o)
	if planted == nil {
		return nil
	}
	m := make(map[int]int, len(planted))
	for _, h := range planted {
		m[h.Layer] = h.Head
	}
	return m
}

// Config is the config.json of the synthetic model, in Hugging Face's
// Llama spelling.
type Config struct {
	Architectures         []string `json:"architectures"`
	ModelType             string   `json:"model_type"`
	HiddenSize            int      `json:"hidden_size"`
	IntermediateSize      int      `json:"intermediate_size"`
	NumHiddenLayers       int      `json:"num_hidden_layers"`
	NumAttentionHeads     int      `json:"num_attention_heads"`
	NumKeyValueHeads      int      `json:"num_key_value_heads"`
	HeadDim               int      `json:"head_dim"`
	HiddenAct             string   `json:"hidden_act"`
	MaxPositionEmbeddings int      `json:"max_position_embeddings"`
	RMSNormEps            float64  `json:"rms_norm_eps"`
	RopeTheta             float64  `json:"rope_theta"`
	RopeScaling           any      `json:"rope_scaling"`
	AttentionBias         bool     `json:"attention_bias"`
	MLPBias               bool     `json:"mlp_bias"`
	TieWordEmbeddings     bool     `json:"tie_word_embeddings"`
	VocabSize             int      `json:"vocab_size"`
	BOSTokenID            int      `json:"bos_token_id"`
	EOSTokenID            int      `json:"eos_token_id"`
	TorchDType            string   `json:"torch_dtype"`
}

// Info describes a written synthetic model.
type Info struct {
	Dir       string            `json:"dir"`
	Seed      int64             `json:"seed"`
	Layers    int               `json:"layers"`
	Streaming bool              `json:"streaming,omitempty"`
	Config    Config            `json:"config"`
	Heads     []Head            `json:"heads"`     // every query head with its role
	Retrieval map[int]int       `json:"retrieval"` // layer -> planted retrieval head
	Files     map[string]string `json:"files"`     // file name -> "sha256:<hex>"
}

// Files written by Write, in writing order.
var Files = []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}

// Write writes the synthetic model of o into dir (created if needed) as a
// Hugging Face checkpoint folder: config.json, model.safetensors (float32),
// tokenizer.json and tokenizer_config.json. Equal options write
// byte-identical files.
func Write(dir string, o Options) (*Info, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	m, err := build(o)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	cfgJSON, err := json.MarshalIndent(m.config, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("synth: config.json: %w", err)
	}
	tokJSON, err := m.vocab.tokenizerJSON()
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	tokCfgJSON, err := m.vocab.tokenizerConfigJSON()
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	info := &Info{Dir: dir, Seed: o.Seed, Layers: o.Layers, Streaming: o.Streaming, Config: m.config, Heads: m.heads, Retrieval: RetrievalHeads(o), Files: map[string]string{}}
	for _, f := range []struct {
		name string
		data []byte
	}{{"config.json", append(cfgJSON, '\n')}, {"tokenizer.json", tokJSON}, {"tokenizer_config.json", tokCfgJSON}} {
		if err := atomicfile.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return nil, fmt.Errorf("synth: %w", err)
		}
		info.Files[f.name] = digest(f.data)
	}
	tensors := make([]safetensors.WriteTensor, len(m.tensors))
	for i, t := range m.tensors {
		tensors[i] = safetensors.WriteTensor{Name: t.name, DType: safetensors.F32, Shape: t.shape, Data: safetensors.F32Bytes(t.data)}
	}
	meta := map[string]string{"format": "pt", "generator": "compresskv synth", "seed": fmt.Sprint(o.Seed)}
	if o.Streaming {
		meta["variant"] = "streaming"
	}
	var weights bytes.Buffer
	if err := safetensors.Encode(&weights, tensors, meta); err != nil {
		return nil, fmt.Errorf("synth: model.safetensors: %w", err)
	}
	data := weights.Bytes()
	if err := atomicfile.WriteFile(filepath.Join(dir, "model.safetensors"), data, 0o644); err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	info.Files["model.safetensors"] = digest(data)
	return info, nil
}

func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}
