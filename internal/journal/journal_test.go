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

// The exact lines the layout above writes.
const (
	headLine   = `{"header":{"format":"test/v1","run":"a","size":10}}` + "\n"
	record1    = `{"record":{"id":1,"value":0.3333333333333333}}` + "\n"
	record2    = `{"record":{"id":2,"value":-0.5}}` + "\n"
	record3    = `{"record":{"id":3,"value":1e-300}}` + "\n"
	tornRecord = `{"record":{"id":3,"va`
)

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
	if got := readString(t, path); got != headLine+record1+record2 {
		t.Fatalf("resumed file holds %q, want the whole lines only", got)
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
	seen, err := io.ReadAll(held)
	if err != nil || string(seen) != old {
		t.Fatalf("the old file changed under its reader: %q, %v", seen, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
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
		{"other layout", `{"header":{"format":"other/v1"}}` + "\n", []string{"run.jsonl:1: want a test/v1 header line", "--resume=false"}},
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
			// Without resume the journal starts over.
			j, recs, err := testLayout.Open(path, header("b"), false)
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			if len(recs) != 0 || readString(t, path) != strings.Replace(headLine, `"a"`, `"b"`, 1) {
				t.Errorf("--resume=false kept %d records, file %q", len(recs), readString(t, path))
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
	sealed := headLine + record1 + record3 + `{"complete":{"records":2}}` + "\n"
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
	// A sealed file resumes; the completion line goes.
	j, recs, err := testLayout.Open(path, header("a"), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || readString(t, path) != headLine+record1+record3 {
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
		{"other format", `{"header":{"format":"other/v1"}}` + "\n", "x.jsonl:1: want a test/v1 header line"},
		{"format not a string", `{"header":{"format":1}}` + "\n", "x.jsonl:1: not a test/v1 line"},
		{"bad json", headLine + "{oops\n", "x.jsonl:2: not a test/v1 line"},
		{"blank line", headLine + record1 + "\n" + record2, "x.jsonl:3: not a test/v1 line"},
		{"record check", headLine + record1 + `{"record":{"id":12}}` + "\n", "x.jsonl:3: record 12: beyond size 10"},
		{"neither", headLine + `{"header":{"format":"test/v1"}}` + "\n", "x.jsonl:2: line is neither a record nor a completion mark"},
		{"wrong count", headLine + record1 + `{"complete":{"records":3}}` + "\n", "x.jsonl:3: completion mark counts 3 records, file has 1"},
		{"after complete", headLine + `{"complete":{"records":0}}` + "\n" + record1, "x.jsonl:3: line after the completion mark"},
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

// FuzzRead checks that Read never panics, and that whatever it accepts
// survives a resume and a seal unchanged.
func FuzzRead(f *testing.F) {
	f.Add(headLine + record1 + record2 + tornRecord)
	f.Add(headLine + record1 + `{"complete":{"records":1}}` + "\n")
	f.Add(`{"header":{"format":"test/v1","run":"a","size":1}}` + "\n" + record2)
	f.Fuzz(func(t *testing.T, data string) {
		path := filepath.Join(t.TempDir(), "x.jsonl")
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		file, err := testLayout.Read(path)
		if err != nil {
			return
		}
		j, recs, err := testLayout.Open(path, file.Header, true)
		if err != nil {
			t.Fatalf("Read accepted the file, resume did not: %v", err)
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
	})
}
