package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/profile/schema"
)

// stabilityProfile is a valid 2-layer, 4-head profile with a stability block.
func stabilityProfile() *schema.Profile {
	return &schema.Profile{
		Schema: schema.Version,
		Tool:   schema.Tool{Name: "compresskv", Version: "test"},
		Model:  schema.Model{Architecture: "llama", Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 8, Fingerprint: "sha256:00"},
		Probes: schema.ProbeInfo{
			Scoring: "greedy", SuccessRecall: 0.5, Run: 2, Successful: 2, SkipReasons: map[string]int{},
			UntilStable: &schema.UntilStable{Jaccard: 0.9, Window: 5, Order: "spread", Stopped: true},
			Results: []schema.ProbeResult{
				{Index: 0, Recall: 1, Success: true},
				{Index: 3, Recall: 1, Success: true},
			},
		},
		Heads: schema.Heads{
			SRH:              [][]float64{{0.5, 0.25, 0.75, 0}, {0, 0, 0.125, 1}},
			Retrieval:        [][]float64{{0, 0, 0, 0}, {0, 0, 0, 0}},
			Ranking:          [][]int{{2, 0, 1, 3}, {3, 2, 0, 1}},
			RetrievalRanking: [][]int{{0, 1, 2, 3}, {0, 1, 2, 3}},
			Stability: &schema.Stability{
				Method: "bootstrap", Resamples: 200, Seed: 1, TopK: 2, Probes: 2,
				TopKProbability: [][]float64{{0.75, 0.25, 1, 0}, {0, 0.5, 0.5, 1}},
				TopKJaccard:     []float64{0.5, 0.875},
			},
		},
	}
}

func TestInspectShowsStability(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.json")
	data, err := schema.Marshal(stabilityProfile())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI("inspect", path, "--top", "2")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"until stable: top-k Jaccard >= 0.9 for 5 probes in spread order; stopped early",
		"ranking stability: top-2 Jaccard min 0.500, mean 0.688 (bootstrap of 2 probes, 200 resamples)",
		"2 (0.75, p 1.00)  0 (0.5, p 0.75)",
		"3 (1, p 1.00)  2 (0.125, p 0.50)",
		"0.875",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out, stderr = runCLI("inspect", path, "--json")
	if code != exitOK {
		t.Fatalf("--json: exit %d: %s", code, stderr)
	}
	var rep inspectReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Stability == nil || rep.Stability.MinJaccard != 0.5 || rep.Stability.MeanJaccard != 0.6875 ||
		*rep.Layers[1].TopKJaccard != 0.875 || rep.Layers[0].TopInTopK[1] != 0.75 {
		t.Errorf("--json: %+v", rep)
	}
}
