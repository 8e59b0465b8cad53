package hfhub

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fake cache under testdata/hub holds acme/tiny-llm with two snapshots:
// refs/main -> h1 and refs/v1 -> h2 (with a trailing newline, as some
// tools write it).
const (
	h1 = "0123456789abcdef0123456789abcdef01234567"
	h2 = "89abcdef0123456789abcdef0123456789abcdef"
)

func fakeEnv(vars map[string]string) Env {
	return Env{Getenv: func(k string) string { return vars[k] }, Home: "/nonexistent-home"}
}

func TestResolveFromCache(t *testing.T) {
	cache, err := filepath.Abs("testdata/hub")
	if err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(cache, "models--acme--tiny-llm")
	env := fakeEnv(map[string]string{"HF_HUB_CACHE": cache})
	for _, tc := range []struct {
		spec             string
		dir, rev, commit string
	}{
		{"acme/tiny-llm", filepath.Join(repo, "snapshots", h1), "main", h1},
		{"acme/tiny-llm@main", filepath.Join(repo, "snapshots", h1), "main", h1},
		{"acme/tiny-llm@v1", filepath.Join(repo, "snapshots", h2), "v1", h2},
		{"acme/tiny-llm@" + h2, filepath.Join(repo, "snapshots", h2), h2, h2},
		{repo, filepath.Join(repo, "snapshots", h1), "main", h1}, // the repo folder itself
	} {
		s, err := Resolve(tc.spec, env)
		if err != nil {
			t.Errorf("%s: %v", tc.spec, err)
			continue
		}
		want := Snapshot{Dir: tc.dir, ID: "acme/tiny-llm", Revision: tc.rev, Commit: tc.commit}
		if s != want {
			t.Errorf("%s: got %+v, want %+v", tc.spec, s, want)
		}
		if _, err := os.Stat(filepath.Join(s.Dir, "config.json")); err != nil {
			t.Errorf("%s: %v", tc.spec, err)
		}
	}
}

func TestResolvePlainFolder(t *testing.T) {
	dir := t.TempDir()
	s, err := Resolve(dir, fakeEnv(nil))
	if err != nil || s != (Snapshot{Dir: dir}) {
		t.Fatalf("got %+v, %v; want the folder as it is", s, err)
	}
	// Not an id and not a path: handed back for the caller's error.
	s, err = Resolve("no/such/folder", fakeEnv(nil))
	if err != nil || s != (Snapshot{Dir: "no/such/folder"}) {
		t.Fatalf("got %+v, %v", s, err)
	}
}

func TestResolveMissing(t *testing.T) {
	cache, _ := filepath.Abs("testdata/hub")
	env := fakeEnv(map[string]string{"HF_HUB_CACHE": cache})
	for _, tc := range []struct{ spec, hint string }{
		{"acme/other", `"huggingface-cli download acme/other"`},
		{"acme/other@v2", `"huggingface-cli download acme/other --revision v2"`},
		{"acme/tiny-llm@v2", `"huggingface-cli download acme/tiny-llm --revision v2"`},
		{"acme/tiny-llm@" + strings.Repeat("f", 40), `"huggingface-cli download acme/tiny-llm --revision ` + strings.Repeat("f", 40) + `"`},
	} {
		_, err := Resolve(tc.spec, env)
		if err == nil {
			t.Errorf("%s: resolved", tc.spec)
			continue
		}
		msg := err.Error()
		if !errors.Is(err, ErrNotCached) || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, tc.spec+": ") ||
			!strings.HasSuffix(msg, "nothing is downloaded: run "+tc.hint) {
			t.Errorf("%s: error %q: want one line naming the spec and ending with the hint %s", tc.spec, msg, tc.hint)
		}
	}
	_, err := Resolve("acme/tiny-llm@v2", env)
	if !strings.Contains(err.Error(), "refs there: main, v1") {
		t.Errorf("missing revision does not list the refs: %v", err)
	}
}

func TestCacheDirPrecedence(t *testing.T) {
	for _, tc := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"HF_HUB_CACHE": "/a", "HUGGINGFACE_HUB_CACHE": "/b", "HF_HOME": "/c"}, "/a"},
		{map[string]string{"HUGGINGFACE_HUB_CACHE": "/b", "HF_HOME": "/c"}, "/b"},
		{map[string]string{"HF_HOME": "/c", "XDG_CACHE_HOME": "/x"}, "/c/hub"},
		{map[string]string{"XDG_CACHE_HOME": "/x"}, "/x/huggingface/hub"},
		{nil, "/nonexistent-home/.cache/huggingface/hub"},
	} {
		if got := fakeEnv(tc.vars).CacheDir(); got != filepath.FromSlash(tc.want) {
			t.Errorf("%v: got %s, want %s", tc.vars, got, tc.want)
		}
	}
}

func TestIDFromFolder(t *testing.T) {
	for base, want := range map[string]string{
		"models--acme--tiny-llm": "acme/tiny-llm", "models--gpt2": "gpt2",
		"datasets--glue": "", "models--a--b--c": "", "snapshots": "",
	} {
		got, ok := idFromFolder(base)
		if got != want && ok || ok != (want != "") {
			t.Errorf("%s: got %q %v, want %q", base, got, ok, want)
		}
	}
}

func TestParseID(t *testing.T) {
	for _, tc := range []struct {
		spec, id, rev string
		ok            bool
	}{
		{"meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct", "main", true},
		{"Qwen/Qwen2.5-7B@refs/pr/1", "Qwen/Qwen2.5-7B", "refs/pr/1", true},
		{"org/name@", "", "", false},
		{"name", "", "", false},
		{"a/b/c", "", "", false},
		{"./model", "", "", false},
		{"org--x/name", "", "", false},
		{"/abs/path", "", "", false},
	} {
		id, rev, ok := ParseID(tc.spec)
		if id != tc.id || rev != tc.rev || ok != tc.ok {
			t.Errorf("%q: got %q %q %v, want %q %q %v", tc.spec, id, rev, ok, tc.id, tc.rev, tc.ok)
		}
	}
}
