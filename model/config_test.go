package model

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	const base = `"hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 5, "num_attention_heads": 8, "vocab_size": 512`
	tests := []struct {
		name string
		json string
		want Config
	}{
		{
			name: "llama defaults",
			json: `{"model_type": "llama", ` + base + `}`,
			want: Config{Architecture: "llama", HiddenSize: 64, NumLayers: 5, NumHeads: 8, NumKVHeads: 8, HeadDim: 8, IntermediateSize: 172, VocabSize: 512,
				RMSNormEps: 1e-6, RopeTheta: 10000, MaxPositionEmbeddings: 2048, BOS: 1, EOS: []int{2}},
		},
		{
			name: "llama 3.1 with llama3 rope, eos list, explicit head_dim",
			json: `{"architectures": ["LlamaForCausalLM"], "model_type": "llama", ` + base + `, "num_key_value_heads": 2, "head_dim": 8,
				"rms_norm_eps": 1e-5, "rope_theta": 500000.0, "max_position_embeddings": 131072, "tie_word_embeddings": false,
				"rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"},
				"bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "torch_dtype": "bfloat16", "attention_bias": false, "mlp_bias": false}`,
			want: Config{Architecture: "llama", HiddenSize: 64, NumLayers: 5, NumHeads: 8, NumKVHeads: 2, HeadDim: 8, IntermediateSize: 172, VocabSize: 512,
				RMSNormEps: 1e-5, RopeTheta: 500000, MaxPositionEmbeddings: 131072, BOS: 128000, EOS: []int{128001, 128008, 128009}, TorchDType: "bfloat16",
				RopeScaling: &RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 8192}},
		},
		{
			name: "architectures only, linear scaling under 'type'",
			json: `{"architectures": ["LlamaForCausalLM"], ` + base + `, "rope_scaling": {"type": "linear", "factor": 2}}`,
			want: Config{Architecture: "llama", HiddenSize: 64, NumLayers: 5, NumHeads: 8, NumKVHeads: 8, HeadDim: 8, IntermediateSize: 172, VocabSize: 512,
				RMSNormEps: 1e-6, RopeTheta: 10000, MaxPositionEmbeddings: 2048, BOS: 1, EOS: []int{2}, RopeScaling: &RopeScaling{Type: "linear", Factor: 2}},
		},
		{
			name: "mistral v0.1 default sliding window, dynamic scaling",
			json: `{"model_type": "mistral", ` + base + `, "num_key_value_heads": 2, "rope_scaling": {"rope_type": "dynamic", "factor": 2.0}}`,
			want: Config{Architecture: "mistral", HiddenSize: 64, NumLayers: 5, NumHeads: 8, NumKVHeads: 2, HeadDim: 8, IntermediateSize: 172, VocabSize: 512,
				RMSNormEps: 1e-6, RopeTheta: 10000, MaxPositionEmbeddings: 131072, SlidingWindow: 4096, BOS: 1, EOS: []int{2},
				RopeScaling: &RopeScaling{Type: "dynamic", Factor: 2}},
		},
		{
			name: "mistral v0.3 null window, default rope type, head_dim not hidden/heads",
			json: `{"model_type": "mistral", ` + base + `, "head_dim": 16, "sliding_window": null, "rope_scaling": {"rope_type": "default"}, "max_position_embeddings": 32768}`,
			want: Config{Architecture: "mistral", HiddenSize: 64, NumLayers: 5, NumHeads: 8, NumKVHeads: 8, HeadDim: 16, IntermediateSize: 172, VocabSize: 512,
				RMSNormEps: 1e-6, RopeTheta: 10000, MaxPositionEmbeddings: 32768, BOS: 1, EOS: []int{2}},
		},
		{
			name: "qwen2: bias always, no bos, sliding window unused",
			json: `{"model_type": "qwen2", ` + base + `, "num_key_value_heads": 1, "tie_word_embeddings": true, "use_sliding_window": false, "sliding_window": 32768,
				"max_window_layers": 21, "eos_token_id": 151645, "rope_theta": 1000000.0, "rope_scaling": null, "dtype": "bfloat16"}`,
			want: Config{Architecture: "qwen2", HiddenSize: 64, NumLayers: 5, NumHeads: 8, NumKVHeads: 1, HeadDim: 8, IntermediateSize: 172, VocabSize: 512,
				RMSNormEps: 1e-6, RopeTheta: 1e6, MaxPositionEmbeddings: 32768, TieWordEmbeddings: true, AttentionBias: true, BOS: -1, EOS: []int{151645}, TorchDType: "bfloat16"},
		},
		{
			name: "llama attention_bias: q, k, v and o_proj",
			json: `{"model_type": "llama", ` + base + `, "attention_bias": true}`,
			want: Config{Architecture: "llama", HiddenSize: 64, NumLayers: 5, NumHeads: 8, NumKVHeads: 8, HeadDim: 8, IntermediateSize: 172, VocabSize: 512,
				RMSNormEps: 1e-6, RopeTheta: 10000, MaxPositionEmbeddings: 2048, AttentionBias: true, OProjBias: true, BOS: 1, EOS: []int{2}},
		},
		{
			name: "mistral ignores attention_bias (no bias in MistralAttention)",
			json: `{"model_type": "mistral", ` + base + `, "attention_bias": true, "sliding_window": null}`,
			want: Config{Architecture: "mistral", HiddenSize: 64, NumLayers: 5, NumHeads: 8, NumKVHeads: 8, HeadDim: 8, IntermediateSize: 172, VocabSize: 512,
				RMSNormEps: 1e-6, RopeTheta: 10000, MaxPositionEmbeddings: 131072, BOS: 1, EOS: []int{2}},
		},
		{
			name: "partial_rotary_factor 1 rotates the whole head",
			json: `{"model_type": "llama", ` + base + `, "partial_rotary_factor": 1.0}`,
			want: Config{Architecture: "llama", HiddenSize: 64, NumLayers: 5, NumHeads: 8, NumKVHeads: 8, HeadDim: 8, IntermediateSize: 172, VocabSize: 512,
				RMSNormEps: 1e-6, RopeTheta: 10000, MaxPositionEmbeddings: 2048, BOS: 1, EOS: []int{2}},
		},
		{
			name: "transformers v5 rope_parameters carry rope_theta",
			json: `{"model_type": "llama", ` + base + `, "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0}}`,
			want: Config{Architecture: "llama", HiddenSize: 64, NumLayers: 5, NumHeads: 8, NumKVHeads: 8, HeadDim: 8, IntermediateSize: 172, VocabSize: 512,
				RMSNormEps: 1e-6, RopeTheta: 500000, MaxPositionEmbeddings: 2048, BOS: 1, EOS: []int{2}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseConfig([]byte(tt.json), "config.json")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", *got, tt.want)
			}
			if got.KVGroup() != tt.want.NumHeads/tt.want.NumKVHeads {
				t.Errorf("KVGroup = %d", got.KVGroup())
			}
			// JSON writes a config that parses back to the same Config.
			again, err := ParseConfig(got.JSON(), "roundtrip")
			if err != nil {
				t.Fatalf("JSON round trip: %v\n%s", err, got.JSON())
			}
			if !reflect.DeepEqual(again, got) {
				t.Fatalf("JSON round trip changed the config:\n%+v\n%+v\n%s", *again, *got, got.JSON())
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	const base = `"hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 5, "num_attention_heads": 8, "vocab_size": 512`
	tests := []struct {
		name, json, want string
	}{
		{"not json", `{"model_type": `, "not a JSON object"},
		{"json list", `[1, 2]`, "not a JSON object"},
		{"unknown model_type", `{"model_type": "gpt2", ` + base + `}`, `model_type "gpt2" is not supported (supported: llama, mistral, qwen2)`},
		{"unknown architecture", `{"architectures": ["GPT2LMHeadModel"], ` + base + `}`, "not supported (supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM)"},
		{"no family", `{` + base + `}`, "no model_type or architectures"},
		{"missing hidden_size", `{"model_type": "llama", "intermediate_size": 172, "num_hidden_layers": 5, "num_attention_heads": 8, "vocab_size": 512}`, "hidden_size must be a positive integer, got 0"},
		{"negative layers", `{"model_type": "llama", ` + strings.Replace(base, `"num_hidden_layers": 5`, `"num_hidden_layers": -1`, 1) + `}`, "num_hidden_layers must be a positive integer, got -1"},
		{"fractional size", `{"model_type": "llama", ` + strings.Replace(base, `"vocab_size": 512`, `"vocab_size": 51.5`, 1) + `}`, "vocab_size: want an integer, got 51.5"},
		{"string size", `{"model_type": "llama", ` + strings.Replace(base, `"vocab_size": 512`, `"vocab_size": "512"`, 1) + `}`, `vocab_size: want an integer, got "512"`},
		{"heads not divisible by kv heads", `{"model_type": "llama", ` + base + `, "num_key_value_heads": 3}`, "num_attention_heads 8 must be a positive multiple of num_key_value_heads 3"},
		{"hidden not heads*head_dim", `{"model_type": "llama", ` + strings.Replace(base, `"hidden_size": 64`, `"hidden_size": 60`, 1) + `}`, "hidden_size 60 is not a multiple of num_attention_heads 8"},
		{"odd head_dim", `{"model_type": "llama", ` + base + `, "head_dim": 7}`, "head_dim must be a positive even integer"},
		{"yarn", `{"model_type": "qwen2", ` + base + `, "rope_scaling": {"type": "yarn", "factor": 4}}`, `rope type "yarn" is not supported (supported: default, linear, dynamic, llama3)`},
		{"longrope", `{"model_type": "llama", ` + base + `, "rope_scaling": {"rope_type": "longrope", "factor": 4}}`, `rope type "longrope" is not supported`},
		{"linear without factor", `{"model_type": "llama", ` + base + `, "rope_scaling": {"rope_type": "linear"}}`, "linear rope scaling needs a positive factor"},
		{"llama3 incomplete", `{"model_type": "llama", ` + base + `, "rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 4, "high_freq_factor": 1, "original_max_position_embeddings": 8192}}`, "llama3 rope scaling needs 0 < low_freq_factor < high_freq_factor"},
		{"qwen2 sliding window in use", `{"model_type": "qwen2", ` + base + `, "use_sliding_window": true, "sliding_window": 1024, "max_window_layers": 2, "max_position_embeddings": 4096}`, "use_sliding_window with sliding_window 1024 on layers 2..4 is not supported"},
		{"gelu", `{"model_type": "llama", ` + base + `, "hidden_act": "gelu"}`, `hidden_act "gelu" is not supported`},
		{"mlp bias", `{"model_type": "llama", ` + base + `, "mlp_bias": true}`, "mlp_bias true is not supported"},
		{"bad eos", `{"model_type": "llama", ` + base + `, "eos_token_id": [2, "x"]}`, `eos_token_id: want an integer, got "x"`},
		{"partial rotary", `{"model_type": "llama", ` + base + `, "partial_rotary_factor": 0.5}`, "partial_rotary_factor 0.5 is not supported: transformers' Llama, Mistral and Qwen2 attention rotates the whole head"},
		{"partial rotary in rope_parameters", `{"model_type": "qwen2", ` + base + `, "rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "partial_rotary_factor": 0.25}}`, "rope_parameters: partial_rotary_factor 0.25 is not supported"},
		{"partial rotary not a number", `{"model_type": "mistral", ` + base + `, "partial_rotary_factor": "half"}`, `partial_rotary_factor: want a number, got "half"`},
		{"zero rope_theta", `{"model_type": "llama", ` + base + `, "rope_theta": 0}`, "rope_theta must be positive"},
		{"huge vocab", `{"model_type": "llama", ` + strings.Replace(base, `"vocab_size": 512`, `"vocab_size": 1e12`, 1) + `}`, "vocab_size 1000000000000 is implausibly large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.json), "dir/config.json")
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "dir/config.json") {
				t.Fatalf("error %q, want it to start with the file name and contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadConfigMissing(t *testing.T) {
	_, err := LoadConfig(filepath.Join(t.TempDir(), "config.json"))
	if err == nil || !os.IsNotExist(errorsUnwrapAll(err)) {
		t.Fatalf("err = %v, want a not-exist error", err)
	}
}

func errorsUnwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func FuzzConfig(f *testing.F) {
	f.Add([]byte(`{"model_type": "llama", "hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 5, "num_attention_heads": 8, "num_key_value_heads": 4, "vocab_size": 512}`))
	f.Add([]byte(`{"model_type": "mistral", "hidden_size": 64, "intermediate_size": 1, "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 5, "sliding_window": null, "eos_token_id": [1, 2]}`))
	f.Add([]byte(`{"model_type": "qwen2", "hidden_size": 8, "intermediate_size": 1, "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 5, "use_sliding_window": true, "rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 8192}}`))
	f.Add([]byte(`{"architectures": ["MistralForCausalLM"], "rope_parameters": {"rope_theta": 1e30, "rope_type": "dynamic", "factor": 1e-300}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data, "fuzz")
		if err != nil {
			return
		}
		// Every accepted config satisfies the invariants the loader relies on.
		if c.HiddenSize <= 0 || c.NumLayers <= 0 || c.NumKVHeads <= 0 || c.NumHeads%c.NumKVHeads != 0 || c.HeadDim <= 0 || c.HeadDim%2 != 0 ||
			c.VocabSize <= 0 || c.IntermediateSize <= 0 || c.MaxPositionEmbeddings <= 0 || c.RopeTheta <= 0 {
			t.Fatalf("accepted an invalid config: %+v", c)
		}
		again, err := ParseConfig(c.JSON(), "again")
		if err != nil {
			t.Fatalf("JSON of an accepted config does not parse: %v\n%s", err, c.JSON())
		}
		if again.HiddenSize != c.HiddenSize || again.HeadDim != c.HeadDim || again.SlidingWindow != c.SlidingWindow || again.NumKVHeads != c.NumKVHeads {
			t.Fatalf("round trip changed the config: %+v -> %+v", c, again)
		}
	})
}
