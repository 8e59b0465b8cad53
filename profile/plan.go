package profile

import (
	"fmt"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/needle"
	"github.com/compresskv/compresskv/plan"
)

// CheckGrid refuses, before any prompt is built, a grid whose context
// lengths do not leave maxNew decoded tokens inside a model context of the
// given length (a probe's prompt is about its context length).
func CheckGrid(lengths []int, maxNew, context int) error {
	over, longest := 0, 0
	for _, l := range lengths {
		if l+maxNew > context {
			over++
			longest = max(longest, l)
		}
	}
	if over > 0 {
		return fmt.Errorf("the model is too small for this grid: %d of %d context lengths (up to %d tokens) + %d new tokens exceed its context of %d tokens",
			over, len(lengths), longest, maxNew, context)
	}
	return nil
}

// Plan counts what Run will do with these probes and options: the probes
// of opts.Shard not yet in opts.Checkpoint, each prefilling its prompt
// minus the last token and decoding at most MaxNewTokens steps (exactly
// the answer's length when teacher-forced), with prefix reuse as Run
// applies it. weightBytes is the size of the checkpoint files.
func Plan(m *model.Model, probes []needle.Probe, opts Options, weightBytes int64) *plan.Plan {
	opts = opts.withDefaults()
	var done map[int]Record
	if opts.Checkpoint != nil {
		done = opts.Checkpoint.Done()
	}
	var seqs []plan.Sequence
	for _, p := range probes {
		if _, ok := done[p.Index]; ok || !opts.Shard.Has(p.Index) || len(p.IDs) < 2 {
			continue
		}
		steps := opts.MaxNewTokens
		if opts.TeacherForced {
			steps = p.SpanEnd - p.SpanStart
		}
		seqs = append(seqs, plan.Sequence{Prefill: prefillIDs(p), Steps: steps})
	}
	kvBytes := 4
	if m.Options.KVDType == kernels.BF16 {
		kvBytes = 2
	}
	chunk := m.Options.ChunkSize
	if chunk <= 0 {
		chunk = model.DefaultChunkSize
	}
	// Under --until-stable the order is SpreadOrder, where consecutive
	// probes rarely share a prefix: plan without reuse (an upper bound).
	reuse := opts.PrefixReuse && opts.UntilStable == 0
	return plan.Make(plan.ShapeOf(m.Config), seqs, plan.Options{Reuse: reuse, Chunk: chunk, KVBytes: kvBytes, WeightBytes: weightBytes})
}

// CostObserver is an observer that does a profile decode step's scoring
// work (attention rows asked for, each reduced to its span mass and top-1
// position), for plan.Calibrate to time.
func CostObserver(layers, heads int) model.Observer {
	acc, err := NewAccumulator(layers, heads, []int{0}, 0, 1, false)
	if err != nil {
		return nil
	}
	return NewObserver(acc)
}
