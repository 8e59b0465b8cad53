// Package sumcache remembers the SHA-256 of big files that rarely change (a
// checkpoint's weights), so that the sum of an unchanged file is computed
// once per machine rather than once per run.
//
// An entry is one small JSON file in the cache folder, named after the
// file's absolute path (symbolic links resolved), holding that path, what
// stat says of the file (size, modification time and, on Linux, device,
// inode and change time) and the sum. Get trusts an entry only when every
// one of those matches the file now and the entry's own checksum holds;
// anything else (a missing, garbled, truncated or foreign entry, a file
// touched, rewritten, replaced or resized) is a miss, and the caller hashes
// again. Entries are written atomically (internal/atomicfile), so a reader
// never sees half of one.
//
// It must never: return a sum for a file whose size, times or identity
// differ from the entry's; return a sum from an entry that fails to decode
// or whose checksum does not match.
package sumcache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/compresskv/compresskv/internal/atomicfile"
)

// Format names the entry layout; an entry of another format is a miss.
const Format = "compresskv.sha256-cache/v1"

// maxEntrySize bounds an entry file: a real one is a few hundred bytes.
const maxEntrySize = 64 << 10

// Cache is a folder of entries. The zero Cache (Dir "") caches nothing:
// every Get misses and Put does nothing.
type Cache struct {
	Dir string
	// MinSize is the smallest file worth an entry: smaller files miss and
	// are not written, since hashing them costs less than the entry would
	// save and every throw-away checkpoint (a test's, a temporary copy)
	// would otherwise leave one behind for good.
	MinSize int64
}

// DefaultMinSize is the MinSize of the commands' cache: 64 MiB hash in
// about 40 ms on one core.
const DefaultMinSize = 64 << 20

// DefaultDir is where compresskv keeps its sums: the weights-sha256
// folder of compresskv's folder in the user's cache directory
// (os.UserCacheDir: $XDG_CACHE_HOME or ~/.cache on Linux, ~/Library/Caches
// on macOS), beside the built-in synthetic model.
func DefaultDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "compresskv", "weights-sha256"), nil
}

// entry is the content of one entry file.
type entry struct {
	Format  string `json:"format"`
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_ns"`
	Dev     uint64 `json:"dev,omitempty"`
	Inode   uint64 `json:"inode,omitempty"`
	Ctime   int64  `json:"ctime_ns,omitempty"`
	SHA256  string `json:"sha256"`
	// Check is the CRC-32C (8 hex digits) of the entry's JSON with Check
	// empty: a garbled digit of the sum cannot pass for another sum.
	Check string `json:"check"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// check computes e's Check value.
func (e entry) check() string {
	e.Check = ""
	data, _ := json.Marshal(e) // plain values: cannot fail
	return fmt.Sprintf("%08x", crc32.Checksum(data, castagnoli))
}

// key returns the canonical path of the file at path (absolute, links
// resolved) and the entry describing it as info says, without a sum.
func key(path string, info os.FileInfo) (entry, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return entry{}, err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	e := entry{Format: Format, Path: abs, Size: info.Size(), ModTime: info.ModTime().UnixNano()}
	e.Dev, e.Inode, e.Ctime = identity(info)
	return e, nil
}

// entryName is the entry file of a canonical path.
func (c Cache) entryName(canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return filepath.Join(c.Dir, hex.EncodeToString(sum[:16])+".json")
}

// Get returns the cached sum of the file at path, whose stat (taken when
// the caller opened it) is info, or false when there is no entry to trust.
func (c Cache) Get(path string, info os.FileInfo) ([sha256.Size]byte, bool) {
	var sum [sha256.Size]byte
	if c.Dir == "" || info.Size() < c.MinSize {
		return sum, false
	}
	want, err := key(path, info)
	if err != nil {
		return sum, false
	}
	data, err := readSmall(c.entryName(want.Path))
	if err != nil {
		return sum, false
	}
	var got entry
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if dec.Decode(&got) != nil || dec.Decode(new(json.RawMessage)) != io.EOF {
		return sum, false
	}
	if got.Check != got.check() {
		return sum, false
	}
	stored := got.SHA256
	got.SHA256, got.Check = "", ""
	if got != want {
		return sum, false
	}
	raw, err := hex.DecodeString(stored)
	if err != nil || len(raw) != sha256.Size || hex.EncodeToString(raw) != stored {
		return sum, false
	}
	copy(sum[:], raw)
	return sum, true
}

// Put records sum as the SHA-256 of the file at path whose stat is info
// (taken before the file was read, so that a change while it was hashed
// makes the entry a miss rather than a lie).
func (c Cache) Put(path string, info os.FileInfo, sum [sha256.Size]byte) error {
	if c.Dir == "" || info.Size() < c.MinSize {
		return nil
	}
	e, err := key(path, info)
	if err != nil {
		return err
	}
	e.SHA256 = hex.EncodeToString(sum[:])
	e.Check = e.check()
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(c.entryName(e.Path), append(data, '\n'), 0o644)
}

// readSmall reads an entry file, refusing one bigger than any entry.
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxEntrySize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxEntrySize {
		return nil, fmt.Errorf("%s: bigger than any cache entry", path)
	}
	return data, nil
}
