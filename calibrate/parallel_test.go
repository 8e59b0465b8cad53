package calibrate

import (
	"testing"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
)

func TestKVCacheBytes(t *testing.T) {
	// Llama-3.1-8B: 32 layers x 8 KV heads x 128 dims x K and V.
	cfg := &model.Config{NumLayers: 32, NumKVHeads: 8, HeadDim: 128}
	datasets := []Dataset{
		{Prompts: [][]int{make([]int, 100), make([]int, 32000)}, MaxNew: 768},
		{Prompts: [][]int{make([]int, 1000)}, MaxNew: 32},
	}
	// 32 x 8 x 128 x 2 x 4 = 262144 bytes per token in f32, x 32768 tokens = 8 GiB.
	if got, want := KVCacheBytes(*cfg, model.CacheF32, datasets), int64(8<<30); got != want {
		t.Errorf("f32: %d bytes, want %d", got, want)
	}
	if got, want := KVCacheBytes(*cfg, model.CacheBF16, datasets), int64(4<<30); got != want {
		t.Errorf("bf16: %d bytes, want %d", got, want)
	}
}

func TestParallelPrompts(t *testing.T) {
	const gib = int64(1 << 30)
	tests := []struct {
		threads     int
		cache, free int64
		want        int
	}{
		{64, 4 * gib, 24 * gib, 3},   // half of 24 GiB holds three 4 GiB caches, not 64
		{2, 10 << 20, 24 * gib, 2},   // small caches: one per thread
		{8, 16 * gib, 20 * gib, 1},   // not even one fits in half: still one
		{8, 4 * gib, 0, 1},           // free memory unknown: one at a time
		{4, 0, 0, 4},                 // no prompts to size (nothing to run)
		{1, 1 << 20, 64 * gib, 1},    // one thread
		{16, 1 * gib, 100 * gib, 16}, // plenty of memory
		{16, 1 * gib, 9*gib + 1, 4},  // 4.5 GiB of caches fit
	}
	for _, tt := range tests {
		if got := ParallelPrompts(tt.threads, tt.cache, tt.free); got != tt.want {
			t.Errorf("ParallelPrompts(%d threads, cache %d, free %d) = %d, want %d", tt.threads, tt.cache, tt.free, got, tt.want)
		}
	}
}

// TestForwardKey: the key journals were written with before this function
// existed (cmd built it by hand), f32 compute adding no field.
func TestForwardKey(t *testing.T) {
	so := model.SessionOptions{Chunk: 512, CacheDType: model.CacheBF16, Rope: model.RopeHF}
	if got, want := ForwardKey("sha256:ab", so, model.ComputeF32), "sha256:ab kv=bf16 chunk=512 rope=hf"; got != want {
		t.Errorf("f32: %q, want %q", got, want)
	}
	want := "sha256:ab kv=bf16 chunk=512 rope=hf compute=bf16 arithmetic=2026-12-02"
	if kernels.HasAMX() { // AMX tiles round their sums their own way
		want += "+amx"
	}
	if got := ForwardKey("sha256:ab", so, model.ComputeBF16); got != want {
		t.Errorf("bf16: %q, want %q", got, want)
	}
	if got, want := JournalPath("out/p.json"), "out/p.json.calibrate.jsonl"; got != want {
		t.Errorf("JournalPath = %q, want %q", got, want)
	}
}
