package model_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compresskv/compresskv/internal/sumcache"
	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/model/modeltest"
	"github.com/compresskv/compresskv/safetensors"
)

// manifestFingerprint computes a checkpoint's fingerprint as docs/
// profile-schema.md tells a user to: sha256sum config.json and the
// safetensors files (in name order), then the SHA-256 of that output.
func manifestFingerprint(t *testing.T, dir string, weightFiles ...string) string {
	t.Helper()
	var manifest strings.Builder
	for _, name := range append([]string{"config.json"}, weightFiles...) {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&manifest, "%x  %s\n", sha256.Sum256(data), name)
	}
	sum := sha256.Sum256([]byte(manifest.String()))
	return hex.EncodeToString(sum[:])
}

func loadFingerprint(t *testing.T, dir string, opts model.LoadOptions) string {
	t.Helper()
	m, err := model.Load(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	return m.Fingerprint()
}

// TestFingerprintCoversWeights: the fingerprint is the sha256sum manifest
// hash of the checkpoint's files, so one changed weight byte (same shapes,
// a fine-tune) changes it, as do other seeds and dtypes.
func TestFingerprintCoversWeights(t *testing.T) {
	cfgJSON := tinyConfig("llama", 32, 4, 2, 8, "")
	write := func(seed int64, dtype kernels.DType) string {
		dir := t.TempDir()
		if _, err := modeltest.RandomCheckpoint(dir, cfgJSON, seed, dtype); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	dir := write(1, kernels.F32)
	a := loadFingerprint(t, dir, model.LoadOptions{})
	if want := manifestFingerprint(t, dir, "model.safetensors"); a != want {
		t.Fatalf("fingerprint %s, want the manifest hash %s", a, want)
	}
	b, c := loadFingerprint(t, write(2, kernels.F32), model.LoadOptions{}), loadFingerprint(t, write(1, kernels.BF16), model.LoadOptions{})
	if a == b || a == c || b == c {
		t.Fatalf("fingerprints of seed 1, seed 2, seed 1 bf16: %s %s %s; want three different", a, b, c)
	}

	// One weight byte: the lowest mantissa byte of one value of the last
	// tensor. The checkpoint still loads (same header, same shapes).
	path := filepath.Join(dir, "model.safetensors")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-4] ^= 1
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	edited := loadFingerprint(t, dir, model.LoadOptions{})
	if edited == a || edited != manifestFingerprint(t, dir, "model.safetensors") {
		t.Fatalf("after one weight byte changed: %s (was %s), want the new manifest hash %s", edited, a, manifestFingerprint(t, dir, "model.safetensors"))
	}
}

// TestFingerprintShards: a checkpoint in two files lists both, in name
// order, and hashing them (several at once) reports every byte once.
func TestFingerprintShards(t *testing.T) {
	cfgJSON := tinyConfig("llama", 32, 4, 2, 8, "")
	cfg, err := model.ParseConfig(cfgJSON, "config.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tensors := modeltest.Tensors(cfg, model.RandomWeights(cfg, kernels.F32, 1))
	half := len(tensors) / 2
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfgJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, part := range map[string][]safetensors.WriteTensor{"part-b.safetensors": tensors[:half], "part-a.safetensors": tensors[half:]} {
		if err := safetensors.WriteFile(filepath.Join(dir, name), part, nil); err != nil {
			t.Fatal(err)
		}
	}
	var total, last int64
	calls := 0
	fp := loadFingerprint(t, dir, model.LoadOptions{HashProgress: func(done, tot int64) {
		if done < last || (total != 0 && tot != total) {
			t.Errorf("progress went %d -> %d of %d (total was %d)", last, done, tot, total)
		}
		last, total = done, tot
		calls++
	}})
	if want := manifestFingerprint(t, dir, "part-a.safetensors", "part-b.safetensors"); fp != want {
		t.Fatalf("fingerprint %s, want %s", fp, want)
	}
	var size int64
	for _, name := range []string{"part-a.safetensors", "part-b.safetensors"} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		size += info.Size()
	}
	if calls < 2 || last != size || total != size {
		t.Fatalf("progress: %d calls, last %d of %d; want at least one per file, ending at %d of %d", calls, last, total, size, size)
	}
}

// TestFingerprintCache: a weight file the cache knows (same path, size,
// times) is not hashed again: a sum planted in the cache is what the
// fingerprint uses, and no byte is reported hashed. Touching the file
// makes the entry a miss, and the true sum is back.
func TestFingerprintCache(t *testing.T) {
	dir := t.TempDir()
	if _, err := modeltest.RandomCheckpoint(dir, tinyConfig("llama", 32, 4, 2, 8, ""), 1, kernels.F32); err != nil {
		t.Fatal(err)
	}
	cache := sumcache.Cache{Dir: filepath.Join(t.TempDir(), "sums")}
	var hashed int64
	opts := model.LoadOptions{SumCache: cache, HashProgress: func(done, _ int64) { hashed = done }}
	truth := manifestFingerprint(t, dir, "model.safetensors")
	if got := loadFingerprint(t, dir, opts); got != truth || hashed == 0 {
		t.Fatalf("first load: %s after hashing %d bytes, want %s after hashing the file", got, hashed, truth)
	}
	// The first load filled the cache with the true sum: a second load
	// hashes nothing and gets the same fingerprint.
	hashed = 0
	if got := loadFingerprint(t, dir, opts); got != truth || hashed != 0 {
		t.Fatalf("second load: %s after hashing %d bytes, want %s from the cache", got, hashed, truth)
	}
	// Plant another sum for the file: a load that read the file would
	// compute the true one, a load that trusts the cache uses the planted.
	path := filepath.Join(dir, "model.safetensors")
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	planted := sha256.Sum256([]byte("not the file"))
	if err := cache.Put(path, info, planted); err != nil {
		t.Fatal(err)
	}
	cfgData, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	manifest := fmt.Sprintf("%x  config.json\n%x  model.safetensors\n", sha256.Sum256(cfgData), planted)
	plantedFP := fmt.Sprintf("%x", sha256.Sum256([]byte(manifest)))
	if got := loadFingerprint(t, dir, opts); got != plantedFP {
		t.Fatalf("with a planted cache entry: %s, want %s (the cache was not used)", got, plantedFP)
	}
	// A new modification time invalidates the entry: the file is hashed
	// again and the true fingerprint is back (and cached).
	later := info.ModTime().Add(2 * time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	hashed = 0
	if got := loadFingerprint(t, dir, opts); got != truth || hashed != info.Size() {
		t.Fatalf("after touching the file: %s after hashing %d bytes, want %s after hashing %d", got, hashed, truth, info.Size())
	}
}
