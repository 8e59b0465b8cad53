package safetensors

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeShards writes a two-shard checkpoint into dir and returns the index
// JSON it used.
func writeShards(t *testing.T, dir string, index string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(WriteFile(filepath.Join(dir, "model-00001-of-00002.safetensors"), []WriteTensor{
		{Name: "model.embed_tokens.weight", DType: BF16, Shape: []int{2, 2}, Data: BF16Bytes([]float32{1, 2, 3, 4})},
		{Name: "model.norm.weight", DType: F32, Shape: []int{2}, Data: F32Bytes([]float32{0.5, 0.25})},
	}, map[string]string{"format": "pt"}))
	must(WriteFile(filepath.Join(dir, "model-00002-of-00002.safetensors"), []WriteTensor{
		{Name: "lm_head.weight", DType: F16, Shape: []int{1, 2}, Data: F16Bytes([]float32{-1, 8})},
	}, nil))
	if index != "" {
		must(os.WriteFile(filepath.Join(dir, IndexFileName), []byte(index), 0o644))
	}
}

const goodIndex = `{"metadata": {"total_size": 18}, "weight_map": {
  "lm_head.weight": "model-00002-of-00002.safetensors",
  "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
  "model.norm.weight": "model-00001-of-00002.safetensors"}}`

func TestSetSharded(t *testing.T) {
	dir := t.TempDir()
	writeShards(t, dir, goodIndex)
	s, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wantNames := []string{"lm_head.weight", "model.embed_tokens.weight", "model.norm.weight"}
	if !slices.Equal(s.Names(), wantNames) {
		t.Errorf("Names = %v, want %v", s.Names(), wantNames)
	}
	if s.Dir() != dir {
		t.Errorf("Dir = %q, want %q", s.Dir(), dir)
	}
	if len(s.Files()) != 2 {
		t.Errorf("%d files, want 2", len(s.Files()))
	}
	tests := []struct {
		name  string
		shard string
		want  []float32
	}{
		{"model.embed_tokens.weight", "model-00001-of-00002.safetensors", []float32{1, 2, 3, 4}},
		{"model.norm.weight", "model-00001-of-00002.safetensors", []float32{0.5, 0.25}},
		{"lm_head.weight", "model-00002-of-00002.safetensors", []float32{-1, 8}},
	}
	for _, tt := range tests {
		tensor, err := s.Tensor(tt.name)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(tensor.File) != tt.shard {
			t.Errorf("%s read from %s, want %s", tt.name, tensor.File, tt.shard)
		}
		v, err := tensor.Float32s()
		if err != nil || !equalFloats(v, tt.want) {
			t.Errorf("%s = %v, %v; want %v", tt.name, v, err, tt.want)
		}
		if info, ok := s.Info(tt.name); !ok || info.Name != tt.name {
			t.Errorf("Info(%s) = %v, %v", tt.name, info, ok)
		}
	}
	if _, err := s.Tensor("model.layers.0.self_attn.q_proj.weight"); !contains(err, `tensor "model.layers.0.self_attn.q_proj.weight": not in the checkpoint (3 tensors in 2 files)`) {
		t.Errorf("missing tensor: err = %v", err)
	}
	if _, ok := s.Info("nope"); ok {
		t.Error(`Info("nope") found something`)
	}
}

func TestSetLayouts(t *testing.T) {
	t.Run("single file wins over other files", func(t *testing.T) {
		dir := t.TempDir()
		if err := WriteFile(filepath.Join(dir, SingleFileName), []WriteTensor{{Name: "w", DType: U8, Shape: []int{1}, Data: []byte{1}}}, nil); err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(filepath.Join(dir, "reference.safetensors"), []WriteTensor{{Name: "logits", DType: U8, Shape: []int{1}, Data: []byte{1}}}, nil); err != nil {
			t.Fatal(err)
		}
		s, err := OpenDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if !slices.Equal(s.Names(), []string{"w"}) {
			t.Errorf("Names = %v, want [w]", s.Names())
		}
	})
	t.Run("fallback to every safetensors file", func(t *testing.T) {
		dir := t.TempDir()
		writeShards(t, dir, "")
		s, err := OpenDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if len(s.Names()) != 3 || len(s.Files()) != 2 {
			t.Errorf("fallback opened %v in %d files", s.Names(), len(s.Files()))
		}
	})
	t.Run("path to one file", func(t *testing.T) {
		dir := t.TempDir()
		writeShards(t, dir, "")
		s, err := OpenDir(filepath.Join(dir, "model-00002-of-00002.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if !slices.Equal(s.Names(), []string{"lm_head.weight"}) {
			t.Errorf("Names = %v", s.Names())
		}
	})
}

// TestSetErrors checks each way a checkpoint folder can be broken.
func TestSetErrors(t *testing.T) {
	shard1, shard2 := "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
	tests := []struct {
		name  string
		index string
		setup func(dir string) error
		want  string
	}{
		{"missing shard", strings.Replace(goodIndex, shard2, "model-00003-of-00003.safetensors", 1), nil,
			`weight_map names shard "model-00003-of-00003.safetensors" (for tensor "lm_head.weight" and others), but it is missing`},
		{"shard lacks tensor", strings.Replace(goodIndex, `"model.norm.weight"`, `"model.final_norm.weight"`, 1), nil,
			`tensor "model.final_norm.weight": weight_map places it in shard "` + shard1 + `", but that shard lacks it`},
		{"tensor in another shard", strings.Replace(goodIndex, `"model.embed_tokens.weight": "`+shard1, `"model.embed_tokens.weight": "`+shard2, 1), nil,
			`tensor "model.embed_tokens.weight": weight_map places it in shard "` + shard2 + `", but it is in`},
		{"tensor in two shards", goodIndex, func(dir string) error {
			return WriteFile(filepath.Join(dir, shard2), []WriteTensor{
				{Name: "lm_head.weight", DType: U8, Shape: []int{1}, Data: []byte{1}},
				{Name: "model.norm.weight", DType: U8, Shape: []int{1}, Data: []byte{1}},
			}, nil)
		}, `tensor "model.norm.weight" is in two files`},
		{"index not JSON", `{"weight_map": {"a": `, nil, "malformed index: not valid JSON (near byte 20): unexpected EOF"},
		{"index not object", `[]`, nil, "malformed index: not a JSON object"},
		{"index without weight_map", `{"metadata": {}}`, nil, "malformed index: no weight_map"},
		{"weight_map value not string", `{"weight_map": {"a": 3}}`, nil, `malformed index: weight_map["a"] is number 3, want a shard file name`},
		{"tensor listed twice", `{"weight_map": {"a": "x.safetensors", "a": "y.safetensors"}}`, nil, `tensor "a": listed twice in weight_map (shards "x.safetensors" and "y.safetensors")`},
		{"shard outside the folder", `{"weight_map": {"a": "../x.safetensors"}}`, nil, `shard "../x.safetensors" is not a plain file name in the checkpoint folder`},
		{"bad shard file", goodIndex, func(dir string) error {
			return os.WriteFile(filepath.Join(dir, shard2), []byte{1, 2, 3}, 0o644)
		}, shard2 + ": file is 3 bytes, shorter than the 8-byte header length prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeShards(t, dir, tt.index)
			if tt.setup != nil {
				if err := tt.setup(dir); err != nil {
					t.Fatal(err)
				}
			}
			s, err := OpenDir(dir)
			if err == nil {
				s.Close()
				t.Fatal("OpenDir succeeded")
			}
			if !contains(err, tt.want) {
				t.Errorf("err = %v\n\twant it to contain %q", err, tt.want)
			}
		})
	}
	t.Run("empty folder", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := OpenDir(dir); !contains(err, "no model.safetensors.index.json, model.safetensors or *.safetensors file in the folder") {
			t.Errorf("err = %v", err)
		}
	})
}
