package safetensors

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// writeBigBF16 writes a checkpoint of one [4096, 8192] BF16 tensor (64 MiB)
// plus a small one, and returns its path.
func writeBigBF16(tb testing.TB) string {
	tb.Helper()
	const rows, cols = 4096, 8192
	data := make([]byte, 2*rows*cols)
	for i := 0; i < len(data); i += 2 {
		data[i+1] = byte(0x3f + i/2%3) // 0x3f00, 0x4000, 0x4100: 0.5, 2, 8
	}
	path := filepath.Join(tb.TempDir(), "big.safetensors")
	err := WriteFile(path, []WriteTensor{
		{Name: "model.layers.0.mlp.up_proj.weight", DType: BF16, Shape: []int{rows, cols}, Data: data},
		{Name: "model.norm.weight", DType: F32, Shape: []int{2}, Data: F32Bytes([]float32{1, 2})},
	}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

// TestOpenMapsInsteadOfReading checks that opening a 64 MiB checkpoint and
// taking a view of its big tensor allocates almost nothing, and that the
// tensor's bytes are the file's mapping.
func TestOpenMapsInsteadOfReading(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 64 MiB file")
	}
	if !mapped {
		t.Skip("no mmap on " + runtime.GOOS)
	}
	path := writeBigBF16(t)
	const name = "model.layers.0.mlp.up_proj.weight"

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tensor, err := f.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	words, ok := tensor.Uint16View() // [4096*8192]
	if !ok {
		t.Fatal("no Uint16View of an aligned BF16 tensor")
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("Open + Tensor + Uint16View allocated %d bytes for a %d-byte file; want < 1 MiB", alloc, len(f.data))
	}
	allocs := testing.AllocsPerRun(10, func() {
		if _, err := f.Tensor(name); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2 {
		t.Errorf("Tensor allocates %v times per call, want at most 2 (the shape copy)", allocs)
	}
	if allocs := testing.AllocsPerRun(10, func() { tensor.Uint16View() }); allocs != 0 {
		t.Errorf("Uint16View allocates %v times per call, want 0", allocs)
	}

	// Data and the view alias the mapping at the tensor's offset.
	start := f.header.dataStart + tensor.Begin
	if &tensor.Data[0] != &f.data[start] || &tensor.Data[len(tensor.Data)-1] != &f.data[f.header.dataStart+tensor.End-1] {
		t.Error("Tensor.Data is not a view of the mapping")
	}
	if unsafePointer(&words[0]) != unsafePointer(&f.data[start]) {
		t.Error("Uint16View copied an aligned BF16 tensor")
	}
	if len(words) != 4096*8192 || words[0] != 0x3f00 || words[1] != 0x4000 || words[len(words)-1] != 0x3f00+0x100*uint16((4096*8192-1)%3) {
		t.Errorf("view of %d words starts %#x %#x", len(words), words[0], words[1])
	}
	if runtime.GOOS == "linux" {
		maps, err := os.ReadFile("/proc/self/maps")
		if err == nil && !strings.Contains(string(maps), filepath.Base(path)) {
			t.Error("/proc/self/maps does not list the file: it was not mapped")
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Tensor(name); !contains(err, "file is closed") {
		t.Errorf("Tensor after Close: err = %v", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// BenchmarkOpen measures opening (mapping and validating) a 64 MiB
// checkpoint; its cost should not grow with the file size.
func BenchmarkOpen(b *testing.B) {
	path := writeBigBF16(b)
	b.ReportAllocs()
	for b.Loop() {
		f, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// rssFileKB reads the file-backed resident memory of this process (Linux).
func rssFileKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "RssFile:"); ok {
			var kb int
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err == nil {
				return kb
			}
		}
	}
	t.Skip("no RssFile line in /proc/self/status")
	return 0
}

// TestReleaseDropsPagesKeepsData: after Release, the 64 MiB tensor's pages
// leave the resident set, and reading it again gives the same bytes.
func TestReleaseDropsPagesKeepsData(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 64 MiB file")
	}
	if !mapped || runtime.GOOS != "linux" {
		t.Skip("resident-set check needs mmap on Linux")
	}
	path := writeBigBF16(t)
	const name = "model.layers.0.mlp.up_proj.weight"
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tensor, err := f.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	sum := func() (s int) {
		for _, b := range tensor.Data {
			s += int(b)
		}
		return s
	}
	want := sum() // faults every page in
	before := rssFileKB(t)
	f.Release(name)
	f.Release("no such tensor") // ignored
	after := rssFileKB(t)
	if before-after < 48<<10 {
		t.Errorf("RssFile %d kB before Release, %d after: want at least 48 MiB dropped", before, after)
	}
	if got := sum(); got != want {
		t.Fatalf("bytes after Release sum to %d, before %d", got, want)
	}
}
