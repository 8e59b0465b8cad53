package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/compresskv/compresskv/internal/atomicfile"
)

// Layout describes one kind of journal file: H is its header line, R one
// finished unit of work.
//
// On disk every line is one JSON object with one key: {"header": H} first,
// then {"record": R} per record, and, in a sealed journal, a last line
// {"complete": {"records": N}}. H must encode with a "format" key holding
// Format, so that a file of another layout is recognised on its first line.
type Layout[H, R any] struct {
	// Format names the layout, e.g. "compresskv.partial/v1"; it is the
	// header's "format" value and names the layout in errors.
	Format string
	// Same (required) returns nil when a file written with header file
	// can be resumed by a run described by want, or an error saying what
	// differs ("checkpoint was written with a different model"); the
	// journal adds the file name and the --resume=false advice.
	Same func(file, want *H) error
	// Check, when set, validates a record against its header, both when a
	// file is read (the error is prefixed with file:line) and on Append.
	Check func(h *H, r *R) error
}

// File is the content of a journal file.
type File[H, R any] struct {
	Header   H
	Records  []R  // in file order; record i is on line i+2
	Complete bool // the file ends with a completion line
}

// Journal is an open journal, appending records to its file.
type Journal[H, R any] struct {
	layout Layout[H, R]
	path   string
	header H
	f      *os.File
}

// completeMark is the last line of a sealed journal.
type completeMark struct {
	Records int `json:"records"`
}

// line is one JSON line of a journal file; exactly one field is set.
type line[H, R any] struct {
	Header   *H            `json:"header,omitempty"`
	Record   *R            `json:"record,omitempty"`
	Complete *completeMark `json:"complete,omitempty"`
}

// formatOnly reads the format of a header line whatever else it holds.
type formatOnly struct {
	Header *struct {
		Format string `json:"format"`
	} `json:"header"`
}

// Read reads a journal file without opening it for append (for a merge of
// finished files). A last line cut short by an interruption (no trailing
// newline) is ignored; any other malformed line is an error naming the
// file and line.
func (l Layout[H, R]) Read(path string) (*File[H, R], error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f := &File[H, R]{}
	n := 0
	for len(data) > 0 {
		end := bytes.IndexByte(data, '\n')
		if end < 0 {
			break // an unterminated last line is an interruption's torn write
		}
		text := data[:end+1]
		data = data[end+1:]
		n++
		var ln line[H, R]
		if err := json.Unmarshal(text, &ln); err != nil {
			return nil, fmt.Errorf("%s:%d: not a %s line: %w", path, n, l.Format, err)
		}
		switch {
		case n == 1:
			var head formatOnly
			if json.Unmarshal(text, &head) != nil || ln.Header == nil || head.Header == nil || head.Header.Format != l.Format {
				return nil, fmt.Errorf("%s:1: want a %s header line", path, l.Format)
			}
			f.Header = *ln.Header
		case f.Complete:
			return nil, fmt.Errorf("%s:%d: line after the completion mark", path, n)
		case ln.Record != nil:
			if l.Check != nil {
				if err := l.Check(&f.Header, ln.Record); err != nil {
					return nil, fmt.Errorf("%s:%d: %w", path, n, err)
				}
			}
			f.Records = append(f.Records, *ln.Record)
		case ln.Complete != nil:
			if ln.Complete.Records != len(f.Records) {
				return nil, fmt.Errorf("%s:%d: completion mark counts %d records, file has %d", path, n, ln.Complete.Records, len(f.Records))
			}
			f.Complete = true
		default:
			return nil, fmt.Errorf("%s:%d: line is neither a record nor a completion mark", path, n)
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("%s: no %s header line", path, l.Format)
	}
	return f, nil
}

// Open opens the journal at path for a run described by header and returns
// the records a previous run finished. With resume and an existing file
// whose header Same accepts, its records are kept: the file is rewritten
// atomically without a torn last line or a completion line, and new
// records are appended. A file Same refuses, or one that cannot be read,
// is an error suggesting --resume=false. Without resume, or when there is
// no file, the journal starts empty with header as its first line.
func (l Layout[H, R]) Open(path string, header H, resume bool) (*Journal[H, R], []R, error) {
	j := &Journal[H, R]{layout: l, path: path, header: header}
	var records []R
	if resume {
		f, err := l.Read(path)
		switch {
		case err == nil:
			if err := l.Same(&f.Header, &header); err != nil {
				return nil, nil, fmt.Errorf("%s: %v; rerun with --resume=false to discard it and start over", path, err)
			}
			records = f.Records
		case errors.Is(err, os.ErrNotExist):
		default:
			return nil, nil, fmt.Errorf("%w (rerun with --resume=false to discard it)", err)
		}
	}
	if err := j.rewrite(records, false); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint: %w", err)
	}
	j.f = f
	return j, records, nil
}

// rewrite atomically replaces the file with the header, the records in the
// given order and, when complete, the completion line.
func (j *Journal[H, R]) rewrite(records []R, complete bool) error {
	return atomicfile.Write(j.path, 0o644, func(w io.Writer) error {
		if err := writeLine(w, line[H, R]{Header: &j.header}); err != nil {
			return err
		}
		for i := range records {
			if err := writeLine(w, line[H, R]{Record: &records[i]}); err != nil {
				return err
			}
		}
		if complete {
			return writeLine(w, line[H, R]{Complete: &completeMark{Records: len(records)}})
		}
		return nil
	})
}

// writeLine writes one JSON line with its newline in a single Write, so an
// interruption tears at most the last line.
func writeLine[H, R any](w io.Writer, ln line[H, R]) error {
	data, err := json.Marshal(ln)
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// Path returns the journal's file name.
func (j *Journal[H, R]) Path() string { return j.path }

// Append checks a record with the layout's Check, writes it as one line
// and syncs the file before returning, so an interruption loses at most the
// record in flight.
func (j *Journal[H, R]) Append(r R) error {
	if j.f == nil {
		return fmt.Errorf("%s: journal is closed", j.path)
	}
	if j.layout.Check != nil {
		if err := j.layout.Check(&j.header, &r); err != nil {
			return fmt.Errorf("%s: %w", j.path, err)
		}
	}
	if err := writeLine(j.f, line[H, R]{Record: &r}); err != nil {
		return fmt.Errorf("%s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("%s: sync: %w", j.path, err)
	}
	return nil
}

// Close closes the journal file, leaving it on disk.
func (j *Journal[H, R]) Close() error {
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// Finish closes the journal and replaces it, atomically, with its sealed
// form: the header, records in the given order (the caller's final order,
// which may differ from the order they were appended in) and the completion
// line. A sealed file still resumes; Open drops the completion line.
func (j *Journal[H, R]) Finish(records []R) error {
	if err := j.Close(); err != nil {
		return fmt.Errorf("%s: %w", j.path, err)
	}
	return j.rewrite(records, true)
}

// Remove closes the journal and deletes its file (once the run's output is
// safely written). A file already gone is not an error.
func (j *Journal[H, R]) Remove() error {
	j.Close()
	if err := os.Remove(j.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
