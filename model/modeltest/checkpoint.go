package modeltest

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"

	"github.com/compresskv/compresskv/internal/atomicfile"
	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/safetensors"
)

// WriteCheckpoint writes a Hugging Face checkpoint folder dir holding
// config.json (cfg.JSON()) and model.safetensors with every tensor of w:
// matrices in their stored dtype, vectors (norms, biases) in the dtype of
// the embedding matrix (rounded when 16-bit). dir is created if needed.
func WriteCheckpoint(dir string, cfg *model.Config, w *model.Weights) error {
	return writeCheckpoint(dir, cfg.JSON(), cfg, w)
}

// RandomCheckpoint parses cfgJSON, draws model.RandomWeights(cfg, dtype,
// seed) and writes them to dir with cfgJSON verbatim as config.json, so
// tests can exercise any config.json spelling. It returns the parsed config.
func RandomCheckpoint(dir string, cfgJSON []byte, seed int64, dtype kernels.DType) (*model.Config, error) {
	cfg, err := model.ParseConfig(cfgJSON, "config.json")
	if err != nil {
		return nil, err
	}
	return cfg, writeCheckpoint(dir, cfgJSON, cfg, model.RandomWeights(cfg, dtype, seed))
}

func writeCheckpoint(dir string, cfgJSON []byte, cfg *model.Config, w *model.Weights) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if len(w.Layers) != cfg.NumLayers {
		return fmt.Errorf("weights have %d layers, config wants %d", len(w.Layers), cfg.NumLayers)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "config.json"), cfgJSON, 0o644); err != nil {
		return err
	}
	return safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), Tensors(cfg, w), map[string]string{"format": "pt"})
}

// Tensors returns every tensor of w named as in a Hugging Face checkpoint,
// ready for safetensors.WriteFile: matrices in their stored dtype, vectors
// (norms, biases) in the dtype of the embedding matrix. Tests that need a
// broken checkpoint edit this list before writing it.
func Tensors(cfg *model.Config, w *model.Weights) []safetensors.WriteTensor {
	vecType := w.EmbedTokens.DType
	var tensors []safetensors.WriteTensor
	mat := func(name string, m kernels.Matrix) {
		tensors = append(tensors, matrixTensor(name, m))
	}
	vec := func(name string, v []float32) {
		if v != nil {
			tensors = append(tensors, vectorTensor(name, v, vecType))
		}
	}
	mat("model.embed_tokens.weight", w.EmbedTokens)
	for i, lw := range w.Layers {
		p := fmt.Sprintf("model.layers.%d.", i)
		vec(p+"input_layernorm.weight", lw.InputLayernorm)
		mat(p+"self_attn.q_proj.weight", lw.QProj)
		mat(p+"self_attn.k_proj.weight", lw.KProj)
		mat(p+"self_attn.v_proj.weight", lw.VProj)
		mat(p+"self_attn.o_proj.weight", lw.OProj)
		vec(p+"self_attn.q_proj.bias", lw.QBias)
		vec(p+"self_attn.k_proj.bias", lw.KBias)
		vec(p+"self_attn.v_proj.bias", lw.VBias)
		vec(p+"self_attn.o_proj.bias", lw.OBias)
		vec(p+"post_attention_layernorm.weight", lw.PostAttentionLayernorm)
		mat(p+"mlp.gate_proj.weight", lw.GateProj)
		mat(p+"mlp.up_proj.weight", lw.UpProj)
		mat(p+"mlp.down_proj.weight", lw.DownProj)
	}
	vec("model.norm.weight", w.Norm)
	if !cfg.TieWordEmbeddings {
		mat("lm_head.weight", w.LMHead)
	}
	return tensors
}

// matrixTensor encodes m in its stored dtype.
func matrixTensor(name string, m kernels.Matrix) safetensors.WriteTensor {
	t := safetensors.WriteTensor{Name: name, Shape: []int{m.Rows, m.Cols}}
	switch m.DType {
	case kernels.F32:
		t.DType, t.Data = safetensors.F32, safetensors.F32Bytes(m.F32)
	case kernels.BF16, kernels.F16:
		t.DType = safetensors.BF16
		if m.DType == kernels.F16 {
			t.DType = safetensors.F16
		}
		t.Data = make([]byte, 2*len(m.U16))
		for i, u := range m.U16 {
			binary.LittleEndian.PutUint16(t.Data[2*i:], u)
		}
	}
	return t
}

// vectorTensor encodes v as dtype (F32, BF16 or F16).
func vectorTensor(name string, v []float32, dtype kernels.DType) safetensors.WriteTensor {
	t := safetensors.WriteTensor{Name: name, Shape: []int{len(v)}}
	switch dtype {
	case kernels.BF16:
		t.DType, t.Data = safetensors.BF16, safetensors.BF16Bytes(v)
	case kernels.F16:
		t.DType, t.Data = safetensors.F16, safetensors.F16Bytes(v)
	default:
		t.DType, t.Data = safetensors.F32, safetensors.F32Bytes(v)
	}
	return t
}
