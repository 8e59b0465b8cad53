package calibrate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"

	"github.com/compresskv/compresskv/internal/journal"
)

// JournalFormat names the calibration checkpoint layout.
const JournalFormat = "compresskv.calibrate-journal/v1"

// journalHeader is the first line of a journal.
type journalHeader struct {
	Format string `json:"format"`
	Key    string `json:"key"` // JournalKey of the run
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
		if file.Key != want.Key {
			return errors.New("checkpoint was written for a different model, data or settings")
		}
		return nil
	},
}

// Journal is an append-only record of finished calibration prompts, one
// JSON line each, synced before the next prompt is counted, so an
// interrupted run resumes where it stopped. A nil *Journal records nothing.
type Journal struct {
	j    *journal.Journal[journalHeader, journalRecord]
	recs map[string]map[int]PromptResult // dataset -> prompt -> result
}

// JournalKey identifies everything a prompt's errors depend on: the model
// fingerprint, the selection settings, the heads that select, and every
// dataset's name, generation length and prompt ids. Floor, ceiling and
// averages only shape the budgets, so they are left out and may change on
// resume.
func JournalKey(fingerprint string, datasets []Dataset, ranking [][]int, opts Options) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	// Encoding plain values cannot fail.
	_ = enc.Encode([]any{JournalFormat, fingerprint, opts.Budget, opts.TopK, opts.Selection, Heads(ranking, opts.TopK)})
	for _, d := range datasets {
		_ = enc.Encode([]any{d.Name, d.MaxNew, d.Prompts})
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// OpenJournal opens the journal at path for a run identified by key. With
// resume and an existing file written for the same key, its finished
// prompts are kept and new ones appended; a file for another key is an
// error suggesting --resume=false. Otherwise the journal starts empty.
func OpenJournal(path, key string, resume bool) (*Journal, error) {
	j, recs, err := journalLayout.Open(path, journalHeader{Format: JournalFormat, Key: key}, resume)
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
