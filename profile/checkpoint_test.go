package profile

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/internal/journal"

	"github.com/compresskv/compresskv/profile/schema"
)

// testHeader describes a run of 6 probes (index 4 skipped) on a 2-layer,
// 4-head model.
func testHeader() Header {
	return Header{
		Tool:  schema.Tool{Name: "compresskv", Version: "test"},
		Model: schema.Model{Architecture: "llama", Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 8, Fingerprint: "sha256:ab"},
		Probes: schema.ProbeInfo{
			Scoring: "greedy", Template: "raw", Haystack: "generated", Needles: "generated", NeedleCount: 2,
			ContextLengths: []int{64, 128}, Depths: []float64{0, 50, 100}, Buffer: 8,
			MaxNewTokens: 50, SuccessRecall: 0.5,
			Skipped: 1, SkipReasons: map[string]int{"answer span not found": 1},
		},
		Indices: []int{0, 1, 2, 3, 5},
	}
}

// testRecord makes a record whose scores are awkward binary fractions, so
// that a lossy float round trip would show.
func testRecord(index int, success bool) Record {
	f := float64(index) + 1
	recall := 0.25
	if success {
		recall = 0.75
	}
	return Record{
		Index:  index,
		Result: schema.ProbeResult{Index: index, ContextLength: 64, Tokens: 60, Depth: 50, NeedleID: "n", Response: "x", Recall: recall, Success: success},
		SRH:    [][]float64{{0.1 * f, 0.2 / f, 1.0 / 3, 0}, {f / 7, 0, 0, 1e-300}},
		Retrieval: [][]float64{
			{1.0 / 3, 0, 0, 0}, {0, 2.0 / 3 * f, 0, 0},
		},
	}
}

func TestCheckpointResume(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.json.partial.jsonl")
	c, err := OpenCheckpoint(path, testHeader(), true)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{2, 0} {
		if err := c.Append(testRecord(i, i == 0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Append(testRecord(2, true)); err == nil {
		t.Error("a second record for probe 2 was accepted")
	}
	c.Close()
	// A crash in the middle of the next append leaves a torn line.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"record":{"index":3,"res`)
	f.Close()

	c, err = OpenCheckpoint(path, testHeader(), true)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Records(); !reflect.DeepEqual(got, []Record{testRecord(0, true), testRecord(2, false)}) {
		t.Fatalf("resumed records differ from the journaled ones (exact float round trip):\n%+v", got)
	}
	if err := c.Append(testRecord(3, true)); err != nil {
		t.Fatal(err)
	}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	p, err := ReadPartial(path)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Complete || len(p.Records) != 3 || p.Records[0].Index != 0 || p.Records[2].Index != 3 {
		t.Fatalf("finished file: complete %v, %d records", p.Complete, len(p.Records))
	}
	// A finished file resumes too (the completion mark is dropped).
	c, err = OpenCheckpoint(path, testHeader(), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Done()) != 3 {
		t.Fatalf("resume of a finished file: %d records, want 3", len(c.Done()))
	}
	c.Close()

	// Without resume the journal starts over.
	c, err = OpenCheckpoint(path, testHeader(), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Done()) != 0 {
		t.Fatalf("--resume=false kept %d records", len(c.Done()))
	}
	if err := c.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("Remove left the journal: %v", err)
	}
}

func TestCheckpointSettingsMismatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.partial.jsonl")
	c, err := OpenCheckpoint(path, testHeader(), true)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	tests := []struct {
		name   string
		mutate func(h *Header)
		want   string
	}{
		{"fingerprint", func(h *Header) { h.Model.Fingerprint = "sha256:cd" }, "checkpoint was written with model fingerprint sha256:ab, this run has model fingerprint sha256:cd (another model: config.json or the bytes of a weight file differ)"},
		{"layers", func(h *Header) { h.Model.Layers = 3 }, "checkpoint was written with model layers 2, this run has model layers 3"},
		{"max new tokens", func(h *Header) { h.Probes.MaxNewTokens = 20 }, "checkpoint was written with --max-new 50, this run has --max-new 20"},
		{"seed", func(h *Header) { h.Probes.HaystackSeed = 9 }, "checkpoint was written with --seed 0, this run has --seed 9"},
		{"lengths", func(h *Header) { h.Probes.ContextLengths = []int{64, 256} }, "checkpoint was written with --lengths [64,128], this run has --lengths [64,256]"},
		{"template", func(h *Header) { h.Probes.Template = "llama3 chat" }, `checkpoint was written with --template raw, this run has --template "llama3 chat"`},
		{"probe list", func(h *Header) { h.Indices = h.Indices[:3] }, "checkpoint was written with probe list [0,1,2,3,5], this run has probe list [0,1,2]"},
		{"tool version", func(h *Header) { h.Tool.Version = "other" }, "checkpoint was written with compresskv version test, this run has compresskv version other"},
		{"shard", func(h *Header) { h.Shard = Shard{Index: 1, Count: 2} }, "checkpoint was written with --shard 0/1, this run has --shard 1/2"},
		// A bf16 checkpoint written before the revision was recorded.
		{"bf16 arithmetic", func(h *Header) { h.Tool.Arithmetic = "2026-12-02" }, "checkpoint was written with bf16 arithmetic revision (none), this run has bf16 arithmetic revision 2026-12-02 (bf16 compute's arithmetic changed between the two builds"},
		// The same revision on AMX tiles: another CPU, or --amx.
		{"amx", func(h *Header) { h.Tool.Arithmetic = "2026-12-02+amx" }, "this run has bf16 arithmetic revision 2026-12-02+amx (one of the two runs multiplied on Intel AMX tiles and the other did not (another CPU, or --amx=false)"},
	}
	for _, tc := range tests {
		h := testHeader()
		tc.mutate(&h)
		_, err := OpenCheckpoint(path, h, true)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--resume=false") {
			t.Errorf("%s: error %v, want one saying %q and suggesting --resume=false", tc.name, err, tc.want)
		}
	}
}

// TestReadPartialRejects covers what profile adds to the journal layout
// (its format name and the record shapes); torn, malformed and misplaced
// lines are tested in internal/journal.
func TestReadPartialRejects(t *testing.T) {
	sum := func(line string) string {
		out, err := journal.WithChecksum(line)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	h := sum(`{"header":{"format":"compresskv.partial/v1","model":{"layers":1,"heads":1}}}`)
	tests := []struct{ name, data, want string }{
		{"empty", "", "no compresskv.partial/v1 header"},
		{"no header", sum(`{"record":{"index":0}}`), ":1: want a compresskv.partial/v1 header"},
		{"bad shape", h + sum(`{"record":{"index":0,"result":{"index":0},"srh":[[1,2]],"retrieval":[[1]]}}`), ":2: probe 0: srh[0] has 2 heads"},
		{"index mismatch", h + sum(`{"record":{"index":0,"result":{"index":1},"srh":[[1]],"retrieval":[[1]]}}`), ":2: probe 0: result carries index 1"},
		{"huge model", sum(`{"header":{"format":"compresskv.partial/v1","model":{"layers":2000000000,"heads":1}}}`), ":1: model: layers 2000000000, heads 1: want 1..4096 and 1..4096"},
		{"unknown key", h + sum(`{"record":{"index":0,"reslut":{"index":0},"srh":[[1]],"retrieval":[[1]]}}`), `:2: record: json: unknown field "reslut"`},
	}
	for _, tc := range tests {
		path := filepath.Join(t.TempDir(), "x.jsonl")
		os.WriteFile(path, []byte(tc.data), 0o644)
		_, err := ReadPartial(path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestShards(t *testing.T) {
	parse := []struct {
		in   string
		want Shard
		err  bool
	}{
		{"0/2", Shard{0, 2}, false},
		{" 3/4 ", Shard{3, 4}, false},
		{"3/2", Shard{}, true},
		{"2/2", Shard{}, true},
		{"-1/2", Shard{}, true},
		{"0/0", Shard{}, true},
		{"1", Shard{}, true},
		{"a/b", Shard{}, true},
	}
	for _, tc := range parse {
		got, err := ParseShard(tc.in)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("ParseShard(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
	s := Shard{Index: 1, Count: 3}
	var has []int
	for i := 0; i < 8; i++ {
		if s.Has(i) {
			has = append(has, i)
		}
	}
	if !reflect.DeepEqual(has, []int{1, 4, 7}) || !(Shard{}).Has(5) {
		t.Errorf("shard 1/3 has %v, want [1 4 7]; the zero shard must have everything", has)
	}

	env := []struct {
		name   string
		vars   map[string]string
		shards int
		want   Shard
		found  bool
		err    string
	}{
		{"nothing", nil, 0, Shard{}, false, ""},
		{"k8s", map[string]string{"JOB_COMPLETION_INDEX": "2"}, 4, Shard{2, 4}, true, ""},
		{"k8s without count", map[string]string{"JOB_COMPLETION_INDEX": "2"}, 0, Shard{}, false, "--shards"},
		{"k8s index too large", map[string]string{"JOB_COMPLETION_INDEX": "4"}, 4, Shard{}, false, "0 <= index < count"},
		{"slurm", map[string]string{"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "5"}, 0, Shard{3, 5}, true, ""},
		{"slurm from 1", map[string]string{"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "5"}, 0, Shard{4, 5}, true, ""},
		{"slurm shards flag wins", map[string]string{"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "5"}, 2, Shard{1, 2}, true, ""},
		{"slurm without count", map[string]string{"SLURM_ARRAY_TASK_ID": "1"}, 0, Shard{}, false, "SLURM_ARRAY_TASK_COUNT"},
	}
	for _, tc := range env {
		got, found, err := ShardFromEnv(func(k string) string { return tc.vars[k] }, tc.shards)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || found != tc.found || got != tc.want {
			t.Errorf("%s: got %v, %v, %v; want %v, %v", tc.name, got, found, err, tc.want, tc.found)
		}
	}
}

func TestBuildAndMerge(t *testing.T) {
	h := testHeader()
	var all []Record
	for _, i := range h.Indices {
		all = append(all, testRecord(i, i != 3))
	}
	whole, err := Build(&h, all)
	if err != nil {
		t.Fatal(err)
	}
	if whole.Probes.Run != 5 || whole.Probes.Successful != 4 || whole.Probes.Skipped != 1 {
		t.Fatalf("counts: run %d successful %d skipped %d", whole.Probes.Run, whole.Probes.Successful, whole.Probes.Skipped)
	}
	// Mean over the successful probes 0, 1, 2, 5 of SRH[1][0] = (i+1)/7.
	want := (1.0/7 + 2.0/7 + 3.0/7 + 6.0/7) / 4
	if got := whole.Heads.SRH[1][0]; got != want {
		t.Fatalf("SRH[1][0] = %v, want %v", got, want)
	}
	wantBytes, err := schema.Marshal(whole)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	var parts []*Partial
	for k := 0; k < 3; k++ {
		sh := Shard{Index: k, Count: 3}
		hs := h
		hs.Shard = sh
		c, err := OpenCheckpoint(filepath.Join(dir, sh.String()[:1]+".jsonl"), hs, true)
		if err != nil {
			t.Fatal(err)
		}
		for i := len(all) - 1; i >= 0; i-- { // out of order on purpose
			if sh.Has(all[i].Index) {
				if err := c.Append(all[i]); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := c.Finish(); err != nil {
			t.Fatal(err)
		}
		p, err := ReadPartial(c.Path())
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	merged, err := Merge([]*Partial{parts[2], parts[0], parts[1]})
	if err != nil {
		t.Fatal(err)
	}
	got, err := schema.Marshal(merged)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, wantBytes) {
		t.Fatal("merged profile differs from the single-run profile")
	}

	_, err = Merge([]*Partial{parts[0], parts[2]})
	if err == nil || !strings.Contains(err.Error(), "missing probe indices [1]") {
		t.Errorf("merge without shard 1: %v", err)
	}
	_, err = Merge([]*Partial{parts[0], parts[1], parts[2], parts[1]})
	if err == nil || !strings.Contains(err.Error(), "present more than once [1]") {
		t.Errorf("merge with shard 1 twice: %v", err)
	}
	other := *parts[1]
	other.Header.Model.Fingerprint = "sha256:ff"
	_, err = Merge([]*Partial{parts[0], &other, parts[2]})
	if err == nil || !strings.Contains(err.Error(), "written with model fingerprint sha256:ab and model fingerprint sha256:ff (another model: config.json or the bytes of a weight file differ); only shards of the same run merge") {
		t.Errorf("merge across models: %v", err)
	}
	unfinished := *parts[1]
	unfinished.Complete = false
	_, err = Merge([]*Partial{parts[0], &unfinished, parts[2]})
	if err == nil || !strings.Contains(err.Error(), "not finished") {
		t.Errorf("merge of an unfinished shard: %v", err)
	}
	if _, err := Build(&h, append(all, testRecord(9, true))); err == nil || !strings.Contains(err.Error(), "not in the run [9]") {
		t.Errorf("build with an extra probe: %v", err)
	}
}

func TestJournalPath(t *testing.T) {
	if got, want := JournalPath("p.json", Shard{}), "p.json.partial.jsonl"; got != want {
		t.Errorf("whole run: %q, want %q", got, want)
	}
	if got, want := JournalPath("out/p.json", Shard{Index: 2, Count: 8}), "out/p.json.shard-2-of-8.jsonl"; got != want {
		t.Errorf("shard 2/8: %q, want %q", got, want)
	}
}
