package profile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/compresskv/compresskv/internal/atomicfile"
	"github.com/compresskv/compresskv/profile/schema"
)

// PartialFormat names the checkpoint / shard file layout.
const PartialFormat = "compresskv.partial/v1"

// Header is the first line of a checkpoint or shard file: everything the
// finished probes depend on. A resume and a merge both require it equal
// (except for Shard, which only says which probes a file is meant to hold).
type Header struct {
	Format string       `json:"format"` // PartialFormat
	Tool   schema.Tool  `json:"tool"`
	Model  schema.Model `json:"model"`
	// Probes holds the probe settings and the skip counts of the whole run;
	// its Run, Successful and Results stay empty (they come from records).
	Probes schema.ProbeInfo `json:"probes"`
	// Indices lists every probe index of the whole run, ascending.
	Indices []int `json:"indices"`
	Shard   Shard `json:"shard"`
}

// Record is one finished probe: its result and its per-probe head scores
// (before the success gate and the mean). Floats are written in Go's
// shortest round-trip form, so a resumed run reads back the exact bits.
type Record struct {
	Index     int                `json:"index"`
	Result    schema.ProbeResult `json:"result"`
	SRH       [][]float64        `json:"srh"`       // [layers][heads]
	Retrieval [][]float64        `json:"retrieval"` // [layers][heads]
}

// completeMark is the last line of a finished shard file.
type completeMark struct {
	Records int `json:"records"`
}

// line is one JSON line of a partial file; exactly one field is set.
type line struct {
	Header   *Header       `json:"header,omitempty"`
	Record   *Record       `json:"record,omitempty"`
	Complete *completeMark `json:"complete,omitempty"`
}

// Partial is the content of a checkpoint or shard file.
type Partial struct {
	Path     string
	Header   Header
	Records  []Record // in file order
	Complete bool     // the file ends with a completion mark
	validLen int64    // bytes up to the last whole line
}

// ReadPartial reads a checkpoint or shard file. A last line cut short by a
// crash (no trailing newline) is ignored; any other malformed line is an
// error naming the file and line.
func ReadPartial(path string) (*Partial, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p := &Partial{Path: path}
	r := bufio.NewReader(bytes.NewReader(data))
	var offset int64
	for n := 1; ; n++ {
		text, err := r.ReadBytes('\n')
		if err == io.EOF {
			break // an unterminated last line is a crash's torn write
		}
		offset += int64(len(text))
		var ln line
		if err := json.Unmarshal(text, &ln); err != nil {
			return nil, fmt.Errorf("%s:%d: not a %s line: %w", path, n, PartialFormat, err)
		}
		switch {
		case n == 1:
			if ln.Header == nil || ln.Header.Format != PartialFormat {
				return nil, fmt.Errorf("%s:1: want a %s header line", path, PartialFormat)
			}
			p.Header = *ln.Header
		case p.Complete:
			return nil, fmt.Errorf("%s:%d: line after the completion mark", path, n)
		case ln.Record != nil:
			if err := checkRecord(ln.Record, &p.Header.Model); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, n, err)
			}
			p.Records = append(p.Records, *ln.Record)
		case ln.Complete != nil:
			if ln.Complete.Records != len(p.Records) {
				return nil, fmt.Errorf("%s:%d: completion mark counts %d records, file has %d", path, n, ln.Complete.Records, len(p.Records))
			}
			p.Complete = true
		default:
			return nil, fmt.Errorf("%s:%d: line is neither a record nor a completion mark", path, n)
		}
		p.validLen = offset
	}
	if p.validLen == 0 {
		return nil, fmt.Errorf("%s: no %s header line", path, PartialFormat)
	}
	return p, nil
}

// checkRecord checks a record's matrices against the model shape.
func checkRecord(r *Record, m *schema.Model) error {
	if r.Index != r.Result.Index {
		return fmt.Errorf("probe %d: result carries index %d", r.Index, r.Result.Index)
	}
	for _, mat := range []struct {
		name string
		v    [][]float64
	}{{"srh", r.SRH}, {"retrieval", r.Retrieval}} {
		if len(mat.v) != m.Layers {
			return fmt.Errorf("probe %d: %s has %d layers, model has %d", r.Index, mat.name, len(mat.v), m.Layers)
		}
		for l, row := range mat.v {
			if len(row) != m.Heads {
				return fmt.Errorf("probe %d: %s[%d] has %d heads, model has %d", r.Index, mat.name, l, len(row), m.Heads)
			}
		}
	}
	return nil
}

// headerDiff names the first part in which two headers differ (the shard
// is not compared), or returns "" when they agree.
func headerDiff(a, b *Header) string {
	parts := []struct {
		name string
		x, y any
	}{
		{"format", a.Format, b.Format},
		{"model (architecture, shape or fingerprint)", a.Model, b.Model},
		{"tool version", a.Tool, b.Tool},
		{"probe settings", a.Probes, b.Probes},
		{"probe list", a.Indices, b.Indices},
	}
	for _, p := range parts {
		x, _ := json.Marshal(p.x)
		y, _ := json.Marshal(p.y)
		if !bytes.Equal(x, y) {
			return p.name
		}
	}
	return ""
}

// Checkpoint is an append-only journal of finished probes. Each record is
// one JSON line, synced to disk before Append returns, so a crash loses at
// most the probe in flight.
type Checkpoint struct {
	path   string
	header Header
	f      *os.File
	done   map[int]Record
}

// OpenCheckpoint opens the journal at path for a run described by h. With
// resume and an existing file, the finished probes are loaded (Done) and new
// ones are appended; a file written with different settings is an error that
// suggests --resume=false. Without resume, or when there is no file, the
// journal starts empty with h as its header.
func OpenCheckpoint(path string, h Header, resume bool) (*Checkpoint, error) {
	h.Format = PartialFormat
	c := &Checkpoint{path: path, header: h, done: map[int]Record{}}
	if resume {
		p, err := ReadPartial(path)
		switch {
		case err == nil:
			if d := headerDiff(&p.Header, &h); d != "" || p.Header.Shard != h.Shard {
				if d == "" {
					d = "shard"
				}
				return nil, fmt.Errorf("%s: checkpoint was written with a different %s; rerun with --resume=false to discard it and start over", path, d)
			}
			for _, r := range p.Records {
				c.done[r.Index] = r
			}
			// Rewrite the journal without a torn last line or a completion
			// mark, atomically, then append to it.
			if err := writeJournal(path, &c.header, p.Records, false); err != nil {
				return nil, err
			}
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				return nil, fmt.Errorf("checkpoint: %w", err)
			}
			c.f = f
			return c, nil
		case errors.Is(err, os.ErrNotExist):
		default:
			return nil, fmt.Errorf("%w (rerun with --resume=false to discard it)", err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	c.f = f
	if err := c.write(line{Header: &c.header}); err != nil {
		f.Close()
		return nil, err
	}
	return c, nil
}

// encodeLine encodes one journal line with its newline.
func encodeLine(ln line) ([]byte, error) {
	data, err := json.Marshal(ln)
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// writeJournal atomically writes a whole partial file: the header, the
// records in the given order and, when complete, the completion mark.
func writeJournal(path string, h *Header, records []Record, complete bool) error {
	lines := []line{{Header: h}}
	for i := range records {
		lines = append(lines, line{Record: &records[i]})
	}
	if complete {
		lines = append(lines, line{Complete: &completeMark{Records: len(records)}})
	}
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		for _, ln := range lines {
			data, err := encodeLine(ln)
			if err != nil {
				return err
			}
			if _, err := w.Write(data); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c *Checkpoint) write(ln line) error {
	data, err := encodeLine(ln)
	if err != nil {
		return fmt.Errorf("%s: %w", c.path, err)
	}
	if _, err := c.f.Write(data); err != nil {
		return fmt.Errorf("%s: %w", c.path, err)
	}
	if err := c.f.Sync(); err != nil {
		return fmt.Errorf("%s: sync: %w", c.path, err)
	}
	return nil
}

// Path returns the journal's file name.
func (c *Checkpoint) Path() string { return c.path }

// Done returns the finished probes loaded at open or appended since, by
// probe index.
func (c *Checkpoint) Done() map[int]Record { return c.done }

// Append journals one finished probe and syncs it to disk.
func (c *Checkpoint) Append(r Record) error {
	if _, dup := c.done[r.Index]; dup {
		return fmt.Errorf("%s: probe %d is already recorded", c.path, r.Index)
	}
	if err := checkRecord(&r, &c.header.Model); err != nil {
		return fmt.Errorf("%s: %w", c.path, err)
	}
	if err := c.write(line{Record: &r}); err != nil {
		return err
	}
	c.done[r.Index] = r
	return nil
}

// Records returns the finished probes in index order.
func (c *Checkpoint) Records() []Record {
	out := make([]Record, 0, len(c.done))
	for _, r := range c.done {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// Close closes the journal file, leaving it on disk.
func (c *Checkpoint) Close() error {
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}

// Finish closes the journal and replaces it, atomically, with the shard
// file form: the header, the records in index order, and the completion
// mark that `compresskv merge` requires.
func (c *Checkpoint) Finish() error {
	if err := c.Close(); err != nil {
		return fmt.Errorf("%s: %w", c.path, err)
	}
	return writeJournal(c.path, &c.header, c.Records(), true)
}

// Remove closes the journal and deletes its file (after the final profile
// is safely written).
func (c *Checkpoint) Remove() error {
	c.Close()
	if err := os.Remove(c.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
