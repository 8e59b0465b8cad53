package calibrate

import (
	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/plan"
)

// KVCacheBytes is the KV cache one prompt of datasets needs at its longest:
// keys and values of every layer and KV head for the longest prompt plus
// its generated tokens, in the cache's dtype.
func KVCacheBytes(cfg model.Config, cache model.CacheDType, datasets []Dataset) int64 {
	longest := 0
	for _, d := range datasets {
		for _, p := range d.Prompts {
			longest = max(longest, len(p)+d.MaxNew)
		}
	}
	return plan.ShapeOf(cfg).KVBytesPerPosition(cache.Bytes()) * int64(longest)
}

// ParallelPrompts is how many prompts to run at once when the user did not
// say: one per CPU thread, but never more KV caches than fit in half of
// the free memory (Llama-3.1-8B's 32K-token cache is 8 GiB in f32, so one
// per core would not fit), and at least one. freeBytes <= 0 means the free
// memory is unknown: then one prompt at a time, the safe choice.
func ParallelPrompts(threads int, cacheBytes, freeBytes int64) int {
	if freeBytes <= 0 || cacheBytes <= 0 {
		if cacheBytes <= 0 {
			return max(1, threads)
		}
		return 1
	}
	fit := freeBytes / 2 / cacheBytes
	return int(max(1, min(int64(threads), fit)))
}
