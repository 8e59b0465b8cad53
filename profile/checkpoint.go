package profile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/compresskv/compresskv/internal/journal"
	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/profile/schema"
)

// PartialFormat names the checkpoint / shard file layout.
const PartialFormat = "compresskv.partial/v1"

// Header is the first line of a checkpoint or shard file: everything the
// finished probes depend on. A resume and a merge both require it equal
// (except for Shard, which only says which probes a file is meant to hold).
type Header struct {
	Format string       `json:"format"` // PartialFormat
	Tool   schema.Tool  `json:"tool"`
	Model  schema.Model `json:"model"`
	// Probes holds the probe settings and the skip counts of the whole run;
	// its Run, Successful and Results stay empty (they come from records).
	Probes schema.ProbeInfo `json:"probes"`
	// Indices lists every probe index of the whole run, ascending.
	Indices []int `json:"indices"`
	Shard   Shard `json:"shard"`
}

// Record is one finished probe: its result and its per-probe head scores
// (before the success gate and the mean). Floats are written in Go's
// shortest round-trip form, so a resumed run reads back the exact bits.
type Record struct {
	Index     int                `json:"index"`
	Result    schema.ProbeResult `json:"result"`
	SRH       [][]float64        `json:"srh"`       // [layers][heads]
	Retrieval [][]float64        `json:"retrieval"` // [layers][heads]
}

// Partial is the content of a checkpoint or shard file.
type Partial struct {
	Path     string
	Header   Header
	Records  []Record // in file order
	Complete bool     // the file ends with a completion mark
}

// partialLayout is the journal layout of checkpoint and shard files.
var partialLayout = journal.Layout[Header, Record]{
	Format: PartialFormat,
	Same:   sameRun,
	Check: func(h *Header, r *Record) error {
		return checkRecord(r, &h.Model)
	},
}

// ReadPartial reads a checkpoint or shard file. A last line cut short by a
// crash (no trailing newline) is ignored; any other malformed line is an
// error naming the file and line.
func ReadPartial(path string) (*Partial, error) {
	f, err := partialLayout.Read(path)
	if err != nil {
		return nil, err
	}
	if err := checkHeader(&f.Header, path); err != nil {
		return nil, err
	}
	return &Partial{Path: path, Header: f.Header, Records: f.Records, Complete: f.Complete}, nil
}

// ParsePartial is ReadPartial of a file's bytes; path names the file.
func ParsePartial(data []byte, path string) (*Partial, error) {
	f, err := partialLayout.Parse(data, path)
	if err != nil {
		return nil, err
	}
	if err := checkHeader(&f.Header, path); err != nil {
		return nil, err
	}
	return &Partial{Path: path, Header: f.Header, Records: f.Records, Complete: f.Complete}, nil
}

// checkHeader bounds the model shape a shard header claims, as a profile's
// is bounded: merge allocates layers x heads matrices from it before any
// record says otherwise (the fuzzer found a header of 2e9 layers).
func checkHeader(h *Header, path string) error {
	m := h.Model
	if m.Layers <= 0 || m.Heads <= 0 || m.Layers > schema.MaxLayers || m.Heads > schema.MaxHeads {
		return fmt.Errorf("%s:1: model: layers %d, heads %d: want 1..%d and 1..%d", path, m.Layers, m.Heads, schema.MaxLayers, schema.MaxHeads)
	}
	return nil
}

// checkRecord checks a record's matrices against the model shape.
func checkRecord(r *Record, m *schema.Model) error {
	if r.Index != r.Result.Index {
		return fmt.Errorf("probe %d: result carries index %d", r.Index, r.Result.Index)
	}
	for _, mat := range []struct {
		name string
		v    [][]float64
	}{{"srh", r.SRH}, {"retrieval", r.Retrieval}} {
		if len(mat.v) != m.Layers {
			return fmt.Errorf("probe %d: %s has %d layers, model has %d", r.Index, mat.name, len(mat.v), m.Layers)
		}
		for l, row := range mat.v {
			if len(row) != m.Heads {
				return fmt.Errorf("probe %d: %s[%d] has %d heads, model has %d", r.Index, mat.name, l, len(row), m.Heads)
			}
		}
	}
	return nil
}

// difference is one setting in which two headers differ, by the name a
// user knows it by (a flag where there is one), with both values.
type difference struct {
	name string
	a, b string
	note string // what the difference means, when the values do not say (headerNotes)
}

// suffix is the note as it ends a message: " (note)", or "".
func (d *difference) suffix() string {
	if d.note == "" {
		return ""
	}
	return " (" + d.note + ")"
}

// headerNotes explain differences whose values alone (two hashes) do not
// tell a user what changed.
var headerNotes = map[string]string{
	"model.fingerprint": "another model: config.json or the bytes of a weight file differ",
	"arithmetic":        "bf16 compute's arithmetic changed between the two builds, so their scores differ in the last bits: finish the run with the build that started it, or start again",
}

// headerNames names the header parts a user sets, by JSON path. A part
// named here is compared and reported whole (a list of lengths is one
// setting, not one per entry).
var headerNames = map[string]string{
	"format":                 "checkpoint format",
	"tool.version":           "compresskv version",
	"arithmetic":             "bf16 arithmetic revision",
	"model.fingerprint":      "model fingerprint",
	"probes.scoring":         "scoring (--teacher-forced)",
	"probes.template":        "--template",
	"probes.haystack":        "--haystack",
	"probes.haystack_seed":   "--seed",
	"probes.needles":         "--needles",
	"probes.haystack_sha256": "--haystack content",
	"probes.needles_sha256":  "--needles content",
	"probes.needle_seed":     "--needle-seed",
	"probes.needle_count":    "--needles-count",
	"probes.context_lengths": "--lengths",
	"probes.depths":          "--depths",
	"probes.buffer":          "--buffer",
	"probes.max_new_tokens":  "--max-new",
	"probes.kv_cache":        "--kv-dtype",
	"probes.prefill_chunk":   "--chunk",
	"probes.rope":            "--rope",
	"probes.compat":          "--compat",
	"probes.until_stable":    "--until-stable",
	"probes.compute":         "--compute",
	"probes.success_recall":  "success recall gate",
	"probes.skipped":         "skipped probe count",
	"probes.skip_reasons":    "skipped probes",
	"indices":                "probe list",
}

// headerDiff names the first setting in which two headers differ (the
// shard is not compared), or returns nil when they agree. Parts are
// compared in the order format, model, tool, probes, probe list, bf16
// arithmetic revision (tool.arithmetic); keys
// within a part in sorted order.
func headerDiff(a, b *Header) *difference {
	ja, jb := headerTree(a), headerTree(b)
	for _, k := range []string{"format", "model", "tool", "probes", "indices", "arithmetic"} {
		if d := treeDiff(k, ja[k], jb[k]); d != nil {
			return d
		}
	}
	return nil
}

// headerTree is a header as decoded JSON, without its shard.
func headerTree(h *Header) map[string]any {
	c := *h
	c.Shard = Shard{}
	data, _ := json.Marshal(&c) // plain values: cannot fail
	var t map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	_ = dec.Decode(&t)
	// The arithmetic revision is compared last: a run of another
	// --compute differs in it too, and --compute is the better message.
	if tool, ok := t["tool"].(map[string]any); ok {
		t["arithmetic"] = tool["arithmetic"]
		delete(tool, "arithmetic")
	}
	return t
}

func treeDiff(path string, x, y any) *difference {
	mx, okx := x.(map[string]any)
	my, oky := y.(map[string]any)
	if _, named := headerNames[path]; !named && okx && oky {
		keys := map[string]bool{}
		for k := range mx {
			keys[k] = true
		}
		for k := range my {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			if d := treeDiff(path+"."+k, mx[k], my[k]); d != nil {
				return d
			}
		}
		return nil
	}
	vx, vy := showValue(x), showValue(y)
	if vx == vy {
		return nil
	}
	name, ok := headerNames[path]
	if !ok {
		name = strings.NewReplacer(".", " ", "_", " ").Replace(path)
	}
	d := &difference{name: name, a: vx, b: vy, note: headerNotes[path]}
	if path == "arithmetic" && strings.HasSuffix(vx, model.AMXSuffix) != strings.HasSuffix(vy, model.AMXSuffix) {
		d.note = amxNote
	}
	return d
}

// amxNote explains an arithmetic revision that differs only in AMX: the
// same build on another kind of CPU, or another --amx.
const amxNote = "one of the two runs multiplied on Intel AMX tiles and the other did not (another CPU, or --amx=false), so their scores differ in the last bits: finish the run on the machine that started it with the same --amx, or start again"

// showValue formats a decoded JSON value for a message: strings bare,
// anything else as compact JSON, long values cut short.
func showValue(v any) string {
	var out string
	switch v := v.(type) {
	case nil:
		return "(none)"
	case string:
		out = strconv.Quote(v)
		if v != "" && !strings.ContainsAny(v, " \t\n\"") {
			out = v
		}
	default:
		data, _ := json.Marshal(v)
		out = string(data)
	}
	if len(out) > 80 {
		out = out[:77] + "..."
	}
	return out
}

// sameRun accepts a checkpoint for resume when its header equals the
// run's, shard included; otherwise it names the first setting that
// differs ("checkpoint was written with --seed 1, this run has --seed 9").
func sameRun(file, want *Header) error {
	d := headerDiff(file, want)
	if d == nil && file.Shard != want.Shard {
		d = &difference{name: "--shard", a: file.Shard.String(), b: want.Shard.String()}
	}
	if d != nil {
		return fmt.Errorf("checkpoint was written with %s %s, this run has %s %s%s", d.name, d.a, d.name, d.b, d.suffix())
	}
	return nil
}

// Checkpoint is an append-only journal of finished probes. Each record is
// one JSON line, synced to disk before Append returns, so a crash loses at
// most the probe in flight.
type Checkpoint struct {
	j    *journal.Journal[Header, Record]
	done map[int]Record
}

// OpenCheckpoint opens the journal at path for a run described by h. With
// resume and an existing file, the finished probes are loaded (Done) and new
// ones are appended; a file written with different settings is an error that
// suggests --resume=false. Without resume, or when there is no file, the
// journal starts empty with h as its header.
func OpenCheckpoint(path string, h Header, resume bool) (*Checkpoint, error) {
	h.Format = PartialFormat
	j, records, err := partialLayout.Open(path, h, resume)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{j: j, done: map[int]Record{}}
	for _, r := range records {
		c.done[r.Index] = r
	}
	return c, nil
}

// Path returns the journal's file name.
func (c *Checkpoint) Path() string { return c.j.Path() }

// Done returns the finished probes loaded at open or appended since, by
// probe index.
func (c *Checkpoint) Done() map[int]Record { return c.done }

// Append journals one finished probe and syncs it to disk.
func (c *Checkpoint) Append(r Record) error {
	if _, dup := c.done[r.Index]; dup {
		return fmt.Errorf("%s: probe %d is already recorded", c.Path(), r.Index)
	}
	if err := c.j.Append(r); err != nil {
		return err
	}
	c.done[r.Index] = r
	return nil
}

// Records returns the finished probes in index order.
func (c *Checkpoint) Records() []Record {
	out := make([]Record, 0, len(c.done))
	for _, r := range c.done {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// Close closes the journal file, leaving it on disk.
func (c *Checkpoint) Close() error { return c.j.Close() }

// Finish closes the journal and replaces it, atomically, with the shard
// file form: the header, the records in index order, and the completion
// mark that `compresskv merge` requires.
func (c *Checkpoint) Finish() error { return c.j.Finish(c.Records()) }

// Remove closes the journal and deletes its file (after the final profile
// is safely written).
func (c *Checkpoint) Remove() error { return c.j.Remove() }
