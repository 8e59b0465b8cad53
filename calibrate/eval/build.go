package eval

import (
	"slices"
	"sort"
)

// Build assembles the eval document of a run described by h from its
// finished probes (any order): the probes in index order, the summary per
// method x budget and the cells per method x budget x (length, depth).
// Sums run in probe index order, so equal probes give equal bytes.
func Build(h *Header, probes []Probe) *Document {
	probes = slices.Clone(probes)
	sort.Slice(probes, func(i, j int) bool { return probes[i].Index < probes[j].Index })
	d := &Document{
		Schema: Version, Tool: h.Tool, Model: h.Model, Profile: h.Profile,
		Settings: h.Settings, Grid: h.Grid, Probes: probes,
	}
	jobs := Jobs(h.Settings.Methods, h.Settings.Budgets)
	bytesPerToken := float64(h.Settings.KVBytesPerToken)
	d.Summary = make([]Aggregate, len(jobs))
	for j, job := range jobs {
		a := Aggregate{Method: job.Method, Budget: job.Budget}
		var kept, kvBytes float64
		for _, p := range probes {
			r := p.Results[j]
			a.Probes++
			a.MeanRecall += r.Recall
			kept += r.KeptFraction
			kvBytes += float64(r.Kept) * bytesPerToken
			if r.Success {
				a.SuccessRate++
			}
			if r.Exact {
				a.ExactRate++
			}
		}
		if n := float64(a.Probes); n > 0 {
			a.MeanRecall /= n
			a.SuccessRate /= n
			a.ExactRate /= n
			a.KeptFraction = kept / n
			a.KVBytes = kvBytes / n
		}
		d.Summary[j] = a
	}
	type cellKey struct {
		length int
		depth  float64
	}
	var keys []cellKey
	byKey := map[cellKey][]Probe{}
	for _, p := range probes {
		k := cellKey{p.ContextLength, p.Depth}
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], p)
	}
	sort.Slice(keys, func(a, b int) bool {
		if keys[a].length != keys[b].length {
			return keys[a].length < keys[b].length
		}
		return keys[a].depth < keys[b].depth
	})
	for j, job := range jobs {
		for _, k := range keys {
			c := Cell{Method: job.Method, Budget: job.Budget, ContextLength: k.length, Depth: k.depth}
			for _, p := range byKey[k] {
				r := p.Results[j]
				c.Probes++
				c.MeanRecall += r.Recall
				if r.Success {
					c.SuccessRate++
				}
			}
			c.MeanRecall /= float64(c.Probes)
			c.SuccessRate /= float64(c.Probes)
			d.Cells = append(d.Cells, c)
		}
	}
	return d
}
