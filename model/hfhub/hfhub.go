// Package hfhub finds Hugging Face model snapshots in the local hub cache
// (the folder huggingface_hub and `huggingface-cli download` fill), so a
// model can be named by its id ("org/name", "org/name@revision") instead of
// a folder path. It only reads the cache: nothing is ever downloaded, and a
// model that is not there is an error that says how to fetch it.
//
// The cache layout (the Hub's "Hub Local Cache" reference,
// huggingface.co/docs/hub/local-cache, and huggingface_hub's cache guide):
//
//	<cache>/models--<org>--<name>/refs/<revision>   file holding a commit hash
//	<cache>/models--<org>--<name>/snapshots/<hash>/ the files of that commit
//
// where <cache> is HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE (the older
// name), else HF_HOME/hub, else XDG_CACHE_HOME/huggingface/hub, else
// ~/.cache/huggingface/hub.
package hfhub

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// DefaultRevision is the revision used when a spec names none.
const DefaultRevision = "main"

// Snapshot is a resolved model folder.
type Snapshot struct {
	Dir      string // the folder holding config.json and the weights
	ID       string // "org/name"; empty for a plain folder
	Revision string // the revision asked for ("main", a branch, a tag or a hash); empty for a plain folder
	Commit   string // the commit hash of the snapshot; empty for a plain folder
}

// ErrNotCached is wrapped by Resolve's error when the model or revision is
// not in the cache.
var ErrNotCached = errors.New("not in the Hugging Face cache")

// Env is what Resolve reads from the environment: a getenv and the home
// folder. The zero Env reads the process environment.
type Env struct {
	Getenv func(string) string
	Home   string
}

func (e Env) getenv(k string) string {
	if e.Getenv == nil {
		return os.Getenv(k)
	}
	return e.Getenv(k)
}

func (e Env) home() string {
	if e.Home != "" || e.Getenv != nil {
		return e.Home
	}
	h, _ := os.UserHomeDir()
	return h
}

// CacheDir is the hub cache folder the environment selects.
func (e Env) CacheDir() string {
	if d := e.getenv("HF_HUB_CACHE"); d != "" {
		return d
	}
	if d := e.getenv("HUGGINGFACE_HUB_CACHE"); d != "" {
		return d
	}
	if d := e.getenv("HF_HOME"); d != "" {
		return filepath.Join(d, "hub")
	}
	if d := e.getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "huggingface", "hub")
	}
	return filepath.Join(e.home(), ".cache", "huggingface", "hub")
}

// repoPart is what a Hub user, organisation or model name may contain.
var repoPart = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// ParseID splits "org/name[@revision]" into the id and the revision
// (DefaultRevision when absent); ok is false when spec is not of that form.
func ParseID(spec string) (id, revision string, ok bool) {
	id, revision, hasRev := strings.Cut(spec, "@")
	if hasRev && revision == "" {
		return "", "", false
	}
	if !hasRev {
		revision = DefaultRevision
	}
	org, name, found := strings.Cut(id, "/")
	if !found || !repoPart.MatchString(org) || !repoPart.MatchString(name) ||
		strings.Contains(org, "--") || strings.Contains(name, "--") {
		return "", "", false
	}
	return id, revision, true
}

// FolderName is the cache folder of a repo id: "models--org--name".
func FolderName(id string) string {
	return "models--" + strings.ReplaceAll(id, "/", "--")
}

// idFromFolder inverts FolderName; ok is false for any other name.
func idFromFolder(base string) (string, bool) {
	rest, found := strings.CutPrefix(base, "models--")
	if !found {
		return "", false
	}
	org, name, found := strings.Cut(rest, "--")
	if !found { // a canonical model without an organisation: models--gpt2
		return rest, repoPart.MatchString(rest)
	}
	if !repoPart.MatchString(org) || !repoPart.MatchString(name) || strings.Contains(name, "--") {
		return "", false
	}
	return org + "/" + name, true
}

// DownloadHint is the command that fetches id at revision into the cache.
func DownloadHint(id, revision string) string {
	if revision == "" || revision == DefaultRevision {
		return "huggingface-cli download " + id
	}
	return "huggingface-cli download " + id + " --revision " + revision
}

// Resolve turns a --model value into a snapshot folder:
//
//   - an existing folder named models--org--name (a repo folder of the
//     cache; also models--name for the organisation-less canonical
//     models) resolves its "main" snapshot;
//   - any other existing path is returned as it is, with no id;
//   - "org/name" or "org/name@revision" is looked up in e.CacheDir(): the
//     revision is a ref (refs/<revision>, e.g. "main") or a commit hash
//     (snapshots/<hash>).
//
// A spec that is neither an existing path nor an id is returned as a plain
// folder, for the caller's "no such folder" error. Nothing is downloaded;
// a model missing from the cache is an error wrapping ErrNotCached whose
// one line ends with the `huggingface-cli download` command to run.
func Resolve(spec string, e Env) (Snapshot, error) {
	if info, err := os.Stat(spec); err == nil {
		if id, ok := idFromFolder(filepath.Base(filepath.Clean(spec))); ok && info.IsDir() {
			return resolveIn(spec, id, DefaultRevision)
		}
		return Snapshot{Dir: spec}, nil
	}
	id, revision, ok := ParseID(spec)
	if !ok {
		return Snapshot{Dir: spec}, nil
	}
	cache := e.CacheDir()
	repo := filepath.Join(cache, FolderName(id))
	if info, err := os.Stat(repo); err != nil || !info.IsDir() {
		return Snapshot{}, fmt.Errorf("%s: %w at %s (and no folder of that name); nothing is downloaded: run %q",
			spec, ErrNotCached, cache, DownloadHint(id, revision))
	}
	return resolveIn(repo, id, revision)
}

// hash is a full git commit hash as snapshot folders are named.
var hash = regexp.MustCompile(`^[0-9a-f]{40}$`)

// resolveIn resolves revision inside the repo folder of id.
func resolveIn(repo, id, revision string) (Snapshot, error) {
	spec := id + "@" + revision
	if revision == "" || strings.Contains(revision, "..") || filepath.IsAbs(revision) {
		return Snapshot{}, fmt.Errorf("%s: revision %q is not a ref name or commit hash", spec, revision)
	}
	commit := ""
	if hash.MatchString(revision) {
		commit = revision
	} else {
		data, err := os.ReadFile(filepath.Join(repo, "refs", filepath.FromSlash(revision)))
		if errors.Is(err, fs.ErrNotExist) {
			return Snapshot{}, fmt.Errorf("%s: revision %q %w at %s (refs there: %s); nothing is downloaded: run %q",
				spec, revision, ErrNotCached, repo, refs(repo), DownloadHint(id, revision))
		}
		if err != nil {
			return Snapshot{}, fmt.Errorf("%s: %w", spec, err)
		}
		commit = strings.TrimSpace(string(data))
		if !hash.MatchString(commit) {
			return Snapshot{}, fmt.Errorf("%s: %s holds %q, not a commit hash", spec, filepath.Join(repo, "refs", revision), commit)
		}
	}
	dir := filepath.Join(repo, "snapshots", commit)
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return Snapshot{}, fmt.Errorf("%s: snapshot %s %w at %s; nothing is downloaded: run %q",
			spec, commit, ErrNotCached, repo, DownloadHint(id, revision))
	}
	return Snapshot{Dir: dir, ID: id, Revision: revision, Commit: commit}, nil
}

// refs lists the ref names of a repo folder, for error messages.
func refs(repo string) string {
	var names []string
	root := filepath.Join(repo, "refs")
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if rel, err := filepath.Rel(root, path); err == nil {
				names = append(names, filepath.ToSlash(rel))
			}
		}
		return nil
	})
	if len(names) == 0 {
		return "none"
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
