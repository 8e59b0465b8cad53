package profile

import (
	"fmt"
	"strconv"
	"strings"
)

// Shard selects the probes of one worker of n: those whose index % Count ==
// Index. The zero Shard (and any Count of 1) is the whole run.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// Whole reports whether s covers every probe.
func (s Shard) Whole() bool { return s.Count <= 1 }

// Has reports whether probe index belongs to s.
func (s Shard) Has(index int) bool { return s.Whole() || index%s.Count == s.Index }

// String formats s as "i/n" ("0/1" for the whole run).
func (s Shard) String() string {
	if s.Whole() {
		return "0/1"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// ParseShard parses "i/n" with 0 <= i < n.
func ParseShard(text string) (Shard, error) {
	i, n, ok := strings.Cut(strings.TrimSpace(text), "/")
	if !ok {
		return Shard{}, fmt.Errorf("shard %q: want i/n, e.g. 0/4", text)
	}
	return newShard(i, n, fmt.Sprintf("shard %q", text))
}

func newShard(index, count, what string) (Shard, error) {
	i, err1 := strconv.Atoi(strings.TrimSpace(index))
	n, err2 := strconv.Atoi(strings.TrimSpace(count))
	if err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("%s: index and count must be integers", what)
	}
	if n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("%s: want 0 <= index < count, got index %d of %d", what, i, n)
	}
	return Shard{Index: i, Count: n}, nil
}

// ShardFromEnv finds the shard of a batch-array worker from its
// environment when no --shard flag was given:
//
//   - Kubernetes Indexed Job: JOB_COMPLETION_INDEX, with the shard count
//     from shards (the --shards flag or COMPRESSKV_SHARDS); the count is
//     required because Kubernetes does not export the completions count.
//   - Slurm job array: SLURM_ARRAY_TASK_ID minus SLURM_ARRAY_TASK_MIN (0 if
//     unset), of SLURM_ARRAY_TASK_COUNT (or shards when given).
//
// found is false when neither is present (a whole run).
func ShardFromEnv(getenv func(string) string, shards int) (s Shard, found bool, err error) {
	if idx := getenv("JOB_COMPLETION_INDEX"); idx != "" {
		if shards <= 0 {
			return Shard{}, false, fmt.Errorf("JOB_COMPLETION_INDEX=%s is set but the shard count is not: pass --shards N (or COMPRESSKV_SHARDS=N) equal to the Job's completions", idx)
		}
		s, err := newShard(idx, strconv.Itoa(shards), "JOB_COMPLETION_INDEX")
		return s, err == nil, err
	}
	if id := getenv("SLURM_ARRAY_TASK_ID"); id != "" {
		count := getenv("SLURM_ARRAY_TASK_COUNT")
		if shards > 0 {
			count = strconv.Itoa(shards)
		}
		if count == "" {
			return Shard{}, false, fmt.Errorf("SLURM_ARRAY_TASK_ID=%s is set but SLURM_ARRAY_TASK_COUNT is not: pass --shards N", id)
		}
		task, err := strconv.Atoi(id)
		if err != nil {
			return Shard{}, false, fmt.Errorf("SLURM_ARRAY_TASK_ID=%q is not an integer", id)
		}
		if min := getenv("SLURM_ARRAY_TASK_MIN"); min != "" {
			m, err := strconv.Atoi(min)
			if err != nil {
				return Shard{}, false, fmt.Errorf("SLURM_ARRAY_TASK_MIN=%q is not an integer", min)
			}
			task -= m
		}
		s, err := newShard(strconv.Itoa(task), count, "SLURM_ARRAY_TASK_ID")
		return s, err == nil, err
	}
	return Shard{}, false, nil
}

// JournalPath is where a run writing output keeps its checkpoint:
// <output>.partial.jsonl for a whole run, <output>.shard-i-of-n.jsonl for
// shard i/n, which is also the file merge reads. profile and eval share it.
func JournalPath(output string, shard Shard) string {
	if shard.Whole() {
		return output + ".partial.jsonl"
	}
	return fmt.Sprintf("%s.shard-%d-of-%d.jsonl", output, shard.Index, shard.Count)
}
