package synth

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/tokenizer"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		layers int
		ok     bool
	}{{-1, false}, {0, true}, {1, false}, {2, true}, {3, true}, {MaxLayers, true}, {MaxLayers + 1, false}} {
		err := Options{Seed: 7, Layers: tc.layers}.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("Layers %d: Validate() = %v, want ok=%v", tc.layers, err, tc.ok)
		}
		planted := Planted(Options{Layers: tc.layers})
		if !tc.ok && planted != nil {
			t.Errorf("Layers %d: Planted returned heads for invalid options", tc.layers)
		}
		if tc.layers == 0 && len(planted) != DefaultLayers-1 {
			t.Errorf("Layers 0: %d planted heads, want the default model's %d", len(planted), DefaultLayers-1)
		}
	}
}

func TestHeadsRoles(t *testing.T) {
	positions := map[int]bool{}
	for seed := int64(0); seed < 20; seed++ {
		o := Options{Seed: seed, Layers: 4}
		heads, err := Heads(o)
		if err != nil {
			t.Fatal(err)
		}
		if len(heads) != o.Layers*numHeads {
			t.Fatalf("seed %d: %d heads, want %d", seed, len(heads), o.Layers*numHeads)
		}
		for l := 0; l < o.Layers; l++ {
			var roles []string
			var offsets []int
			for h, hd := range heads[l*numHeads : (l+1)*numHeads] {
				if hd.Layer != l || hd.Head != h || hd.KVHead != h/2 {
					t.Fatalf("seed %d: head %+v at layer %d index %d", seed, hd, l, h)
				}
				roles = append(roles, hd.Role)
				if hd.Role == RolePreviousToken {
					offsets = append(offsets, hd.Offset)
				}
			}
			slices.Sort(roles)
			slices.Sort(offsets)
			if l == 0 {
				if !slices.Equal(offsets, []int{1, 2, 3}) || slices.Contains(roles, RoleRetrieval) {
					t.Errorf("seed %d layer 0: roles %v offsets %v, want previous-token 1,2,3 and a distractor", seed, roles, offsets)
				}
				continue
			}
			want := []string{RoleLocal, RolePreviousToken, RoleRetrieval, RoleSink}
			if !slices.Equal(roles, want) {
				t.Errorf("seed %d layer %d: roles %v, want %v", seed, l, roles, want)
			}
		}
		planted := Planted(o)
		rh := RetrievalHeads(o)
		if len(planted) != o.Layers-1 || len(rh) != o.Layers-1 {
			t.Fatalf("seed %d: %d planted heads, %d in RetrievalHeads, want %d", seed, len(planted), len(rh), o.Layers-1)
		}
		for i, p := range planted {
			if p.Layer != i+1 || p.Role != RoleRetrieval || rh[p.Layer] != p.Head {
				t.Errorf("seed %d: planted %+v, RetrievalHeads %v", seed, p, rh)
			}
			positions[p.Head] = true
		}
	}
	if len(positions) != numHeads {
		t.Errorf("over 20 seeds the retrieval head only sat at indices %v; want every index used", positions)
	}
}

// writeModel writes the model of o into a temporary folder and loads it
// with the project's own loader and tokenizer.
func writeModel(t *testing.T, o Options) (*Info, *model.Model, *tokenizer.Tokenizer) {
	t.Helper()
	dir := t.TempDir()
	info, err := Write(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(dir, model.LoadOptions{})
	if err != nil {
		t.Fatalf("model.Load of the written folder: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatalf("tokenizer.Load of the written folder: %v", err)
	}
	return info, m, tok
}

func TestWriteLoads(t *testing.T) {
	o := Options{Seed: 3, Layers: 3}
	info, m, tok := writeModel(t, o)
	c := m.Config()
	if c.Architecture != "llama" || c.NumLayers != 3 || c.NumHeads != numHeads || c.NumKVHeads != numKVHeads ||
		c.HeadDim != headDim || c.HiddenSize != hiddenSize || c.RopeTheta != ropeTheta || c.TieWordEmbeddings ||
		c.MaxPositionEmbeddings != maxPositions {
		t.Errorf("loaded config %+v does not match the construction", c)
	}
	if c.VocabSize != tok.VocabSize() || c.VocabSize != info.Config.VocabSize {
		t.Errorf("vocab: config %d, tokenizer %d, info %d", c.VocabSize, tok.VocabSize(), info.Config.VocabSize)
	}
	if bos, ok := tok.BOS(); !ok || bos != c.BOS || bos != info.Config.BOSTokenID {
		t.Errorf("BOS: tokenizer %d (%v), config %d", bos, ok, c.BOS)
	}
	if ids := tok.Encode("The", true); len(ids) != 2 || ids[0] != c.BOS {
		t.Errorf("Encode(\"The\", true) = %v, want [BOS, The]", ids)
	}
	for _, name := range Files {
		data, err := os.ReadFile(filepath.Join(info.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if got := "sha256:" + hex.EncodeToString(sum[:]); info.Files[name] != got {
			t.Errorf("%s: Info.Files says %s, file hashes to %s", name, info.Files[name], got)
		}
	}
	var cfg map[string]any
	data, _ := os.ReadFile(filepath.Join(info.Dir, "config.json"))
	if err := json.Unmarshal(data, &cfg); err != nil || cfg["model_type"] != "llama" {
		t.Errorf("config.json: model_type %v, err %v", cfg["model_type"], err)
	}
	if !slices.Equal(info.Heads, mustHeads(t, o)) {
		t.Errorf("Info.Heads differ from Heads(o)")
	}
}

func mustHeads(t *testing.T, o Options) []Head {
	t.Helper()
	h, err := Heads(o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestWriteDeterministic(t *testing.T) {
	write := func(o Options) *Info {
		info, err := Write(t.TempDir(), o)
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	a, b := write(Options{Seed: 5, Layers: 3}), write(Options{Seed: 5, Layers: 3})
	for _, name := range Files {
		if a.Files[name] == "" || a.Files[name] != b.Files[name] {
			t.Errorf("%s: two writes of the same options hash to %s and %s", name, a.Files[name], b.Files[name])
		}
	}
	c := write(Options{Seed: 6, Layers: 3})
	if c.Files["model.safetensors"] == a.Files["model.safetensors"] {
		t.Errorf("seeds 5 and 6 wrote identical weights")
	}
	if c.Files["tokenizer.json"] != a.Files["tokenizer.json"] {
		t.Errorf("the tokenizer depends on the seed; it must not")
	}
}

func TestWriteRejectsBadOptions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m")
	if _, err := Write(dir, Options{Layers: 1}); err == nil {
		t.Fatal("Write with 1 layer succeeded")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("Write with bad options created %s", dir)
	}
}
