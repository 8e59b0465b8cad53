package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/compresskv/compresskv/internal/sumcache"
	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/hfhub"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/model/tokenizer"
	"github.com/compresskv/compresskv/profile"
	"github.com/compresskv/compresskv/profile/schema"
	"github.com/compresskv/compresskv/safetensors"
)

// loadedModel is the loaded model of a command, from --model or the
// built-in synthetic model, and the folder of its tokenizer (--tokenizer or
// the model folder).
type loadedModel struct {
	model        *model.Model
	dir          string
	name         string // how errors name the folder: "--model DIR" or "the built-in synthetic model"
	tokenizerDir string
	tok          *tokenizer.Tokenizer
	snapshot     hfhub.Snapshot       // the Hugging Face id and revision --model named, if it named one
	session      model.SessionOptions // --chunk and --kv-dtype, resolved for the model
	cleanup      func()               // removes a temporary copy of the synthetic model
}

// addModelFlags declares --model and --tokenizer of the commands that run
// the built-in synthetic model when --model is not given.
func addModelFlags(fs *pflag.FlagSet, modelDir, tokenizerDir *string) {
	fs.StringVar(modelDir, "model", "", "Hugging Face checkpoint folder (config.json + *.safetensors), or a model id org/name[@revision] in the local Hugging Face cache; empty: the built-in synthetic model")
	fs.StringVar(tokenizerDir, "tokenizer", "", "folder with tokenizer.json (default: the model folder)")
}

// runtimeFlags are the forward-pass settings every command that runs the
// model takes: they change memory and speed, and (bf16, rope) the numbers.
type runtimeFlags struct {
	Chunk   int    // --chunk: prefill chunk size in tokens
	KVDType string // --kv-dtype: f32 or bf16
	Rope    string // --rope: hf or exact
	Compute string // --compute: f32 or bf16
	AMX     bool   // --amx: bf16 products on AMX tiles where the CPU has them
}

func addRuntimeFlags(fs *pflag.FlagSet, rf *runtimeFlags) {
	fs.IntVar(&rf.Chunk, "chunk", model.DefaultChunkSize, "prefill chunk size in tokens")
	fs.StringVar(&rf.KVDType, "kv-dtype", "f32", "KV cache storage: f32, or bf16 (half the memory of long prompts, slightly different scores)")
	fs.StringVar(&rf.Rope, "rope", model.RopeHF.String(), "RoPE arithmetic: hf (Hugging Face's float32 angles, as the model was trained) or exact (float64 angles)")
	fs.StringVar(&rf.Compute, "compute", "f32", "arithmetic of the layer projections and prefill attention: f32, or bf16 (bf16 activations, weights, keys, values and attention weights, float32 sums, as a GPU's bf16 matmul and flash attention; about twice as fast on CPUs with AVX512_BF16, 3.5-5.6x on CPUs with AMX)")
	fs.BoolVar(&rf.AMX, "amx", true, "with --compute bf16, multiply on Intel AMX tiles where the CPU has them (Sapphire Rapids and later); their sums round differently from VDPBF16PS, so profiles record tool.arithmetic with +amx; false: the bits of every other AVX512_BF16 CPU")
}

// options turns the flags into session and load options, or a usage error.
func (rf runtimeFlags) options() (model.SessionOptions, model.LoadOptions, error) {
	if rf.Chunk <= 0 {
		return model.SessionOptions{}, model.LoadOptions{}, usagef("--chunk %d: want a positive chunk size", rf.Chunk)
	}
	kv, err := model.ParseCacheDType(rf.KVDType)
	if err != nil {
		return model.SessionOptions{}, model.LoadOptions{}, usagef("--kv-dtype: %v", err)
	}
	rope, err := model.ParseRopeArithmetic(strings.ToLower(rf.Rope))
	if err != nil {
		return model.SessionOptions{}, model.LoadOptions{}, usagef("--rope %q: want hf or exact", rf.Rope)
	}
	compute, err := model.ParseComputeDType(rf.Compute)
	if err != nil {
		return model.SessionOptions{}, model.LoadOptions{}, usagef("--compute %q: want f32 or bf16", rf.Compute)
	}
	return model.SessionOptions{Chunk: rf.Chunk, CacheDType: kv, Rope: rope}, model.LoadOptions{Compute: compute}, nil
}

// load checks the flags, loads the model and resolves the session options
// for it (see loadModel). Warnings about the flags, and the progress of
// hashing the weights for the model fingerprint, go to warn.
func (rf runtimeFlags) load(modelDir, tokenizerDir string, warn io.Writer) (*loadedModel, error) {
	o, lo, err := rf.options()
	if err != nil {
		return nil, err
	}
	// Before any kernel runs: the arithmetic the profile will record.
	kernels.SetAMX(rf.AMX)
	if lo.Compute == model.ComputeBF16 && !kernels.HasBF16Dot() {
		// Same numbers either way (the twin is bit-exact); only the speed
		// the user asked bf16 for is missing.
		fmt.Fprintln(warn, "compresskv: warning: --compute bf16: this CPU has no AVX512_BF16 instructions, so the bf16 projections run on the pure-Go path, slower than --compute f32 (the results are the same as on a CPU that has them)")
	}
	lo.SumCache = weightSumCache()
	hashing := newByteProgress(warn, isTerminal(warn), "hashing weights")
	lo.HashProgress = hashing.update
	lm, err := loadModel(modelDir, tokenizerDir, lo)
	hashing.finish()
	if err != nil {
		return nil, err
	}
	if lm.session, err = o.Resolve(lm.model.Config()); err != nil {
		lm.close()
		return nil, usagef("%v", err)
	}
	return lm, nil
}

// weightsChanged reports whether a run failed because a weight file was
// truncated or rewritten under its mapping (the model's reads then fail
// with a safetensors.ChangedError instead of SIGBUS): its checkpoint holds
// what finished before, and the same command resumes once the file is
// restored.
func weightsChanged(err error) bool {
	var changed *safetensors.ChangedError
	return errors.As(err, &changed)
}

// weightSumCache is where the SHA-256 of each weight file is kept between
// runs (sumcache.DefaultDir: the user's cache folder, beside the built-in
// model), so the fingerprint of an 8B checkpoint costs its ~10 s of
// hashing once per machine, not once per run or per output. Files under
// sumcache.DefaultMinSize are hashed every time (tens of ms at most) and
// leave no entry. Without a user cache folder nothing is cached and every
// run hashes.
func weightSumCache() sumcache.Cache {
	dir, err := sumcache.DefaultDir()
	if err != nil {
		return sumcache.Cache{}
	}
	return sumcache.Cache{Dir: dir, MinSize: sumcache.DefaultMinSize}
}

// computeName is the compute dtype as profiles record it: empty for f32
// (the field is then absent, as in files written before it existed).
func (c *loadedModel) computeName() string {
	if cd := c.model.Compute(); cd != model.ComputeF32 {
		return cd.String()
	}
	return ""
}

// loadModel loads --model (empty: the built-in synthetic model, written to
// the user cache on first use); the tokenizer is read from
// tokenizerDir (empty: the model folder) when asked for; lo says how the
// weights are held. Close it when the command is done.
func loadModel(modelDir, tokenizerDir string, lo model.LoadOptions) (*loadedModel, error) {
	c := &loadedModel{dir: modelDir, name: "--model " + modelDir, tokenizerDir: tokenizerDir, cleanup: func() {}}
	if modelDir == "" {
		dir, cleanup, err := syntheticModelDir()
		if err != nil {
			return nil, fmt.Errorf("the built-in synthetic model: %w", err)
		}
		c.dir, c.name, c.cleanup = dir, "the built-in synthetic model", cleanup
	} else {
		snap, err := hfhub.Resolve(modelDir, hfhub.Env{})
		if err != nil {
			return nil, usagef("--model %w", err)
		}
		c.dir, c.snapshot = snap.Dir, snap
	}
	if c.tokenizerDir == "" {
		c.tokenizerDir = c.dir
	}
	m, err := loadCheckedModel(c.dir, c.name, lo)
	if err != nil {
		c.cleanup()
		return nil, err
	}
	c.model = m
	return c, nil
}

// info is the model as a profile records it: shape, fingerprint and, when
// --model named a Hugging Face id, the id, revision and commit.
func (c *loadedModel) info() schema.Model {
	m := profile.ModelInfo(c.model)
	m.ID, m.Revision, m.Commit = c.snapshot.ID, c.snapshot.Revision, c.snapshot.Commit
	return m
}

// close closes the model and removes what loadModel wrote for this run only.
func (c *loadedModel) close() {
	c.model.Close()
	c.cleanup()
}

// loadCheckedModel checks that dir is a checkpoint folder and loads it. A
// path that is not one is a usage error naming it (as name); problems inside
// the checkpoint (an unsupported model_type, missing tensors) are plain
// errors from the model package, which name the file.
func loadCheckedModel(dir, name string, lo model.LoadOptions) (*model.Model, error) {
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, usagef("%s: no such folder (want a Hugging Face checkpoint folder: config.json + *.safetensors)", name)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", name, err)
	case !info.IsDir():
		return nil, usagef("%s: not a folder (want a Hugging Face checkpoint folder: config.json + *.safetensors)", name)
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); errors.Is(err, fs.ErrNotExist) {
		return nil, usagef("%s: no config.json in this folder (want a Hugging Face checkpoint folder: config.json + *.safetensors)", name)
	}
	return model.Load(dir, lo)
}

// tokenizer loads tokenizer.json once (from --tokenizer or the model folder).
func (c *loadedModel) tokenizer() (*tokenizer.Tokenizer, error) {
	if c.tok != nil {
		return c.tok, nil
	}
	tok, err := loadTokenizer(c.tokenizerDir)
	if err != nil {
		return nil, err
	}
	c.tok = tok
	return tok, nil
}

// loadTokenizer loads a tokenizer; a folder without tokenizer.json is a
// usage error (exit 2), as a --model folder without config.json is: the
// path given was not what the flag wants.
func loadTokenizer(dir string) (*tokenizer.Tokenizer, error) {
	tok, err := tokenizer.Load(dir)
	if errors.Is(err, tokenizer.ErrNoTokenizer) {
		return nil, usageError{err}
	}
	return tok, err
}

// hasTokenizer reports whether the tokenizer folder holds a tokenizer.json
// (or --tokenizer names the file itself).
func (c *loadedModel) hasTokenizer() bool {
	info, err := os.Stat(c.tokenizerDir)
	if err != nil {
		return false
	}
	if !info.IsDir() {
		return true
	}
	_, err = os.Stat(filepath.Join(c.tokenizerDir, "tokenizer.json"))
	return err == nil
}
