package calibrate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/compresskv/compresskv/internal/journal"
	"github.com/compresskv/compresskv/model"
)

// JournalFormat names the calibration checkpoint layout.
const JournalFormat = "compresskv.calibrate-journal/v1"

// journalHeader is the first line of a journal.
type journalHeader struct {
	Format string `json:"format"`
	Key    string `json:"key"` // RunKey.Hash of the run
	// Settings name what Key covers, so that a refused resume can say
	// which one differs.
	Settings []Setting `json:"settings"`
}

// journalRecord is one finished prompt. Floats are written in Go's shortest
// round-trip form, so a resumed run reads back the exact bits and its
// result is byte-identical to an uninterrupted one.
type journalRecord struct {
	Dataset string    `json:"dataset"`
	Prompt  int       `json:"prompt"`
	Steps   int       `json:"steps"`
	Errors  []float64 `json:"layer_errors"`
}

// journalLayout is the journal layout of calibration checkpoints.
var journalLayout = journal.Layout[journalHeader, journalRecord]{
	Format: JournalFormat,
	Same: func(file, want *journalHeader) error {
		if file.Key == want.Key {
			return nil
		}
		if d := settingsDiff(file.Settings, want.Settings); d != "" {
			return errors.New(d)
		}
		return errors.New("checkpoint was written for a different model, data or settings")
	},
}

// Journal is an append-only record of finished calibration prompts, one
// JSON line each, synced before the next prompt is counted, so an
// interrupted run resumes where it stopped. A nil *Journal records nothing.
type Journal struct {
	j    *journal.Journal[journalHeader, journalRecord]
	recs map[string]map[int]PromptResult // dataset -> prompt -> result
}

// Setting is one of the things a calibration checkpoint depends on, by the
// name a user knows it by (a flag, or what the profile holds).
type Setting struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// RunKey identifies a calibration run for resume: Hash covers everything a
// prompt's errors depend on, Settings name the same things one by one.
type RunKey struct {
	Hash     string
	Settings []Setting
}

// JournalPath is the checkpoint file of a calibration that writes output.
func JournalPath(output string) string { return output + ".calibrate.jsonl" }

// ForwardKey is the run part of JournalKey: the model's fingerprint and the
// forward-pass settings that change the errors (a checkpoint of another
// --kv-dtype, --chunk, --rope or --compute must not be resumed, nor one
// of another revision of bf16 arithmetic), as "FINGERPRINT kv=DTYPE
// chunk=N rope=R[ compute=C arithmetic=REV]". f32 compute adds no field,
// so journals written before --compute existed keep their key.
func ForwardKey(fingerprint string, so model.SessionOptions, compute model.ComputeDType) string {
	run := fmt.Sprintf("%s kv=%s chunk=%d rope=%s", fingerprint, so.CacheDType, so.Chunk, so.Rope)
	if compute != model.ComputeF32 {
		run += " compute=" + compute.String()
	}
	if a := compute.Arithmetic(); a != "" {
		run += " arithmetic=" + a
	}
	return run
}

// JournalKey identifies everything a prompt's errors depend on: the model
// (run: its fingerprint and the forward-pass settings as flag=value
// fields, "FINGERPRINT kv=DTYPE chunk=N rope=R"; kv names --kv-dtype), the selection settings, the heads that select, and
// every dataset's name, generation length and prompt ids. Floor, ceiling and
// averages only shape the budgets, so they are left out and may change on
// resume.
func JournalKey(run string, datasets []Dataset, ranking [][]int, opts Options) RunKey {
	h := sha256.New()
	enc := json.NewEncoder(h)
	heads := Heads(ranking, opts.TopK)
	// Encoding plain values cannot fail.
	_ = enc.Encode([]any{JournalFormat, run, opts.Budget, opts.TopK, opts.Selection, heads})
	var settings []Setting
	for i, f := range strings.Fields(run) {
		name, value, ok := strings.Cut(f, "=")
		switch {
		case ok && name == "kv":
			settings = append(settings, Setting{"--kv-dtype", value})
		case ok && name == "arithmetic":
			settings = append(settings, Setting{"bf16 arithmetic revision", value})
		case ok:
			settings = append(settings, Setting{"--" + name, value})
		case i == 0:
			settings = append(settings, Setting{"model fingerprint", f})
		default:
			settings = append(settings, Setting{fmt.Sprintf("model setting %d", i), f})
		}
	}
	settings = append(settings,
		Setting{"--budget", strconv.Itoa(opts.Budget)},
		Setting{"--top-k", strconv.Itoa(opts.TopK)},
		Setting{"--window", strconv.Itoa(opts.Selection.Window)},
		Setting{"--kernel", strconv.Itoa(opts.Selection.Kernel)},
		Setting{"--pooling", string(opts.Selection.Pooling)},
		Setting{"the profile's selecting heads", shortHash(heads)},
	)
	names := make([]string, len(datasets))
	for i, d := range datasets {
		names[i] = d.Name
	}
	settings = append(settings, Setting{"datasets", strings.Join(names, ",")})
	for _, d := range datasets {
		_ = enc.Encode([]any{d.Name, d.MaxNew, d.Prompts})
		settings = append(settings,
			Setting{"dataset " + d.Name + " --max-new", strconv.Itoa(d.MaxNew)},
			Setting{"dataset " + d.Name + " prompts", fmt.Sprintf("%d prompts, ids %s", len(d.Prompts), shortHash(d.Prompts))})
	}
	return RunKey{Hash: "sha256:" + hex.EncodeToString(h.Sum(nil)), Settings: settings}
}

// shortHash names a value by the first 12 hex digits of the sha256 of its
// JSON, enough to tell two apart in a message.
func shortHash(v any) string {
	data, _ := json.Marshal(v)
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:6])
}

// settingsDiff names the first setting whose value differs between a
// checkpoint and this run, or returns "".
func settingsDiff(file, want []Setting) string {
	had := map[string]string{}
	for _, s := range file {
		had[s.Name] = s.Value
	}
	for _, s := range want {
		v, ok := had[s.Name]
		switch {
		case !ok:
			return fmt.Sprintf("checkpoint was written without %s, this run has %s %s", s.Name, s.Name, s.Value)
		case v != s.Value:
			return fmt.Sprintf("checkpoint was written with %s %s, this run has %s %s", s.Name, v, s.Name, s.Value)
		}
	}
	return ""
}

// OpenJournal opens the journal at path for a run identified by key. With
// resume and an existing file written for the same key, its finished
// prompts are kept and new ones appended; a file for another key is an
// error naming the setting that differs and suggesting --resume=false.
// Otherwise the journal starts empty.
func OpenJournal(path string, key RunKey, resume bool) (*Journal, error) {
	j, recs, err := journalLayout.Open(path, journalHeader{Format: JournalFormat, Key: key.Hash, Settings: key.Settings}, resume)
	if err != nil {
		return nil, err
	}
	jr := &Journal{j: j, recs: map[string]map[int]PromptResult{}}
	for _, r := range recs {
		jr.put(r)
	}
	return jr, nil
}

func (j *Journal) put(r journalRecord) {
	if j.recs[r.Dataset] == nil {
		j.recs[r.Dataset] = map[int]PromptResult{}
	}
	j.recs[r.Dataset][r.Prompt] = PromptResult{Errors: r.Errors, Steps: r.Steps}
}

// done returns the recorded result of a prompt.
func (j *Journal) done(dataset string, prompt int) (PromptResult, bool) {
	if j == nil {
		return PromptResult{}, false
	}
	r, ok := j.recs[dataset][prompt]
	return r, ok
}

// append records one finished prompt and syncs it to disk.
func (j *Journal) append(dataset string, prompt int, r PromptResult) error {
	if j == nil {
		return nil
	}
	rec := journalRecord{Dataset: dataset, Prompt: prompt, Steps: r.Steps, Errors: r.Errors}
	if err := j.j.Append(rec); err != nil {
		return err
	}
	j.put(rec)
	return nil
}

// Path returns the journal's file name ("" for a nil journal).
func (j *Journal) Path() string {
	if j == nil {
		return ""
	}
	return j.j.Path()
}

// Close closes the journal file, leaving it on disk.
func (j *Journal) Close() error {
	if j == nil {
		return nil
	}
	return j.j.Close()
}

// Remove closes the journal and deletes its file (after the final profile
// is safely written).
func (j *Journal) Remove() error {
	if j == nil {
		return nil
	}
	return j.j.Remove()
}

// Done counts the prompts of datasets the journal already holds (0 for a
// nil journal): what a resumed run skips.
func (j *Journal) Done(datasets []Dataset) int {
	n := 0
	for _, d := range datasets {
		for p := range d.Prompts {
			if _, ok := j.done(d.Name, p); ok {
				n++
			}
		}
	}
	return n
}
