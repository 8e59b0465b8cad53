// Package schema defines the compresskv profile file (schema
// "compresskv.profile/v1"): the JSON document that `compresskv profile`
// writes, `compresskv calibrate` completes with layer budgets, and an
// inference engine loads beside the model weights. See
// docs/profile-schema.md.
//
// The types are plain structs so encoding/json writes keys in a fixed order;
// floats are float64 and written in Go's shortest round-trip form, so equal
// inputs give equal bytes. This package must never depend on the model or on
// how scores are computed.
package schema

// Version is the value of Profile.Schema for this layout.
const Version = "compresskv.profile/v1"

// Profile is the whole profile document.
type Profile struct {
	Schema      string       `json:"schema"`
	Tool        Tool         `json:"tool"`
	Model       Model        `json:"model"`
	Probes      ProbeInfo    `json:"probes"`
	Heads       Heads        `json:"heads"`
	Calibration *Calibration `json:"calibration,omitempty"`
}

// Tool records what produced the profile.
type Tool struct {
	Name    string `json:"name"`    // "compresskv"
	Version string `json:"version"` // tool version
	// Arithmetic is the revision of --compute bf16's arithmetic
	// (model.BF16Arithmetic); absent under f32 and in files written
	// before it was recorded.
	Arithmetic string `json:"arithmetic,omitempty"`
}

// Model identifies the checkpoint the profile belongs to.
type Model struct {
	Architecture string `json:"architecture"` // "llama", "mistral", "qwen2"
	Layers       int    `json:"layers"`
	Heads        int    `json:"heads"`    // query heads per layer (H)
	KVHeads      int    `json:"kv_heads"` // key/value heads per layer (G)
	HeadDim      int    `json:"head_dim"`
	Fingerprint  string `json:"fingerprint"` // "sha256:<hex>" of the sha256sum manifest of config.json and every safetensors file (docs/profile-schema.md)
	// ID, Revision and Commit are set when --model named a Hugging Face
	// model id resolved from the local hub cache.
	ID       string `json:"id,omitempty"`       // "org/name"
	Revision string `json:"revision,omitempty"` // the revision asked for: "main", a tag, a branch or a commit hash
	Commit   string `json:"commit,omitempty"`   // the snapshot's commit hash
}

// ProbeInfo records the probe settings and what happened to the probes.
type ProbeInfo struct {
	Scoring      string `json:"scoring"`  // "greedy" (reference) or "teacher-forced" (deviation)
	Template     string `json:"template"` // template name or the raw template text
	Haystack     string `json:"haystack"` // "generated" or the base name of the haystack source
	HaystackSeed int64  `json:"haystack_seed"`
	Needles      string `json:"needles"` // "generated" or the base name of the needle file
	// HaystackSHA256 and NeedlesSHA256 are the content hashes of a haystack
	// or needle file (absent for generated and embedded ones), so a resume
	// or merge refuses a file edited in between.
	HaystackSHA256 string         `json:"haystack_sha256,omitempty"`
	NeedlesSHA256  string         `json:"needles_sha256,omitempty"`
	NeedleSeed     int64          `json:"needle_seed"`
	NeedleCount    int            `json:"needle_count"`
	ContextLengths []int          `json:"context_lengths"`
	Depths         []float64      `json:"depths"`
	Buffer         int            `json:"buffer"`
	Compat         string         `json:"compat,omitempty"` // probe construction: "" (compresskv's) or "reference" (the reference script's)
	MaxNewTokens   int            `json:"max_new_tokens"`
	KVCache        string         `json:"kv_cache,omitempty"`      // KV cache storage of the run: "f32" or "bf16"
	PrefillChunk   int            `json:"prefill_chunk,omitempty"` // prefill chunk size in tokens
	Rope           string         `json:"rope,omitempty"`          // RoPE arithmetic of the run: "hf" or "exact"; absent in profiles older than the field
	Compute        string         `json:"compute,omitempty"`       // arithmetic of the layer projections: "f32" (absent in older files) or "bf16"
	SuccessRecall  float64        `json:"success_recall"`          // ROUGE-1 recall a probe must exceed (0.5)
	UntilStable    *UntilStable   `json:"until_stable,omitempty"`  // set when the run stopped once the ranking was stable (--until-stable)
	Run            int            `json:"run"`                     // probes decoded
	Successful     int            `json:"successful"`              // probes that passed the recall gate
	Skipped        int            `json:"skipped"`                 // probes not run
	SkipReasons    map[string]int `json:"skip_reasons"`            // reason -> count (encoding/json sorts map keys)
	Results        []ProbeResult  `json:"results"`                 // one per probe run, in probe index order
}

// ProbeResult is the outcome of one probe (no timings: they would break
// byte-identical output).
type ProbeResult struct {
	Index         int     `json:"index"`
	ContextLength int     `json:"context_length"` // target length
	Tokens        int     `json:"tokens"`         // actual prompt length
	Depth         float64 `json:"depth"`
	NeedleID      string  `json:"needle_id"`
	Response      string  `json:"response"`
	Recall        float64 `json:"recall"`
	Success       bool    `json:"success"`
}

// Heads holds the head scores, [layer][query head], and the per-layer
// rankings (query-head indices, best first).
type Heads struct {
	SRH              [][]float64 `json:"srh"`                 // semantic retrieval score, mean over successful probes
	Retrieval        [][]float64 `json:"retrieval"`           // classic retrieval score (Wu et al.), mean over successful probes
	Ranking          [][]int     `json:"ranking"`             // by SRH, descending; ties by lower head index
	RetrievalRanking [][]int     `json:"retrieval_ranking"`   // by retrieval score, descending
	KV               *KVHeads    `json:"kv,omitempty"`        // the KV-head view of SRH (absent in older files)
	Stability        *Stability  `json:"stability,omitempty"` // bootstrap of the SRH ranking; absent when no probe succeeded
}

// Stability says how firmly each layer's SRH top-k set stands: the
// successful probes are resampled with replacement Resamples times (a
// deterministic generator seeded with Seed), the SRH mean and ranking are
// recomputed on each resample, and the top-k sets are compared with the
// profile's own.
type Stability struct {
	Method          string      `json:"method"`            // "bootstrap"
	Resamples       int         `json:"resamples"`         // resamples drawn
	Seed            uint64      `json:"seed"`              // seed of the resampling generator
	TopK            int         `json:"top_k"`             // size of the top set compared (the selection's k, 4, or H-1 when H <= 4)
	Probes          int         `json:"probes"`            // successful probes resampled
	TopKProbability [][]float64 `json:"top_k_probability"` // [layer][head]: fraction of resamples with the head in the layer's top-k
	TopKJaccard     []float64   `json:"top_k_jaccard"`     // [layer]: mean Jaccard of a resample's top-k with heads.ranking's top-k
}

// UntilStable records a run that probed in a fixed, well-spread order and
// stopped as soon as every layer's bootstrap top-k Jaccard had stayed at or
// above Jaccard for Window consecutive successful probes.
type UntilStable struct {
	Jaccard float64 `json:"jaccard"`       // threshold J, in (0, 1]
	Window  int     `json:"window"`        // consecutive successful probes the threshold must hold
	Order   string  `json:"order"`         // probe order: "spread" (lengths, depths and needles interleaved)
	Stopped bool    `json:"stopped_early"` // true when the run stopped before the last probe of the grid
}

// Calibration holds what `compresskv calibrate` measured and derived.
type Calibration struct {
	Budget        int                `json:"budget"`             // calibration budget per layer (32)
	Window        int                `json:"window"`             // observation window w (8)
	Kernel        int                `json:"kernel"`             // pooling kernel (5)
	Pooling       string             `json:"pooling"`            // "avg" or "max"
	TopK          int                `json:"top_k"`              // SRH heads used per layer (4)
	Floor         int                `json:"floor"`              // per-layer minimum budget m (32)
	CeilingFactor int                `json:"ceiling_factor"`     // M = CeilingFactor * average budget (3)
	KVCache       string             `json:"kv_cache,omitempty"` // KV cache storage of the run: "f32" or "bf16"
	Rope          string             `json:"rope,omitempty"`     // RoPE arithmetic of the run: "hf" or "exact"
	Compat        string             `json:"compat,omitempty"`   // "" (compresskv's) or "reference": the reference's prompt truncation and needle probes
	Compute       string             `json:"compute,omitempty"`  // arithmetic of the layer projections: "f32" or "bf16"
	Datasets      []DatasetScore     `json:"datasets"`
	LayerScores   []float64          `json:"layer_scores"` // average of the normalised dataset vectors, normalised again (sums to 1)
	Budgets       map[string][]int   `json:"budgets"`      // average budget (decimal string) -> per-layer budgets summing to avg*layers
	Extra         map[string]float64 `json:"extra,omitempty"`
}

// DatasetScore is one calibration dataset's contribution.
type DatasetScore struct {
	Name        string    `json:"name"`
	Prompts     int       `json:"prompts"`
	Steps       int       `json:"steps"`        // decode steps accumulated
	LayerErrors []float64 `json:"layer_errors"` // summed relative Frobenius errors per layer
	LayerScores []float64 `json:"layer_scores"` // LayerErrors / sum (L1)
}
