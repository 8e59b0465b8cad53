package safetensors

import (
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"
)

// sink keeps a test's reads of mapped memory from being optimised away.
var sink byte

// writeSmall writes a checkpoint of one F32 tensor spanning several pages.
func writeSmall(t *testing.T) string {
	t.Helper()
	v := make([]float32, 64<<10) // 256 KiB of data
	for i := range v {
		v[i] = float32(i)
	}
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := WriteFile(path, []WriteTensor{{Name: "w", DType: F32, Shape: []int{len(v)}, Data: F32Bytes(v)}}, nil); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSumIsTheFileSHA256: Sum is sha256 of the file's bytes as read from
// disk, in blocks whose lengths add up to the file's; Stat and Size
// describe the file as opened.
func TestSumIsTheFileSHA256(t *testing.T) {
	path := writeSmall(t)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var seen int
	sum, err := f.Sum(func(n int) { seen += n })
	if err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(raw); sum != want || seen != len(raw) {
		t.Fatalf("Sum = %x after %d bytes, want %x after %d", sum, seen, want, len(raw))
	}
	if f.Size() != int64(len(raw)) || f.Stat() == nil || f.Stat().Size() != int64(len(raw)) {
		t.Fatalf("Size %d, Stat %v; want %d", f.Size(), f.Stat(), len(raw))
	}
	f.Close()
	if _, err := f.Sum(nil); err == nil {
		t.Fatal("Sum of a closed file: no error")
	}
}

// TestTruncatedUnderTheMapping: a file cut short while mapped makes Sum,
// and a guarded read of its tensor, fail with a ChangedError naming it
// instead of killing the process with SIGBUS.
func TestTruncatedUnderTheMapping(t *testing.T) {
	if !mapped {
		t.Skip("no mmap on " + runtime.GOOS)
	}
	path := writeSmall(t)
	set, err := OpenDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	f := set.Files()[0]
	tensor, err := set.Tensor("w")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 4096); err != nil {
		t.Fatal(err)
	}
	_, err = f.Sum(nil)
	var changed *ChangedError
	if !errors.As(err, &changed) || changed.Path != path {
		t.Fatalf("Sum of a truncated file: %v, want a ChangedError for %s", err, path)
	}
	want := path + " changed while compresskv was reading it (truncated or rewritten by another program); restore the file and run again"
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	// What a reader of mapped weights does: fault panics on, recover, ask
	// the set which file faulted.
	read := func() (err error) {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer func() {
			if r := recover(); r != nil {
				if err = set.Fault(r); err == nil {
					panic(r)
				}
			}
		}()
		for _, b := range tensor.Data {
			sink += b
		}
		return nil
	}
	if err := read(); !errors.As(err, &changed) || changed.Path != path {
		t.Fatalf("reading the truncated tensor: %v, want a ChangedError for %s", err, path)
	}
	// Another panic is not taken for a fault of the file.
	if set.Fault(errors.New("not a fault")) != nil || set.Fault(runtime.Error(nil)) != nil {
		t.Error("Fault took a non-fault for a changed file")
	}
}
