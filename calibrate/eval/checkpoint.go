package eval

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/compresskv/compresskv/internal/journal"
	"github.com/compresskv/compresskv/profile"
	"github.com/compresskv/compresskv/profile/schema"
)

// PartialFormat names the eval checkpoint / shard file layout.
const PartialFormat = "compresskv.eval-partial/v1"

// Header is the first line of an eval checkpoint or shard file: everything
// the finished probes depend on. Resume and merge require it equal (merge
// ignores Shard).
type Header struct {
	Format   string        `json:"format"`
	Tool     schema.Tool   `json:"tool"`
	Model    schema.Model  `json:"model"`
	Profile  ProfileInfo   `json:"profile"`
	Settings Settings      `json:"settings"`
	Grid     Grid          `json:"grid"`
	Indices  []int         `json:"indices"` // every probe index of the whole run, ascending
	Shard    profile.Shard `json:"shard"`
}

var partialLayout = journal.Layout[Header, Probe]{
	Format: PartialFormat,
	Same: func(file, want *Header) error {
		if d := headerDiff(file, want); d != "" {
			return fmt.Errorf("checkpoint was written with a different %s", d)
		}
		if file.Shard != want.Shard {
			return fmt.Errorf("checkpoint was written with a different shard")
		}
		return nil
	},
	Check: func(h *Header, p *Probe) error {
		if n := len(Jobs(h.Settings.Methods, h.Settings.Budgets)); len(p.Results) != n {
			return fmt.Errorf("probe %d: %d results, want %d", p.Index, len(p.Results), n)
		}
		return nil
	},
}

// headerDiff names the first part in which two headers differ (the shard
// is not compared), or "".
func headerDiff(a, b *Header) string {
	for _, p := range []struct {
		name string
		x, y any
	}{
		{"format", a.Format, b.Format},
		{"model (architecture, shape or fingerprint)", a.Model, b.Model},
		{"profile", a.Profile, b.Profile},
		{"methods, budgets or selection settings", a.Settings, b.Settings},
		{"probe settings", a.Grid, b.Grid},
		{"probe list", a.Indices, b.Indices},
		// Last: another --compute differs in its bf16 arithmetic too,
		// and the settings say more.
		{"tool version or bf16 arithmetic revision (model.BF16Arithmetic; \"+amx\": products on Intel AMX tiles, another CPU or --amx)", a.Tool, b.Tool},
	} {
		x, _ := json.Marshal(p.x)
		y, _ := json.Marshal(p.y)
		if !bytes.Equal(x, y) {
			return p.name
		}
	}
	return ""
}

// Checkpoint is the append-only journal of finished probes.
type Checkpoint struct {
	j    *journal.Journal[Header, Probe]
	done map[int]Probe
}

// OpenCheckpoint opens the journal at path for a run described by h (see
// profile.OpenCheckpoint: the same resume rules).
func OpenCheckpoint(path string, h Header, resume bool) (*Checkpoint, error) {
	h.Format = PartialFormat
	j, records, err := partialLayout.Open(path, h, resume)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{j: j, done: map[int]Probe{}}
	for _, r := range records {
		c.done[r.Index] = r
	}
	return c, nil
}

// Path returns the journal's file name.
func (c *Checkpoint) Path() string { return c.j.Path() }

// Done returns how many probes the journal holds.
func (c *Checkpoint) Done() int { return len(c.done) }

// has reports whether probe i is recorded.
func (c *Checkpoint) has(i int) bool {
	_, ok := c.done[i]
	return ok
}

// Append journals one finished probe and syncs it to disk.
func (c *Checkpoint) Append(p Probe) error {
	if _, dup := c.done[p.Index]; dup {
		return fmt.Errorf("%s: probe %d is already recorded", c.Path(), p.Index)
	}
	if err := c.j.Append(p); err != nil {
		return err
	}
	c.done[p.Index] = p
	return nil
}

func (c *Checkpoint) records() []Probe {
	out := make([]Probe, 0, len(c.done))
	for _, r := range c.done {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// Close closes the journal, leaving it on disk.
func (c *Checkpoint) Close() error { return c.j.Close() }

// Finish seals the journal as a shard file for `compresskv merge`.
func (c *Checkpoint) Finish() error { return c.j.Finish(c.records()) }

// Remove closes and deletes the journal (after the eval file is written).
func (c *Checkpoint) Remove() error { return c.j.Remove() }

// Partial is a read eval checkpoint or shard file.
type Partial struct {
	Path     string
	Header   Header
	Probes   []Probe
	Complete bool
}

// ReadPartial reads an eval checkpoint or shard file.
func ReadPartial(path string) (*Partial, error) {
	f, err := partialLayout.Read(path)
	if err != nil {
		return nil, err
	}
	return &Partial{Path: path, Header: f.Header, Probes: f.Records, Complete: f.Complete}, nil
}

// IsPartial reports whether the first line of data is an eval partial
// header (so `merge` can tell eval shards from profile shards).
func IsPartial(firstLine []byte) bool {
	var head struct {
		Header *struct {
			Format string `json:"format"`
		} `json:"header"`
	}
	return json.Unmarshal(firstLine, &head) == nil && head.Header != nil && head.Header.Format == PartialFormat
}

// Merge combines finished shard files into the document a single run
// writes: all from the same run, each finished, together holding every
// probe exactly once.
func Merge(parts []*Partial) (*Document, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("merge: no shard files")
	}
	first := parts[0]
	seen := map[int]string{}
	var probes []Probe
	for _, p := range parts {
		if !p.Complete {
			return nil, fmt.Errorf("%s: shard is not finished (no completion mark); rerun its shard to finish it", p.Path)
		}
		if d := headerDiff(&first.Header, &p.Header); d != "" {
			return nil, fmt.Errorf("%s: written with a different %s than %s", p.Path, d, first.Path)
		}
		for _, r := range p.Probes {
			if other, dup := seen[r.Index]; dup {
				return nil, fmt.Errorf("%s: probe %d is also in %s", p.Path, r.Index, other)
			}
			seen[r.Index] = p.Path
			probes = append(probes, r)
		}
	}
	var missing []int
	for _, i := range first.Header.Indices {
		if _, ok := seen[i]; !ok {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("merge: %d of %d probes are in no shard file (first missing: %v)", len(missing), len(first.Header.Indices), missing[:min(len(missing), 10)])
	}
	if len(probes) != len(first.Header.Indices) {
		return nil, fmt.Errorf("merge: shard files hold %d probes, the run has %d", len(probes), len(first.Header.Indices))
	}
	return Build(&first.Header, probes), nil
}
