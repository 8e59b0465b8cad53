package synth

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/default-files.json")

// TestDefaultModelGolden pins the built-in model: the sha256 of every file
// DefaultOptions writes. A change here changes every profile of the
// built-in model, so it must be deliberate: rerun with -update. The
// weights are pinned on amd64 only: elsewhere the compiler may fuse the
// multiply-adds inside math.Pow/Cos/Sin and move the last bit of a weight.
func TestDefaultModelGolden(t *testing.T) {
	if runtime.GOARCH != "amd64" && !*update {
		t.Skipf("weights are pinned for amd64; this is %s", runtime.GOARCH)
	}
	info, err := Write(t.TempDir(), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	type pin struct {
		Revision int               `json:"revision"`
		Files    map[string]string `json:"files"`
	}
	got, err := json.MarshalIndent(pin{Revision, info.Files}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := filepath.Join("testdata", "default-files.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		var old pin
		if err := json.Unmarshal(want, &old); err == nil && old.Revision == Revision {
			t.Errorf("the default synthetic model changed but Revision is still %d: bump synth.Revision (cached models are keyed on it), then rerun with -update\n got %s\nwant %s", Revision, got, want)
			return
		}
		t.Errorf("the default synthetic model changed:\n got %s\nwant %s\n(if intended, rerun with -update)", got, want)
	}
}
