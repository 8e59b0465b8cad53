package calibrate

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/compresskv/compresskv/internal/atomicfile"
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

type journalLine struct {
	Header *journalHeader `json:"header,omitempty"`
	Record *journalRecord `json:"record,omitempty"`
}

// Journal is an append-only record of finished calibration prompts, one
// JSON line each, synced before the next prompt is counted, so an
// interrupted run resumes where it stopped. A nil *Journal records nothing.
type Journal struct {
	path string
	key  string
	f    *os.File
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
	j := &Journal{path: path, key: key, recs: map[string]map[int]PromptResult{}}
	if resume {
		recs, fileKey, err := readJournal(path)
		switch {
		case err == nil:
			if fileKey != key {
				return nil, fmt.Errorf("%s: checkpoint was written for a different model, data or settings; rerun with --resume=false to discard it and start over", path)
			}
			for _, r := range recs {
				j.put(r)
			}
			// Rewrite without a torn last line, atomically, then append.
			if err := writeJournal(path, key, recs); err != nil {
				return nil, err
			}
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				return nil, fmt.Errorf("checkpoint: %w", err)
			}
			j.f = f
			return j, nil
		case errors.Is(err, os.ErrNotExist):
		default:
			return nil, fmt.Errorf("%w (rerun with --resume=false to discard it)", err)
		}
	}
	if err := writeJournal(path, key, nil); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	j.f = f
	return j, nil
}

// readJournal reads a journal file. A last line without its newline is a
// write torn by an interruption and is dropped.
func readJournal(path string) ([]journalRecord, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	lines := bytes.Split(data, []byte("\n"))
	lines = lines[:len(lines)-1] // after the last newline: "" or a torn line
	if len(lines) == 0 {
		return nil, "", fmt.Errorf("%s: empty checkpoint", path)
	}
	var head journalLine
	if err := json.Unmarshal(lines[0], &head); err != nil || head.Header == nil || head.Header.Format != JournalFormat {
		return nil, "", fmt.Errorf("%s:1: not a %s checkpoint", path, JournalFormat)
	}
	var recs []journalRecord
	for n, line := range lines[1:] {
		var ln journalLine
		if err := json.Unmarshal(line, &ln); err != nil || ln.Record == nil {
			return nil, "", fmt.Errorf("%s:%d: not a record line", path, n+2)
		}
		recs = append(recs, *ln.Record)
	}
	return recs, head.Header.Key, nil
}

func writeJournal(path, key string, recs []journalRecord) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		if err := enc.Encode(journalLine{Header: &journalHeader{Format: JournalFormat, Key: key}}); err != nil {
			return err
		}
		for i := range recs {
			if err := enc.Encode(journalLine{Record: &recs[i]}); err != nil {
				return err
			}
		}
		return nil
	})
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
	data, err := json.Marshal(journalLine{Record: &rec})
	if err != nil {
		return fmt.Errorf("%s: %w", j.path, err)
	}
	if _, err := j.f.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("%s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("%s: sync: %w", j.path, err)
	}
	j.put(rec)
	return nil
}

// Path returns the journal's file name ("" for a nil journal).
func (j *Journal) Path() string {
	if j == nil {
		return ""
	}
	return j.path
}

// Close closes the journal file, leaving it on disk.
func (j *Journal) Close() error {
	if j == nil || j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// Remove closes the journal and deletes its file (after the final profile
// is safely written).
func (j *Journal) Remove() error {
	if j == nil {
		return nil
	}
	j.Close()
	if err := os.Remove(j.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
