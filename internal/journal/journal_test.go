package journal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/internal/filelock"
)

// testHeader and testRecord stand for a caller's header and unit of work.
type testHeader struct {
	Format string `json:"format"`
	Run    string `json:"run"`
	Size   int    `json:"size"` // records must have ID < Size
}

type testRecord struct {
	ID    int     `json:"id"`
	Value float64 `json:"value"`
}

var testLayout = Layout[testHeader, testRecord]{
	Format: "test/v1",
	Same: func(file, want *testHeader) error {
		if file.Run != want.Run {
			return fmt.Errorf("checkpoint was written for run %q", file.Run)
		}
		return nil
	},
	Check: func(h *testHeader, r *testRecord) error {
		if r.ID >= h.Size {
			return fmt.Errorf("record %d: beyond size %d", r.ID, h.Size)
		}
		return nil
	},
}

func header(run string) testHeader { return testHeader{Format: "test/v1", Run: run, Size: 10} }

// sum adds the checksum to a hand-written line (TestChecksum pins the
// checksum itself to a published CRC-32C check value).
func sum(line string) string {
	out, err := WithChecksum(line)
	if err != nil {
		panic(err)
	}
	return out
}

// The exact lines the layout above writes.
var (
	headLine   = sum(`{"header":{"format":"test/v1","run":"a","size":10}}`)
	record1    = sum(`{"record":{"id":1,"value":0.3333333333333333}}`)
	record2    = sum(`{"record":{"id":2,"value":-0.5}}`)
	record3    = sum(`{"record":{"id":3,"value":1e-300}}`)
	tornRecord = `{"record":{"id":3,"va`
)

func TestChecksum(t *testing.T) {
	// The CRC-32C check value of "123456789" (RFC 3720, appendix B.4).
	if got := checksum([]byte("123456789")); got != "e3069283" {
		t.Fatalf("checksum(123456789) = %s, want e3069283", got)
	}
	want := `{"record":{"id":2,"value":-0.5},"crc32c":"` + checksum([]byte(`{"id":2,"value":-0.5}`)) + `"}` + "\n"
	if record2 != want {
		t.Fatalf("record line %q, want %q", record2, want)
	}
}

var (
	rec1 = testRecord{ID: 1, Value: 1.0 / 3}
	rec2 = testRecord{ID: 2, Value: -0.5}
	rec3 = testRecord{ID: 3, Value: 1e-300}
)

func readString(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// openWith creates path holding data and opens it with resume.
func openWith(t *testing.T, data string) (string, *Journal[testHeader, testRecord], []testRecord, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run.jsonl")
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	j, recs, err := testLayout.Open(path, header("a"), true)
	return path, j, recs, err
}

func TestAppendIsSyncedLineByLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.jsonl")
	j, recs, err := testLayout.Open(path, header("a"), true) // no file yet
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 0 {
		t.Fatalf("a new journal returned %d records", len(recs))
	}
	if got := readString(t, path); got != headLine {
		t.Fatalf("new journal holds %q, want the header line %q", got, headLine)
	}
	// Each Append is on disk when it returns (nothing is buffered).
	want := headLine
	for _, r := range []struct {
		rec  testRecord
		line string
	}{{rec1, record1}, {rec2, record2}} {
		if err := j.Append(r.rec); err != nil {
			t.Fatal(err)
		}
		want += r.line
		if got := readString(t, path); got != want {
			t.Fatalf("after Append(%v) the file holds %q, want %q", r.rec, got, want)
		}
	}
	// A record the layout's Check refuses is not written.
	err = j.Append(testRecord{ID: 10})
	if err == nil || !strings.Contains(err.Error(), path+": record 10: beyond size 10") {
		t.Errorf("Append of a bad record: error %v", err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Append(rec3); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Append after Close: error %v", err)
	}
	if got := readString(t, path); got != want {
		t.Fatalf("refused appends changed the file to %q", got)
	}
}

func TestResumeDropsTornLineAtomically(t *testing.T) {
	path, j, recs, err := openWith(t, headLine+record1+record2+tornRecord)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if !reflect.DeepEqual(recs, []testRecord{rec1, rec2}) {
		t.Fatalf("resumed records %v, want %v (exact floats)", recs, []testRecord{rec1, rec2})
	}
	// The torn line goes with the first append, not before.
	if got := readString(t, path); got != headLine+record1+record2+tornRecord {
		t.Fatalf("resume changed the file before any append: %q", got)
	}
	if err := j.Append(rec3); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, path); got != headLine+record1+record2+record3 {
		t.Fatalf("append after resume: file holds %q", got)
	}
}

func TestResumeRewritesByRename(t *testing.T) {
	// A reader holding the old file keeps seeing it whole: the rewrite went
	// to a new file renamed over the old one, not into the old one.
	old := headLine + record1 + tornRecord
	path := filepath.Join(t.TempDir(), "run.jsonl")
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	held, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	j, _, err := testLayout.Open(path, header("a"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Append(rec3); err != nil {
		t.Fatal(err)
	}
	seen, err := io.ReadAll(held)
	if err != nil || string(seen) != old {
		t.Fatalf("the old file changed under its reader: %q, %v", seen, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 2 || entries[0].Name() != "run.jsonl" || entries[1].Name() != "run.jsonl.lock" {
		t.Fatalf("rewrite left files behind: %v", entries)
	}
}

func TestResumeRefuses(t *testing.T) {
	tests := []struct {
		name, data string
		want       []string
	}{
		{"other run", headLine + record1, []string{"run.jsonl: checkpoint was written for run \"a\"; rerun with --resume=false to discard it and start over"}},
		{"malformed", headLine + "{oops\n", []string{"run.jsonl:2: not a test/v1 line", "(rerun with --resume=false to discard it)"}},
		{"other layout", sum(`{"header":{"format":"other/v1"}}`), []string{"run.jsonl:1: want a test/v1 header line", "--resume=false"}},
		{"garbled record", headLine + strings.Replace(record1, "0.333", "0.334", 1), []string{"run.jsonl:2: not a test/v1 line: checksum", "the line was changed after it was written", "--resume=false"}},
		{"unknown key", headLine + sum(`{"record":{"id":1,"valeu":2}}`), []string{`run.jsonl:2: record: json: unknown field "valeu"`, "--resume=false"}},
		{"no checksum", headLine + `{"record":{"id":1,"value":2}}` + "\n", []string{"run.jsonl:2: not a test/v1 line: no checksum"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "run.jsonl")
			if err := os.WriteFile(path, []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := testLayout.Open(path, header("b"), true)
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v, want one containing %q", err, w)
				}
			}
			if got := readString(t, path); got != tc.data {
				t.Errorf("a refused resume changed the file to %q", got)
			}
			// Without resume the journal starts over, but the old file
			// stays until the first record replaces it.
			j, recs, err := testLayout.Open(path, header("b"), false)
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			if len(recs) != 0 || readString(t, path) != tc.data {
				t.Errorf("--resume=false returned %d records, changed the file to %q before any record", len(recs), readString(t, path))
			}
			if err := j.Append(rec1); err != nil {
				t.Fatal(err)
			}
			if got := readString(t, path); got != sum(`{"header":{"format":"test/v1","run":"b","size":10}}`)+record1 {
				t.Errorf("--resume=false then Append: file %q", got)
			}
		})
	}
}

func TestFinishSealsAndResumes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.jsonl")
	j, _, err := testLayout.Open(path, header("a"), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []testRecord{rec3, rec1} {
		if err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	// The caller's final order, not the append order.
	if err := j.Finish([]testRecord{rec1, rec3}); err != nil {
		t.Fatal(err)
	}
	sealed := headLine + record1 + record3 + sum(`{"complete":{"records":2}}`)
	if got := readString(t, path); got != sealed {
		t.Fatalf("sealed file %q, want %q", got, sealed)
	}
	f, err := testLayout.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Complete || f.Header != header("a") || !reflect.DeepEqual(f.Records, []testRecord{rec1, rec3}) {
		t.Fatalf("Read of the sealed file: %+v", f)
	}
	// A sealed file resumes; the completion line goes with the next append.
	j, recs, err := testLayout.Open(path, header("a"), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Append(rec2); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || readString(t, path) != headLine+record1+record3+record2 {
		t.Fatalf("resume of a sealed file: %d records, file %q", len(recs), readString(t, path))
	}
	if err := j.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Remove left the file: %v", err)
	}
	if err := j.Remove(); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

func TestReadRejects(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"empty", "", "x.jsonl: no test/v1 header line"},
		{"torn header", `{"header":{"format":"te`, "x.jsonl: no test/v1 header line"},
		{"no header", record1, "x.jsonl:1: want a test/v1 header line"},
		{"other format", sum(`{"header":{"format":"other/v1"}}`), "x.jsonl:1: want a test/v1 header line"},
		{"format not a string", sum(`{"header":{"format":1}}`), "x.jsonl:1: want a test/v1 header line"},
		{"unknown header key", sum(`{"header":{"format":"test/v1","rnu":"a"}}`), `x.jsonl:1: test/v1 header: json: unknown field "rnu"`},
		{"bad json", headLine + "{oops\n", "x.jsonl:2: not a test/v1 line"},
		{"blank line", headLine + record1 + "\n" + record2, "x.jsonl:3: not a test/v1 line"},
		{"record check", headLine + record1 + sum(`{"record":{"id":12}}`), "x.jsonl:3: record 12: beyond size 10"},
		{"neither", headLine + sum(`{"header":{"format":"test/v1"}}`), "x.jsonl:2: line is neither a record nor a completion mark"},
		{"two payloads", headLine + `{"record":{"id":1},"complete":{"records":1},"crc32c":"00000000"}` + "\n", "x.jsonl:2: not a test/v1 line: want exactly one of header, record or complete"},
		{"unknown line key", headLine + `{"record":{"id":1},"crc32c":"00000000","note":1}` + "\n", `x.jsonl:2: not a test/v1 line: json: unknown field "note"`},
		{"wrong count", headLine + record1 + sum(`{"complete":{"records":3}}`), "x.jsonl:3: completion mark counts 3 records, file has 1"},
		{"after complete", headLine + sum(`{"complete":{"records":0}}`) + record1, "x.jsonl:3: line after the completion mark"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.jsonl")
			if err := os.WriteFile(path, []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := testLayout.Read(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := testLayout.Read(filepath.Join(t.TempDir(), "none.jsonl")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Read of a missing file: %v, want os.ErrNotExist", err)
	}
}

// FuzzRead checks that Parse (Read's byte-level parser) never panics, and
// that whatever it accepts is what the journal writes: its header and
// records encode back (open and sealed) to files that parse as the same.
// It stays in memory, tens of thousands of executions a second; the file
// layer (resume leaves the file alone, a seal reads back) is
// TestFileLayerKeepsWhatReadAccepts, on inputs of every kind.
func FuzzRead(f *testing.F) {
	for _, seed := range fileLayerInputs {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data string) {
		file, torn, err := testLayout.parse([]byte(data), "x.jsonl")
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "x.jsonl") || strings.Contains(msg, "\n") {
				t.Fatalf("error %q is not one line naming the file", msg)
			}
			return
		}
		if torn != !strings.HasSuffix(data, "\n") {
			t.Fatalf("torn = %v for a file ending %q", torn, data[max(len(data)-8, 0):])
		}
		for _, complete := range []bool{false, true} {
			enc, err := encodeFile(&file.Header, file.Records, complete)
			if err != nil {
				t.Fatal(err)
			}
			again, torn, err := testLayout.parse(enc, "y.jsonl")
			if err != nil || torn || again.Complete != complete ||
				!reflect.DeepEqual(again.Header, file.Header) || !reflect.DeepEqual(again.Records, file.Records) {
				t.Fatalf("accepted %q, re-encoded (complete %v) as %q, which reads back as %+v, torn %v, %v", data, complete, enc, again, torn, err)
			}
		}
	})
}

// fileLayerInputs are journal files of every kind Read accepts or refuses:
// the fuzzer's seeds, and the inputs of TestFileLayerKeepsWhatReadAccepts.
var fileLayerInputs = []string{
	headLine + record1 + record2 + tornRecord,
	headLine + record1 + sum(`{"complete":{"records":1}}`),
	headLine + record1 + record2 + record3,
	headLine,
	sum(`{"header":{"format":"test/v1","run":"a","size":1}}`) + record2,
	headLine + record1 + sum(`{"complete":{"records":2}}`),
	"",
	"not json\n",
}

// TestFileLayerKeepsWhatReadAccepts: for each file Read accepts, a resume
// (Open) returns the same records without changing the file before an
// append, and Finish seals a file that reads back complete with them.
func TestFileLayerKeepsWhatReadAccepts(t *testing.T) {
	accepted := 0
	for _, data := range fileLayerInputs {
		path := filepath.Join(t.TempDir(), "x.jsonl")
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		file, err := testLayout.Read(path)
		if err != nil {
			continue
		}
		accepted++
		j, recs, err := testLayout.Open(path, file.Header, true)
		if err != nil {
			t.Fatalf("Read accepted %q, resume did not: %v", data, err)
		}
		if got, _ := os.ReadFile(path); string(got) != data {
			t.Fatalf("Open changed %q before any append", data)
		}
		if !reflect.DeepEqual(recs, file.Records) {
			t.Fatalf("resume read %v, Read %v", recs, file.Records)
		}
		if err := j.Finish(recs); err != nil {
			t.Fatal(err)
		}
		again, err := testLayout.Read(path)
		if err != nil || !again.Complete || !reflect.DeepEqual(again.Records, file.Records) {
			t.Fatalf("sealed file reads back as %+v, %v", again, err)
		}
	}
	if accepted != 4 {
		t.Fatalf("Read accepted %d of the inputs, want 4", accepted)
	}
}

func TestSecondRunIsRefusedNamingTheHolder(t *testing.T) {
	if !filelock.Supported {
		t.Skip("no file locks on this system")
	}
	path := filepath.Join(t.TempDir(), "run.jsonl")
	first, _, err := testLayout.Open(path, header("a"), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Append(rec1); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	for _, resume := range []bool{true, false} {
		_, _, err := testLayout.Open(path, header("a"), resume)
		want := fmt.Sprintf("%s is in use by another compresskv run (pid %d on %s, started ", path, os.Getpid(), host)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("second Open (resume %v): %v, want an error containing %q", resume, err, want)
		}
	}
	// The second run changed nothing.
	if got := readString(t, path); got != headLine+record1 {
		t.Fatalf("a refused second run changed the journal to %q", got)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".lock"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Close left the lock file: %v", err)
	}
	// Once the first run is gone, the next one resumes; so does one after
	// a run killed with its lock file left behind (the kernel dropped the
	// lock itself).
	if err := os.WriteFile(path+".lock", []byte(`{"pid":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	j, recs, err := testLayout.Open(path, header("a"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if !reflect.DeepEqual(recs, []testRecord{rec1}) {
		t.Fatalf("resume after the holder closed: %v", recs)
	}
}

func TestRefusedAfterOpenKeepsTheFile(t *testing.T) {
	// The caller opens, then refuses the records it got (they do not fit
	// its run) and closes: the file keeps its bytes, torn line and all.
	data := headLine + record1 + sum(`{"complete":{"records":1}}`)
	for _, resume := range []bool{true, false} {
		path, j, _, err := openWith(t, data)
		if !resume {
			j.Close()
			j, _, err = testLayout.Open(path, header("a"), false)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		if got := readString(t, path); got != data {
			t.Errorf("resume %v: open and close changed the file to %q", resume, got)
		}
	}
}
