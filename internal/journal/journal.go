package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/compresskv/compresskv/internal/atomicfile"
)

// Layout describes one kind of journal file: H is its header line, R one
// finished unit of work.
//
// On disk every line is one JSON object with one payload key and its
// checksum: {"header": H, "crc32c": "..."} first, then {"record": R, ...}
// per record, and, in a sealed journal, a last line {"complete":
// {"records": N}, ...}. H must encode with a "format" key holding Format,
// so that a file of another layout is recognised on its first line.
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
	lock   *lockFile
	f      *os.File // nil until the file is ready to append to
	// pending holds the records the file is rewritten with before the
	// first append, when the file on disk is not yet the journal's.
	pending []R
	closed  bool
}

// completeMark is the last line of a sealed journal.
type completeMark struct {
	Records int `json:"records"`
}

// checksumKey is the key of every line's checksum: the CRC-32C of the
// line's payload (the value of its "header", "record" or "complete" key)
// exactly as written, in 8 lower-case hex digits.
const checksumKey = "crc32c"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(payload []byte) string {
	return fmt.Sprintf("%08x", crc32.Checksum(payload, castagnoli))
}

// rawLine is one JSON line of a journal file as read: exactly one payload
// and its checksum; any other key is an error.
type rawLine struct {
	Header   json.RawMessage `json:"header"`
	Record   json.RawMessage `json:"record"`
	Complete json.RawMessage `json:"complete"`
	Sum      *string         `json:"crc32c"`
}

// formatOnly reads the format of a header whatever else it holds.
type formatOnly struct {
	Format string `json:"format"`
}

// decodeStrict decodes one JSON value, refusing keys v has no field for (a
// garbled key would otherwise leave its field silently zero).
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// parseLine decodes one line and checks its checksum. It returns which
// payload the line holds ("header", "record", "complete") and its bytes.
func parseLine(text []byte) (kind string, payload []byte, err error) {
	var ln rawLine
	if err := decodeStrict(text, &ln); err != nil {
		return "", nil, err
	}
	n := 0
	for _, p := range []struct {
		kind string
		raw  json.RawMessage
	}{{"header", ln.Header}, {"record", ln.Record}, {"complete", ln.Complete}} {
		if p.raw != nil {
			kind, payload = p.kind, p.raw
			n++
		}
	}
	switch {
	case n != 1 || string(payload) == "null":
		return "", nil, errors.New("want exactly one of header, record or complete")
	case ln.Sum == nil:
		return "", nil, errors.New("no checksum (written by an older compresskv, or edited by hand)")
	case *ln.Sum != checksum(payload):
		return "", nil, fmt.Errorf("checksum %s does not match the line's content (%s): the line was changed after it was written", *ln.Sum, checksum(payload))
	}
	return kind, payload, nil
}

// Read reads a journal file without opening it for append (for a merge of
// finished files). A last line cut short by an interruption (no trailing
// newline) is ignored; any other malformed line, a line whose checksum
// does not match and a key the layout does not know are errors naming the
// file and line.
func (l Layout[H, R]) Read(path string) (*File[H, R], error) {
	f, _, err := l.read(path)
	return f, err
}

// Parse is Read of a file's bytes; path names the file in errors.
func (l Layout[H, R]) Parse(data []byte, path string) (*File[H, R], error) {
	f, _, err := l.parse(data, path)
	return f, err
}

// read is Read, also saying whether the file ended in a torn line.
func (l Layout[H, R]) read(path string) (*File[H, R], bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false, err
	}
	return l.parse(data, path)
}

func (l Layout[H, R]) parse(data []byte, path string) (*File[H, R], bool, error) {
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
		kind, payload, err := parseLine(text)
		if err != nil {
			return nil, false, fmt.Errorf("%s:%d: not a %s line: %w", path, n, l.Format, err)
		}
		switch {
		case n == 1:
			var head formatOnly
			if kind != "header" || json.Unmarshal(payload, &head) != nil || head.Format != l.Format {
				return nil, false, fmt.Errorf("%s:1: want a %s header line", path, l.Format)
			}
			if err := decodeStrict(payload, &f.Header); err != nil {
				return nil, false, fmt.Errorf("%s:1: %s header: %w", path, l.Format, err)
			}
		case f.Complete:
			return nil, false, fmt.Errorf("%s:%d: line after the completion mark", path, n)
		case kind == "record":
			var r R
			if err := decodeStrict(payload, &r); err != nil {
				return nil, false, fmt.Errorf("%s:%d: record: %w", path, n, err)
			}
			if l.Check != nil {
				if err := l.Check(&f.Header, &r); err != nil {
					return nil, false, fmt.Errorf("%s:%d: %w", path, n, err)
				}
			}
			f.Records = append(f.Records, r)
		case kind == "complete":
			var c completeMark
			if err := decodeStrict(payload, &c); err != nil {
				return nil, false, fmt.Errorf("%s:%d: completion mark: %w", path, n, err)
			}
			if c.Records != len(f.Records) {
				return nil, false, fmt.Errorf("%s:%d: completion mark counts %d records, file has %d", path, n, c.Records, len(f.Records))
			}
			f.Complete = true
		default:
			return nil, false, fmt.Errorf("%s:%d: line is neither a record nor a completion mark", path, n)
		}
	}
	if n == 0 {
		return nil, false, fmt.Errorf("%s: no %s header line", path, l.Format)
	}
	return f, len(data) > 0, nil
}

// Open opens the journal at path for a run described by header and returns
// the records a previous run finished. It first takes the journal's lock
// (<path>.lock): while one run holds it, a second fails at once with a
// message naming the holder's pid, host and start time.
//
// With resume and an existing file whose header Same accepts, its records
// are kept and new records are appended. A file Same refuses, or one that
// cannot be read, is an error suggesting --resume=false. Without resume, or
// when there is no file, the journal starts empty with header as its first
// line.
//
// An existing file is not changed by Open: a torn last line or a
// completion line is dropped, and a file discarded with --resume=false is
// replaced, only by the first Append (or Finish), so a run refused after
// Open (its caller found the records do not fit) leaves the file as it was.
func (l Layout[H, R]) Open(path string, header H, resume bool) (_ *Journal[H, R], _ []R, err error) {
	lk, err := lock(path)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			lk.unlock()
		}
	}()
	j := &Journal[H, R]{layout: l, path: path, header: header, lock: lk}
	var records []R
	exists := true
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		exists = false
	}
	clean := false
	if resume && exists {
		f, torn, err := l.read(path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				exists = false
			} else {
				return nil, nil, fmt.Errorf("%w (rerun with --resume=false to discard it)", err)
			}
		} else {
			if err := l.Same(&f.Header, &header); err != nil {
				return nil, nil, fmt.Errorf("%s: %v; rerun with --resume=false to discard it and start over", path, err)
			}
			records = f.Records
			clean = !torn && !f.Complete
		}
	}
	switch {
	case !exists:
		// Nothing to lose: the header goes to disk at once.
		if err := j.rewrite(nil, false); err != nil {
			return nil, nil, err
		}
		clean = true
	case !clean:
		j.pending = records
	}
	if clean {
		if err := j.openAppend(); err != nil {
			return nil, nil, err
		}
	}
	return j, records, nil
}

// openAppend opens the file for appending records.
func (j *Journal[H, R]) openAppend() error {
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	j.f = f
	return nil
}

// rewrite atomically replaces the file with the header, the records in the
// given order and, when complete, the completion line.
func (j *Journal[H, R]) rewrite(records []R, complete bool) error {
	data, err := encodeFile(&j.header, records, complete)
	if err != nil {
		return err
	}
	return atomicfile.Write(j.path, 0o644, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// encodeFile is the whole content of a journal file: the header line, a
// line per record in the given order and, when complete, the completion
// line. It is the one place a file's bytes are laid out, so the fuzzer
// can check in memory that whatever Parse accepts encodes back to a file
// Parse reads as the same.
func encodeFile[H, R any](header *H, records []R, complete bool) ([]byte, error) {
	var b bytes.Buffer
	if err := writeLine(&b, "header", header); err != nil {
		return nil, err
	}
	for i := range records {
		if err := writeLine(&b, "record", &records[i]); err != nil {
			return nil, err
		}
	}
	if complete {
		if err := writeLine(&b, "complete", &completeMark{Records: len(records)}); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// writeLine writes one JSON line, {"<kind>": payload, "crc32c": sum}, with
// its newline in a single Write, so an interruption tears at most the last
// line.
func writeLine(w io.Writer, kind string, v any) error {
	line, err := encodeLine(kind, v)
	if err != nil {
		return err
	}
	_, err = w.Write(line)
	return err
}

func encodeLine(kind string, v any) ([]byte, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	line := make([]byte, 0, len(payload)+len(kind)+32)
	line = fmt.Appendf(line, "{%q:", kind)
	line = append(line, payload...)
	line = fmt.Appendf(line, ",%q:%q}\n", checksumKey, checksum(payload))
	return line, nil
}

// WithChecksum returns a journal line, {"header"|"record"|"complete": ...}
// without a checksum, with its checksum added, for tests and tools that
// write journal files by hand. It fails on a line that is not one JSON
// object with exactly one of those keys.
func WithChecksum(line string) (string, error) {
	var ln map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &ln); err != nil {
		return "", err
	}
	if len(ln) != 1 {
		return "", fmt.Errorf("want one key, got %d", len(ln))
	}
	for kind, raw := range ln {
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			return "", err
		}
		out := fmt.Sprintf("{%q:%s,%q:%q}\n", kind, compact.Bytes(), checksumKey, checksum(compact.Bytes()))
		return out, nil
	}
	panic("unreachable")
}

// Path returns the journal's file name.
func (j *Journal[H, R]) Path() string { return j.path }

// Append checks a record with the layout's Check, writes it as one line
// and syncs the file before returning, so an interruption loses at most the
// record in flight. The first Append after a resume that has to drop a
// torn or completion line, or after --resume=false on an existing file,
// first rewrites the file atomically.
func (j *Journal[H, R]) Append(r R) error {
	if j.closed {
		return fmt.Errorf("%s: journal is closed", j.path)
	}
	if j.layout.Check != nil {
		if err := j.layout.Check(&j.header, &r); err != nil {
			return fmt.Errorf("%s: %w", j.path, err)
		}
	}
	if j.f == nil {
		if err := j.rewrite(j.pending, false); err != nil {
			return err
		}
		j.pending = nil
		if err := j.openAppend(); err != nil {
			return err
		}
	}
	if err := writeLine(j.f, "record", &r); err != nil {
		return fmt.Errorf("%s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("%s: sync: %w", j.path, err)
	}
	return nil
}

// closeFile closes the append handle, keeping the lock.
func (j *Journal[H, R]) closeFile() error {
	j.closed = true
	j.pending = nil
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// Close closes the journal file, leaving it on disk, and releases its lock.
func (j *Journal[H, R]) Close() error {
	err := j.closeFile()
	j.lock.unlock()
	return err
}

// Finish closes the journal and replaces it, atomically, with its sealed
// form: the header, records in the given order (the caller's final order,
// which may differ from the order they were appended in) and the completion
// line. A sealed file still resumes; Open drops the completion line. The
// lock is released once the sealed file is in place.
func (j *Journal[H, R]) Finish(records []R) error {
	defer j.lock.unlock()
	if err := j.closeFile(); err != nil {
		return fmt.Errorf("%s: %w", j.path, err)
	}
	return j.rewrite(records, true)
}

// Remove closes the journal and deletes its file (once the run's output is
// safely written), then releases the lock. A file already gone is not an
// error.
func (j *Journal[H, R]) Remove() error {
	defer j.lock.unlock()
	j.closeFile()
	if err := os.Remove(j.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
