package profile

import (
	"fmt"
	"sort"
	"strings"

	"github.com/compresskv/compresskv/profile/schema"
)

// Build assembles the profile document from a run's header and its finished
// probes. It depends only on the header (not its shard) and the records in
// index order, so a run, a resumed run and a merge of shards over the same
// probes give the same bytes. Every probe index of the header must have
// exactly one record.
func Build(h *Header, records []Record) (*schema.Profile, error) {
	sorted := append([]Record(nil), records...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Index < sorted[j].Index })
	want := h.Indices
	if h.Probes.UntilStable != nil {
		// A run that stopped once the ranking was stable holds a subset.
		want = subsetOf(h.Indices, sorted)
	}
	if err := checkCoverage(want, sorted); err != nil {
		return nil, err
	}
	m := h.Model
	probes := h.Probes
	probes.Results = make([]schema.ProbeResult, 0, len(sorted))
	var successful []ProbeScores
	for _, r := range sorted {
		if err := checkRecord(&r, &m); err != nil {
			return nil, err
		}
		probes.Results = append(probes.Results, r.Result)
		if r.Result.Success {
			successful = append(successful, ProbeScores{SRH: r.SRH, Retrieval: r.Retrieval})
		}
	}
	probes.Run = len(sorted)
	if u := probes.UntilStable; u != nil {
		stop := *u
		stop.Stopped = len(sorted) < len(h.Indices)
		probes.UntilStable = &stop
	}
	probes.Successful = len(successful)
	if probes.SkipReasons == nil {
		probes.SkipReasons = map[string]int{}
	}
	mean := Mean(m.Layers, m.Heads, successful)
	ranking := Rank(mean.SRH)
	srh := make([][][]float64, len(successful))
	for i, p := range successful {
		srh[i] = p.SRH
	}
	kv, err := schema.KVView(mean.SRH, m.KVHeads)
	if err != nil {
		return nil, err
	}
	p := &schema.Profile{
		Schema: schema.Version,
		Tool:   h.Tool,
		Model:  m,
		Probes: probes,
		Heads: schema.Heads{
			SRH:              mean.SRH,
			Retrieval:        mean.Retrieval,
			Ranking:          ranking,
			RetrievalRanking: Rank(mean.Retrieval),
			KV:               kv,
			Stability:        Stability(srh, ranking, m.Layers, m.Heads),
		},
	}
	if err := schema.Validate(p); err != nil {
		return nil, fmt.Errorf("built an invalid profile: %w", err)
	}
	return p, nil
}

// subsetOf returns the indices of records that are among indices, so that
// checkCoverage still reports repeated and foreign ones.
func subsetOf(indices []int, records []Record) []int {
	in := make(map[int]bool, len(indices))
	for _, i := range indices {
		in[i] = true
	}
	var out []int
	for _, r := range records {
		if in[r.Index] && (len(out) == 0 || out[len(out)-1] != r.Index) {
			out = append(out, r.Index)
		}
	}
	return out
}

// checkCoverage checks that sorted (by index) has every index of want
// exactly once and nothing else, naming what is missing, repeated or extra.
func checkCoverage(want []int, sorted []Record) error {
	expected := make(map[int]bool, len(want))
	for _, i := range want {
		expected[i] = true
	}
	count := map[int]int{}
	for _, r := range sorted {
		count[r.Index]++
	}
	var missing, dup, extra []int
	for _, i := range want {
		if count[i] == 0 {
			missing = append(missing, i)
		}
	}
	for i, n := range count {
		switch {
		case !expected[i]:
			extra = append(extra, i)
		case n > 1:
			dup = append(dup, i)
		}
	}
	sort.Ints(dup)
	sort.Ints(extra)
	var problems []string
	if len(missing) > 0 {
		problems = append(problems, "missing probe indices "+list(missing))
	}
	if len(dup) > 0 {
		problems = append(problems, "probe indices present more than once "+list(dup))
	}
	if len(extra) > 0 {
		problems = append(problems, "probe indices not in the run "+list(extra))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// list formats indices, eliding the middle of very long lists.
func list(ix []int) string {
	const show = 20
	parts := make([]string, 0, show+1)
	for k, i := range ix {
		if k == show {
			parts = append(parts, fmt.Sprintf("... (%d in all)", len(ix)))
			break
		}
		parts = append(parts, fmt.Sprint(i))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// Merge combines the shard files of one run into its profile: the same
// bytes a single run gives. All parts must be complete and share settings
// and model fingerprint, and together hold every probe exactly once.
func Merge(parts []*Partial) (*schema.Profile, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("merge: no partial files")
	}
	first := parts[0]
	var records []Record
	for _, p := range parts {
		if !p.Complete {
			return nil, fmt.Errorf("%s: shard %s is not finished (no completion mark); rerun that shard to resume it", p.Path, p.Header.Shard)
		}
		if d := headerDiff(&first.Header, &p.Header); d != nil {
			return nil, fmt.Errorf("%s and %s: written with %s %s and %s %s%s; only shards of the same run merge", first.Path, p.Path, d.name, d.a, d.name, d.b, d.suffix())
		}
		records = append(records, p.Records...)
	}
	sort.SliceStable(records, func(i, j int) bool { return records[i].Index < records[j].Index })
	if err := checkCoverage(first.Header.Indices, records); err != nil {
		return nil, fmt.Errorf("merge of %d files: %w", len(parts), err)
	}
	return Build(&first.Header, records)
}
