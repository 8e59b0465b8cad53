package eval

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/compresskv/compresskv/profile/schema"
)

// Version is the value of Document.Schema for this layout.
const Version = "compresskv.eval/v1"

// Document is the whole eval file. Struct fields keep their declared order
// and no field depends on the machine or the time, so equal inputs give
// equal bytes.
type Document struct {
	Schema   string       `json:"schema"`
	Tool     schema.Tool  `json:"tool"`
	Model    schema.Model `json:"model"`
	Profile  ProfileInfo  `json:"profile"`
	Settings Settings     `json:"settings"`
	Grid     Grid         `json:"grid"`
	Probes   []Probe      `json:"probes"`  // in probe index order
	Summary  []Aggregate  `json:"summary"` // per method x budget, in job order
	Cells    []Cell       `json:"cells"`   // per method x budget x length x depth
}

// ProfileInfo identifies the profile whose ranking and budgets were used.
type ProfileInfo struct {
	Fingerprint string `json:"fingerprint"` // "sha256:<hex>" of the profile file's bytes; "" without a profile
	Needles     string `json:"needles"`     // the profile's needle source ("generated" or a file name)
	NeedleSeed  int64  `json:"needle_seed"`
	NeedleCount int    `json:"needle_count"`
	Calibrated  bool   `json:"calibrated"` // the profile carries per-layer budgets
	// SameNeedles is true when eval ran on the needles the profile was
	// scored on (allowed only on request; the scores are then circular).
	SameNeedles bool `json:"same_needles"`
}

// Settings are the selection and decoding settings of the run.
type Settings struct {
	Methods           []Method `json:"methods"`
	Budgets           []int    `json:"budgets"` // average tokens per layer
	Window            int      `json:"window"`
	Kernel            int      `json:"kernel"`
	Pooling           string   `json:"pooling"`
	TopK              int      `json:"top_k"`
	PyramidBeta       int      `json:"pyramid_beta"`
	ReferenceGrouping bool     `json:"reference_grouping"`
	MaxNewTokens      int      `json:"max_new_tokens"`
	SuccessRecall     float64  `json:"success_recall"`
	KVCache           string   `json:"kv_cache"`           // "f32" or "bf16"
	KVBytesPerToken   int      `json:"kv_bytes_per_token"` // keys + values of one position in one layer, all KV heads
	Rope              string   `json:"rope,omitempty"`     // RoPE arithmetic of the run: "hf" or "exact"; absent in files older than the field
	Compute           string   `json:"compute,omitempty"`  // arithmetic of the layer projections: absent for f32, or "bf16"
}

// Grid records how the probes were made (the probe flags of profile).
type Grid struct {
	Template       string         `json:"template"`
	Haystack       string         `json:"haystack"`
	HaystackSeed   int64          `json:"haystack_seed"`
	Needles        string         `json:"needles"`
	NeedleSeed     int64          `json:"needle_seed"`
	NeedleCount    int            `json:"needle_count"`
	ContextLengths []int          `json:"context_lengths"`
	Depths         []float64      `json:"depths"`
	Buffer         int            `json:"buffer"`
	PrefillChunk   int            `json:"prefill_chunk,omitempty"`
	Distractors    int            `json:"distractors,omitempty"`     // facts of the needles' form inserted into the haystack
	DistractorSeed int64          `json:"distractor_seed,omitempty"` // their needle seed
	Skipped        int            `json:"skipped"`
	SkipReasons    map[string]int `json:"skip_reasons"`
}

// Probe is one probe and what every method made of it.
type Probe struct {
	Index         int      `json:"index"`
	ContextLength int      `json:"context_length"`
	Tokens        int      `json:"tokens"` // prompt length
	Depth         float64  `json:"depth"`
	NeedleID      string   `json:"needle_id"`
	Answer        string   `json:"answer"`
	Results       []Result `json:"results"` // in job order
}

// Result is one method at one budget on one probe.
type Result struct {
	Method Method `json:"method"`
	Budget int    `json:"budget"` // average tokens per layer; 0 for full
	// Kept is the number of prompt positions kept, summed over layers (per
	// KV head: every KV head of a layer keeps as many); KeptFraction is
	// Kept / (layers x prompt positions in the cache).
	Kept         int     `json:"kept"`
	KeptFraction float64 `json:"kept_fraction"`
	Response     string  `json:"response"`
	Recall       float64 `json:"recall"`  // ROUGE-1 recall against the answer
	Exact        bool    `json:"exact"`   // the answer's words occur contiguously in the response
	Success      bool    `json:"success"` // recall > success_recall
}

// Aggregate is one method at one budget over every probe.
type Aggregate struct {
	Method       Method  `json:"method"`
	Budget       int     `json:"budget"`
	Probes       int     `json:"probes"`
	MeanRecall   float64 `json:"mean_recall"`
	SuccessRate  float64 `json:"success_rate"`
	ExactRate    float64 `json:"exact_rate"`
	KeptFraction float64 `json:"kept_fraction"` // mean over probes
	KVBytes      float64 `json:"kv_bytes"`      // mean KV cache bytes kept after selection (prompt positions)
}

// Cell is one method at one budget over the probes of one (length, depth).
type Cell struct {
	Method        Method  `json:"method"`
	Budget        int     `json:"budget"`
	ContextLength int     `json:"context_length"`
	Depth         float64 `json:"depth"`
	Probes        int     `json:"probes"`
	MeanRecall    float64 `json:"mean_recall"`
	SuccessRate   float64 `json:"success_rate"`
}

// Marshal encodes d as indented JSON with a trailing newline.
func Marshal(d *Document) ([]byte, error) {
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("eval: marshal: %w", err)
	}
	return append(data, '\n'), nil
}

// Unmarshal decodes an eval document read from the file called name,
// rejecting a document of another schema first, then validating it.
func Unmarshal(data []byte, name string) (*Document, error) {
	var head struct {
		Schema *string `json:"schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%s: not a JSON document: %w", name, err)
	}
	if head.Schema == nil || *head.Schema != Version {
		got := "none"
		if head.Schema != nil {
			got = fmt.Sprintf("%q", *head.Schema)
		}
		return nil, fmt.Errorf("%s: schema %s is not %s", name, got, Version)
	}
	var d Document
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &d, nil
}

// Validate checks the document's internal consistency: every probe holds a
// result for every job, and the summary covers the jobs.
func (d *Document) Validate() error {
	jobs := Jobs(d.Settings.Methods, d.Settings.Budgets)
	for _, p := range d.Probes {
		if len(p.Results) != len(jobs) {
			return fmt.Errorf("probe %d: %d results, the settings make %d method x budget runs", p.Index, len(p.Results), len(jobs))
		}
		for i, r := range p.Results {
			if r.Method != jobs[i].Method || r.Budget != jobs[i].Budget {
				return fmt.Errorf("probe %d: result %d is %s@%d, want %s@%d", p.Index, i, r.Method, r.Budget, jobs[i].Method, jobs[i].Budget)
			}
			if r.Recall < 0 || r.Recall > 1 || r.KeptFraction < 0 || r.KeptFraction > 1 {
				return fmt.Errorf("probe %d: %s@%d: recall %v or kept fraction %v outside [0, 1]", p.Index, r.Method, r.Budget, r.Recall, r.KeptFraction)
			}
		}
	}
	if len(d.Summary) != len(jobs) {
		return fmt.Errorf("summary has %d rows, the settings make %d method x budget runs", len(d.Summary), len(jobs))
	}
	return nil
}
