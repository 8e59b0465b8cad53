package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
)

// Config is the part of a Hugging Face config.json that the forward pass
// needs, with the family defaults of transformers applied. Llama, Mistral and
// Qwen2 are one architecture with a few switches (AttentionBias,
// SlidingWindow, RopeScaling, TieWordEmbeddings).
type Config struct {
	Architecture          string       // model family: "llama", "mistral" or "qwen2"
	HiddenSize            int          // hidden_size
	NumLayers             int          // num_hidden_layers
	NumHeads              int          // num_attention_heads (query heads H)
	NumKVHeads            int          // num_key_value_heads (KV heads G); defaults to NumHeads
	HeadDim               int          // head_dim, or hidden_size / num_attention_heads
	IntermediateSize      int          // intermediate_size (SwiGLU width)
	VocabSize             int          // vocab_size
	RMSNormEps            float64      // rms_norm_eps
	RopeTheta             float64      // rope_theta (default 10000)
	RopeScaling           *RopeScaling // nil when RoPE is unscaled
	MaxPositionEmbeddings int          // max_position_embeddings
	TieWordEmbeddings     bool         // lm_head shares model.embed_tokens.weight
	AttentionBias         bool         // q/k/v projections carry a bias (Llama attention_bias; always for qwen2)
	OProjBias             bool         // o_proj carries a bias too (Llama attention_bias; never qwen2 or mistral)
	SlidingWindow         int          // Mistral sliding window in tokens; 0 = full causal attention
	BOS                   int          // bos_token_id, -1 when the config has none
	EOS                   []int        // eos_token_id (one id or a list)
	TorchDType            string       // torch_dtype (or dtype) as written, e.g. "bfloat16"
}

// RopeScaling is the rope_scaling block of config.json.
type RopeScaling struct {
	Type   string  // "linear", "dynamic" or "llama3"
	Factor float64 // factor
	// Llama 3 frequency scaling only.
	LowFreqFactor                 float64 // low_freq_factor
	HighFreqFactor                float64 // high_freq_factor
	OriginalMaxPositionEmbeddings int     // original_max_position_embeddings
}

// SupportedArchitectures lists the model_type values compresskv runs.
var SupportedArchitectures = []string{"llama", "mistral", "qwen2"}

// architectureNames maps the architectures entry of config.json to a family.
var architectureNames = map[string]string{
	"LlamaForCausalLM":   "llama",
	"MistralForCausalLM": "mistral",
	"Qwen2ForCausalLM":   "qwen2",
}

// familyDefaults are transformers' defaults for keys a config.json may omit.
var familyDefaults = map[string]struct {
	maxPos        int
	slidingWindow int
	bos, eos      int
}{
	"llama":   {maxPos: 2048, bos: 1, eos: 2},
	"mistral": {maxPos: 4096 * 32, slidingWindow: 4096, bos: 1, eos: 2},
	"qwen2":   {maxPos: 32768, slidingWindow: 4096, bos: -1, eos: -1},
}

// clone returns a copy of c that shares no memory with it.
func (c *Config) clone() *Config {
	d := *c
	d.EOS = slices.Clone(c.EOS)
	if c.RopeScaling != nil {
		rs := *c.RopeScaling
		d.RopeScaling = &rs
	}
	return &d
}

// KVGroup returns the number of query heads that share one KV head (H / G);
// query head h reads KV head h / KVGroup().
func (c *Config) KVGroup() int { return c.NumHeads / c.NumKVHeads }

// LoadConfig reads and validates a config.json file without the weights
// (what a command needs to describe a model it will not run).
func LoadConfig(path string) (*Config, error) {
	cfg, _, err := readConfig(path, "model config")
	return cfg, err
}

// readConfig reads and parses config.json at path (a read error is
// prefixed with what); Load hashes its bytes into the fingerprint.
func readConfig(path, what string) (*Config, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	cfg, err := ParseConfig(data, path)
	if err != nil {
		return nil, nil, err
	}
	return cfg, data, nil
}

// configFields is config.json decoded one level deep, so each key can be
// checked for presence, null and type.
type configFields struct {
	name string
	m    map[string]json.RawMessage
}

func (f configFields) has(key string) bool {
	v, ok := f.m[key]
	return ok && !bytes.Equal(bytes.TrimSpace(v), []byte("null"))
}

func (f configFields) int(key string, def int) (int, error) {
	if !f.has(key) {
		return def, nil
	}
	return jsonInt(f.m[key], f.name, key)
}

func (f configFields) float(key string, def float64) (float64, error) {
	if !f.has(key) {
		return def, nil
	}
	var v float64
	if err := json.Unmarshal(f.m[key], &v); err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%s: %s: want a number, got %s", f.name, key, short(f.m[key]))
	}
	return v, nil
}

func (f configFields) bool(key string, def bool) (bool, error) {
	if !f.has(key) {
		return def, nil
	}
	var v bool
	if err := json.Unmarshal(f.m[key], &v); err != nil {
		return false, fmt.Errorf("%s: %s: want true or false, got %s", f.name, key, short(f.m[key]))
	}
	return v, nil
}

func (f configFields) string(key string) (string, error) {
	if !f.has(key) {
		return "", nil
	}
	var v string
	if err := json.Unmarshal(f.m[key], &v); err != nil {
		return "", fmt.Errorf("%s: %s: want a string, got %s", f.name, key, short(f.m[key]))
	}
	return v, nil
}

// jsonInt decodes an integral JSON number (64 or 64.0, not 64.5).
func jsonInt(raw json.RawMessage, name, key string) (int, error) {
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil || v != math.Trunc(v) || math.Abs(v) > 1<<53 {
		return 0, fmt.Errorf("%s: %s: want an integer, got %s", name, key, short(raw))
	}
	return int(v), nil
}

// short quotes at most 40 bytes of a raw JSON value for an error message.
func short(raw []byte) string {
	s := string(bytes.TrimSpace(raw))
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return s
}

// ParseConfig parses and validates config.json bytes; name (usually the
// file path) prefixes every error.
func ParseConfig(data []byte, name string) (*Config, error) {
	f := configFields{name: name}
	if err := json.Unmarshal(data, &f.m); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %w", name, err)
	}
	if f.m == nil {
		return nil, fmt.Errorf("%s: not a JSON object", name)
	}
	c := &Config{}
	var err error
	if c.Architecture, err = family(f); err != nil {
		return nil, err
	}
	defaults := familyDefaults[c.Architecture]
	ints := []struct {
		dst *int
		key string
		def int
	}{
		{&c.HiddenSize, "hidden_size", 0},
		{&c.NumLayers, "num_hidden_layers", 0},
		{&c.NumHeads, "num_attention_heads", 0},
		{&c.IntermediateSize, "intermediate_size", 0},
		{&c.VocabSize, "vocab_size", 0},
		{&c.MaxPositionEmbeddings, "max_position_embeddings", defaults.maxPos},
	}
	for _, x := range ints {
		if *x.dst, err = f.int(x.key, x.def); err != nil {
			return nil, err
		}
		if *x.dst <= 0 {
			return nil, fmt.Errorf("%s: %s must be a positive integer, got %d", name, x.key, *x.dst)
		}
	}
	if c.NumKVHeads, err = f.int("num_key_value_heads", c.NumHeads); err != nil {
		return nil, err
	}
	if c.NumKVHeads <= 0 || c.NumHeads%c.NumKVHeads != 0 {
		return nil, fmt.Errorf("%s: num_attention_heads %d must be a positive multiple of num_key_value_heads %d", name, c.NumHeads, c.NumKVHeads)
	}
	if f.has("head_dim") {
		if c.HeadDim, err = f.int("head_dim", 0); err != nil {
			return nil, err
		}
	} else {
		if c.HiddenSize%c.NumHeads != 0 {
			return nil, fmt.Errorf("%s: hidden_size %d is not a multiple of num_attention_heads %d (and head_dim is not given)", name, c.HiddenSize, c.NumHeads)
		}
		c.HeadDim = c.HiddenSize / c.NumHeads
	}
	if c.HeadDim <= 0 || c.HeadDim%2 != 0 {
		return nil, fmt.Errorf("%s: head_dim must be a positive even integer (RoPE rotates pairs), got %d", name, c.HeadDim)
	}
	// Guard products the loader will allocate, so a hostile config fails
	// here instead of in make().
	const maxDim = 1 << 24
	for _, x := range []struct {
		key string
		v   int
	}{{"hidden_size", c.HiddenSize}, {"num_hidden_layers", c.NumLayers}, {"num_attention_heads", c.NumHeads}, {"head_dim", c.HeadDim}, {"intermediate_size", c.IntermediateSize}, {"vocab_size", c.VocabSize}} {
		if x.v > maxDim {
			return nil, fmt.Errorf("%s: %s %d is implausibly large (limit %d)", name, x.key, x.v, maxDim)
		}
	}
	if c.RMSNormEps, err = f.float("rms_norm_eps", 1e-6); err != nil {
		return nil, err
	}
	if c.RMSNormEps < 0 {
		return nil, fmt.Errorf("%s: rms_norm_eps must not be negative, got %g", name, c.RMSNormEps)
	}
	if c.TieWordEmbeddings, err = f.bool("tie_word_embeddings", false); err != nil {
		return nil, err
	}
	if c.TorchDType, err = f.string("torch_dtype"); err != nil {
		return nil, err
	}
	if c.TorchDType == "" {
		if c.TorchDType, err = f.string("dtype"); err != nil {
			return nil, err
		}
	}
	if err := parseRope(f, c); err != nil {
		return nil, err
	}
	if err := parseFamilySwitches(f, c); err != nil {
		return nil, err
	}
	if c.BOS, err = f.int("bos_token_id", defaults.bos); err != nil {
		return nil, err
	}
	if c.EOS, err = parseEOS(f, defaults.eos); err != nil {
		return nil, err
	}
	return c, nil
}

// family resolves model_type, falling back to the architectures list.
func family(f configFields) (string, error) {
	supported := strings.Join(SupportedArchitectures, ", ")
	mt, err := f.string("model_type")
	if err != nil {
		return "", err
	}
	if mt != "" {
		for _, s := range SupportedArchitectures {
			if mt == s {
				return mt, nil
			}
		}
		return "", fmt.Errorf("%s: model_type %q is not supported (supported: %s)", f.name, mt, supported)
	}
	var archs []string
	if f.has("architectures") {
		if err := json.Unmarshal(f.m["architectures"], &archs); err != nil {
			return "", fmt.Errorf("%s: architectures: want a list of strings, got %s", f.name, short(f.m["architectures"]))
		}
	}
	for _, a := range archs {
		if fam, ok := architectureNames[a]; ok {
			return fam, nil
		}
	}
	if len(archs) == 0 {
		return "", fmt.Errorf("%s: no model_type or architectures (supported model_type: %s)", f.name, supported)
	}
	names := make([]string, 0, len(architectureNames))
	for a := range architectureNames {
		names = append(names, a)
	}
	sort.Strings(names)
	return "", fmt.Errorf("%s: architectures %v not supported (supported: %s)", f.name, archs, strings.Join(names, ", "))
}

// parseRope reads rope_theta and rope_scaling (or the newer rope_parameters
// block, which carries rope_theta inside).
func parseRope(f configFields, c *Config) error {
	var err error
	if c.RopeTheta, err = f.float("rope_theta", 10000); err != nil {
		return err
	}
	key := "rope_scaling"
	if !f.has(key) && f.has("rope_parameters") {
		key = "rope_parameters"
	}
	if f.has(key) {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(f.m[key], &raw); err != nil {
			return fmt.Errorf("%s: %s: want an object, got %s", f.name, key, short(f.m[key]))
		}
		rf := configFields{name: f.name + ": " + key, m: raw}
		if rf.has("rope_theta") {
			if c.RopeTheta, err = rf.float("rope_theta", 0); err != nil {
				return err
			}
		}
		if c.RopeScaling, err = parseRopeScaling(rf, c); err != nil {
			return err
		}
	}
	if c.RopeTheta <= 0 {
		return fmt.Errorf("%s: rope_theta must be positive, got %g", f.name, c.RopeTheta)
	}
	return partialRotary(f, key)
}

// partialRotary accepts partial_rotary_factor (top level, or in the rope
// block of transformers v5) only when it is 1. Below 1 transformers' rope
// initialisation builds cos/sin tables of head_dim*factor, but Llama's,
// Mistral's and Qwen2's apply_rotary_pos_emb multiply the whole head by
// them (no rotated/pass-through split as in Phi or GPT-NeoX), which does
// not broadcast: there is no Hugging Face result to reproduce, so the
// config is refused rather than given a guessed meaning.
func partialRotary(f configFields, ropeKey string) error {
	check := func(fields configFields) error {
		v, err := fields.float("partial_rotary_factor", 1)
		if err != nil {
			return err
		}
		if v != 1 {
			return fmt.Errorf("%s: partial_rotary_factor %g is not supported: transformers' Llama, Mistral and Qwen2 attention rotates the whole head, so a partial rotation has no reference to match", fields.name, v)
		}
		return nil
	}
	if err := check(f); err != nil {
		return err
	}
	if !f.has(ropeKey) {
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(f.m[ropeKey], &raw); err != nil {
		return nil // parseRope reported it
	}
	return check(configFields{name: f.name + ": " + ropeKey, m: raw})
}

func parseRopeScaling(rf configFields, c *Config) (*RopeScaling, error) {
	typ, err := rf.string("rope_type")
	if err != nil {
		return nil, err
	}
	if typ == "" {
		if typ, err = rf.string("type"); err != nil {
			return nil, err
		}
	}
	switch typ {
	case "", "default":
		return nil, nil
	case "linear", "dynamic", "llama3":
	default:
		return nil, fmt.Errorf("%s: rope type %q is not supported (supported: default, linear, dynamic, llama3)", rf.name, typ)
	}
	rs := &RopeScaling{Type: typ}
	if rs.Factor, err = rf.float("factor", 0); err != nil {
		return nil, err
	}
	if rs.Factor <= 0 {
		return nil, fmt.Errorf("%s: %s rope scaling needs a positive factor, got %g", rf.name, typ, rs.Factor)
	}
	if typ != "llama3" {
		return rs, nil
	}
	if rs.LowFreqFactor, err = rf.float("low_freq_factor", 0); err != nil {
		return nil, err
	}
	if rs.HighFreqFactor, err = rf.float("high_freq_factor", 0); err != nil {
		return nil, err
	}
	if rs.OriginalMaxPositionEmbeddings, err = rf.int("original_max_position_embeddings", 0); err != nil {
		return nil, err
	}
	if rs.LowFreqFactor <= 0 || rs.HighFreqFactor <= rs.LowFreqFactor || rs.OriginalMaxPositionEmbeddings <= 0 {
		return nil, fmt.Errorf("%s: llama3 rope scaling needs 0 < low_freq_factor < high_freq_factor and a positive original_max_position_embeddings, got %g, %g, %d",
			rf.name, rs.LowFreqFactor, rs.HighFreqFactor, rs.OriginalMaxPositionEmbeddings)
	}
	return rs, nil
}

// parseFamilySwitches reads the keys where Llama, Mistral and Qwen2 differ.
func parseFamilySwitches(f configFields, c *Config) error {
	act, err := f.string("hidden_act")
	if err != nil {
		return err
	}
	if act != "" && act != "silu" {
		return fmt.Errorf("%s: hidden_act %q is not supported (only silu, the SwiGLU MLP)", f.name, act)
	}
	switch c.Architecture {
	case "qwen2":
		// Qwen2 always has q/k/v biases (and none on o_proj).
		c.AttentionBias = true
		return qwen2SlidingWindow(f, c)
	case "mistral":
		if c.SlidingWindow, err = f.int("sliding_window", familyDefaults["mistral"].slidingWindow); err != nil {
			return err
		}
		if !f.has("sliding_window") && f.m["sliding_window"] != nil {
			c.SlidingWindow = 0 // explicit null: full attention (Mistral v0.2+)
		}
		if c.SlidingWindow < 0 {
			return fmt.Errorf("%s: sliding_window must be positive or null, got %d", f.name, c.SlidingWindow)
		}
	default:
		// transformers' LlamaAttention gives all four projections a bias.
		if c.AttentionBias, err = f.bool("attention_bias", false); err != nil {
			return err
		}
		c.OProjBias = c.AttentionBias
		mlpBias, err := f.bool("mlp_bias", false)
		if err != nil {
			return err
		}
		if mlpBias {
			return fmt.Errorf("%s: mlp_bias true is not supported", f.name)
		}
	}
	return nil
}

// qwen2SlidingWindow accepts Qwen2's use_sliding_window only where it would
// change nothing: transformers applies the window to layers from
// max_window_layers on, and only when it is shorter than the context.
func qwen2SlidingWindow(f configFields, c *Config) error {
	use, err := f.bool("use_sliding_window", false)
	if err != nil || !use {
		return err
	}
	window, err := f.int("sliding_window", familyDefaults["qwen2"].slidingWindow)
	if err != nil {
		return err
	}
	maxWindowLayers, err := f.int("max_window_layers", 28)
	if err != nil {
		return err
	}
	if window > 0 && window < c.MaxPositionEmbeddings && maxWindowLayers < c.NumLayers {
		return fmt.Errorf("%s: use_sliding_window with sliding_window %d on layers %d..%d is not supported (Qwen2 per-layer sliding window); set use_sliding_window false",
			f.name, window, maxWindowLayers, c.NumLayers-1)
	}
	return nil
}

// parseEOS reads eos_token_id as one id or a list of ids.
func parseEOS(f configFields, def int) ([]int, error) {
	if !f.has("eos_token_id") {
		if def < 0 {
			return nil, nil
		}
		return []int{def}, nil
	}
	raw := f.m["eos_token_id"]
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		id, err := jsonInt(raw, f.name, "eos_token_id")
		if err != nil {
			return nil, err
		}
		return []int{id}, nil
	}
	ids := make([]int, len(list))
	for i, r := range list {
		id, err := jsonInt(r, f.name, "eos_token_id")
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	return ids, nil
}

// JSON returns a Hugging Face config.json for c (keys in a fixed order), so
// tests and the synthetic model can write checkpoints that ParseConfig reads
// back to an equal Config.
func (c *Config) JSON() []byte {
	type kv struct {
		k string
		v any
	}
	arch := map[string]string{"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM"}[c.Architecture]
	fields := []kv{
		{"architectures", []string{arch}},
		{"model_type", c.Architecture},
		{"hidden_size", c.HiddenSize},
		{"intermediate_size", c.IntermediateSize},
		{"num_hidden_layers", c.NumLayers},
		{"num_attention_heads", c.NumHeads},
		{"num_key_value_heads", c.NumKVHeads},
		{"head_dim", c.HeadDim},
		{"vocab_size", c.VocabSize},
		{"max_position_embeddings", c.MaxPositionEmbeddings},
		{"rms_norm_eps", c.RMSNormEps},
		{"rope_theta", c.RopeTheta},
		{"tie_word_embeddings", c.TieWordEmbeddings},
		{"hidden_act", "silu"},
	}
	if rs := c.RopeScaling; rs != nil {
		m := map[string]any{"rope_type": rs.Type, "factor": rs.Factor}
		if rs.Type == "llama3" {
			m["low_freq_factor"] = rs.LowFreqFactor
			m["high_freq_factor"] = rs.HighFreqFactor
			m["original_max_position_embeddings"] = rs.OriginalMaxPositionEmbeddings
		}
		fields = append(fields, kv{"rope_scaling", m})
	}
	switch c.Architecture {
	case "llama":
		fields = append(fields, kv{"attention_bias", c.AttentionBias})
	case "mistral":
		var w any // null: no window
		if c.SlidingWindow > 0 {
			w = c.SlidingWindow
		}
		fields = append(fields, kv{"sliding_window", w})
	case "qwen2":
		fields = append(fields, kv{"use_sliding_window", false})
	}
	if c.BOS >= 0 {
		fields = append(fields, kv{"bos_token_id", c.BOS})
	}
	if len(c.EOS) == 1 {
		fields = append(fields, kv{"eos_token_id", c.EOS[0]})
	} else if len(c.EOS) > 1 {
		fields = append(fields, kv{"eos_token_id", c.EOS})
	}
	if c.TorchDType != "" {
		fields = append(fields, kv{"torch_dtype", c.TorchDType})
	}
	var b bytes.Buffer
	b.WriteString("{\n")
	for i, x := range fields {
		v, _ := json.Marshal(x.v) // plain values: cannot fail
		fmt.Fprintf(&b, "  %q: %s", x.k, v)
		if i < len(fields)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("}\n")
	return b.Bytes()
}
