package safetensors

import (
	"go/parser"
	gotoken "go/token"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const modulePath = "github.com/compresskv/compresskv"

// packageImports returns the import paths of the non-test Go files in dir,
// for any build tags, and how many files it read.
func packageImports(dir string) (imports []string, files int, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, 0, err
	}
	fset := gotoken.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ImportsOnly)
		if err != nil {
			return nil, 0, err
		}
		files++
		for _, spec := range f.Imports {
			p, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return nil, 0, err
			}
			imports = append(imports, p)
		}
	}
	return imports, files, nil
}

// TestImportsNoModel enforces the data flow of STYLE.md: safetensors is the
// lowest layer, so it and everything it pulls in from this module may only
// be packages under internal/ — never model/ or anything above it.
func TestImportsNoModel(t *testing.T) {
	root := ".." // the module root, beside this package
	seen := map[string]bool{}
	queue := []string{modulePath + "/safetensors"}
	for len(queue) > 0 {
		pkg := queue[0]
		queue = queue[1:]
		imports, files, err := packageImports(filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(pkg, modulePath))))
		if err != nil {
			t.Fatal(err)
		}
		if files == 0 {
			t.Fatalf("%s: no Go files under %q", pkg, root)
		}
		for _, p := range imports {
			if p != modulePath && !strings.HasPrefix(p, modulePath+"/") {
				continue // standard library or another module
			}
			if rel := strings.TrimPrefix(p, modulePath+"/"); !strings.HasPrefix(rel, "internal/") {
				t.Errorf("%s imports %s: safetensors may depend only on %s/internal/...", pkg, p, modulePath)
				continue
			}
			if !seen[p] {
				seen[p] = true
				queue = append(queue, path.Clean(p))
			}
		}
	}
}
