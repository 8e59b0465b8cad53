package profile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/needle"
	"github.com/compresskv/compresskv/profile/schema"
)

// The fake model below is a 2-layer, 2-head induction machine over a toy
// vocabulary: token 0 is EOS, token 1 is a newline, token k >= 2 reads
// "w<k>". Fed a token at position pos, it finds the last earlier position
// of the same token and predicts the token after it (plain copying), and
// its heads attend:
//
//	layer 0 head 0: all on the position after the earlier occurrence (induction)
//	layer 0 head 1: uniformly over positions 0..pos
//	layer 1 head 0: all on position 0 (a sink)
//	layer 1 head 1: half induction, half sink
//
// So on a probe it copies the needle's answer, and the scores must rank
// head 0 first in layer 0 and head 1 first in layer 1.
const (
	fakeLayers = 2
	fakeHeads  = 2
	fakeEOS    = 0
	fakeNL     = 1
)

type fakeTokenizer struct{}

func (fakeTokenizer) Encode(string, bool) []int { panic("not used") }
func (fakeTokenizer) Decode(ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		switch id {
		case fakeEOS:
		case fakeNL:
			b.WriteString("\n")
		default:
			fmt.Fprintf(&b, " w%d", id)
		}
	}
	return b.String()
}

type fakeSession struct {
	seq    []int
	logits []float32
}

func newFakeSession() (session, error) { return &fakeSession{}, nil }

func fakeIsEOS(id int) bool { return id == fakeEOS }

func (f *fakeSession) Prefill(ctx context.Context, ids []int, obs model.Observer) error {
	f.seq = append(f.seq, ids...)
	return nil
}

func (f *fakeSession) Logits() []float32 { return f.logits }

func (f *fakeSession) Full() bool { return false }

func (f *fakeSession) Options() model.SessionOptions { return model.SessionOptions{Chunk: 1} }

func (f *fakeSession) Truncate(n int) { f.seq = f.seq[:n] }
func (f *fakeSession) Release()       { f.seq = nil }
func (f *fakeSession) Fork() session {
	return &fakeSession{seq: slices.Clone(f.seq), logits: slices.Clone(f.logits)}
}

func (f *fakeSession) Step(id int, obs model.Observer) error {
	pos := len(f.seq)
	f.seq = append(f.seq, id)
	target := -1
	for j := pos - 1; j >= 0; j-- {
		if f.seq[j] == id {
			target = j + 1
			break
		}
	}
	row := func(weights map[int]float32) []float32 {
		r := make([]float32, pos+1)
		for j, w := range weights {
			r[j] += w
		}
		return r
	}
	induction := map[int]float32{0: 1}
	if target >= 0 {
		induction = map[int]float32{target: 1}
	}
	uniform := make([]float32, pos+1)
	for j := range uniform {
		uniform[j] = 1 / float32(pos+1)
	}
	half := map[int]float32{0: 0.5}
	if target >= 0 {
		half[target] += 0.5
	} else {
		half[0] = 1
	}
	probs := [][][]float32{
		{row(induction), uniform},
		{row(map[int]float32{0: 1}), row(half)},
	}
	for l := range probs {
		obs.DecodeStep(&model.DecodeView{Layer: l, Pos: pos, Probs: probs[l]})
	}
	f.logits = make([]float32, 40)
	next := fakeEOS
	if target >= 0 {
		next = f.seq[target]
	}
	f.logits[next] = 1
	return nil
}

// fakeProbes builds id-level probes: a random haystack of ids 2..19, the
// needle [30 31 32 33 1] (key 30, answer span 31 32 33, then a newline)
// at a depth, and a question that ends with the key. Probe 3 gets a
// needle whose answer the model cannot copy (it fails the recall gate).
func fakeProbes(n int, seed uint64) []needle.Probe {
	rng := rand.New(rand.NewPCG(seed, 1))
	var probes []needle.Probe
	for i := 0; i < n; i++ {
		hay := make([]int, 40+4*i)
		for j := range hay {
			hay[j] = 2 + rng.IntN(18)
		}
		at := (len(hay) * (i % 5)) / 4
		ids := append([]int{}, hay[:at]...)
		start := len(ids) + 1
		ids = append(ids, 30, 31, 32, 33, fakeNL)
		ids = append(ids, hay[at:]...)
		ids = append(ids, 25, 26, 30)
		answer := "w31 w32 w33"
		if i == 3 {
			ids[start], ids[start+1] = 34, 35 // the copy no longer matches the answer text
		}
		probes = append(probes, needle.Probe{
			Index: 2 * i, ContextLength: 64, Depth: float64(25 * (i % 5)), NeedleID: "fake",
			IDs: ids, SpanStart: start, SpanEnd: start + 3, Answer: answer,
		})
	}
	return probes
}

func fakeHeader(probes []needle.Probe, opts Options) Header {
	m := schema.Model{Architecture: "llama", Layers: fakeLayers, Heads: fakeHeads, KVHeads: 1, HeadDim: 4, Fingerprint: "sha256:fake"}
	info := schema.ProbeInfo{Template: "raw", Haystack: "generated", Needles: "generated", ContextLengths: []int{64}, Depths: []float64{0, 25, 50, 75, 100}}
	return NewHeader(schema.Tool{Name: "compresskv", Version: "test"}, m, info, probes, []needle.Skip{{Index: 1, Reason: "span not found"}}, opts)
}

// runFake runs probes with a checkpoint at path and builds the profile
// bytes when the run finishes.
func runFake(t *testing.T, ctx context.Context, path string, probes []needle.Probe, opts Options, progress func(Progress)) ([]byte, *Result, error) {
	t.Helper()
	h := fakeHeader(probes, opts)
	c, err := OpenCheckpoint(path, h, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	opts.Checkpoint = c
	res, err := run(ctx, newFakeSession, fakeIsEOS, fakeLayers, fakeHeads, fakeTokenizer{}, probes, opts, progress)
	if err != nil {
		return nil, res, err
	}
	if !opts.Shard.Whole() {
		return nil, res, c.Finish()
	}
	p, err := Build(&h, res.Records)
	if err != nil {
		t.Fatal(err)
	}
	data, err := schema.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return data, res, nil
}

func TestRunScoresInductionHeads(t *testing.T) {
	probes := fakeProbes(6, 1)
	data, res, err := runFake(t, context.Background(), filepath.Join(t.TempDir(), "c.jsonl"), probes, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := schema.Unmarshal(data, "profile")
	if err != nil {
		t.Fatal(err)
	}
	if p.Probes.Run != 6 || p.Probes.Successful != 5 || p.Probes.Skipped != 1 {
		t.Fatalf("run %d successful %d skipped %d; want 6, 5, 1", p.Probes.Run, p.Probes.Successful, p.Probes.Skipped)
	}
	r0 := p.Probes.Results[0]
	if r0.Response != "w31 w32 w33" || r0.Recall != 1 || !r0.Success {
		t.Fatalf("probe 0: response %q recall %v", r0.Response, r0.Recall)
	}
	if r3 := p.Probes.Results[3]; r3.Success {
		t.Fatalf("probe 3 (broken needle) passed the gate: %+v", r3)
	}
	// Each successful probe: steps produce 31, 32, 33 (span tokens) then
	// the newline (not in the span). The induction head puts all its mass
	// on the produced token's span position: SRH 1 per step, 3 in all, and
	// a classic hit per step: 3 x 1/3 = 1. The half head gets half.
	want := [][]float64{{3, -1}, {0, 1.5}}
	for l := range want {
		for h := range want[l] {
			if want[l][h] >= 0 && p.Heads.SRH[l][h] != want[l][h] {
				t.Errorf("SRH[%d][%d] = %v, want %v", l, h, p.Heads.SRH[l][h], want[l][h])
			}
		}
	}
	if p.Heads.Retrieval[0][0] != 1 || p.Heads.Retrieval[1][1] != 0 {
		t.Errorf("retrieval = %v; want 1 for the induction head, 0 for the half head (its top-1 ties go to the sink at 0)", p.Heads.Retrieval)
	}
	if !reflect.DeepEqual(p.Heads.Ranking, [][]int{{0, 1}, {1, 0}}) {
		t.Errorf("ranking = %v, want [[0 1] [1 0]]", p.Heads.Ranking)
	}
	// Every probe feeds its prompt (prefill + the last token as step 1)
	// and three more steps before the newline.
	tokens := 0
	for _, pr := range probes {
		tokens += len(pr.IDs) + 3
	}
	if res.Tokens != tokens || len(res.Records) != 6 {
		t.Errorf("tokens %d, records %d; want %d, 6", res.Tokens, len(res.Records), tokens)
	}
}

func TestRunTeacherForced(t *testing.T) {
	probes := fakeProbes(6, 1)
	opts := Options{TeacherForced: true}
	data, _, err := runFake(t, context.Background(), filepath.Join(t.TempDir(), "c.jsonl"), probes, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := schema.Unmarshal(data, "profile")
	if err != nil {
		t.Fatal(err)
	}
	if p.Probes.Scoring != "teacher-forced" {
		t.Errorf("scoring %q, want teacher-forced", p.Probes.Scoring)
	}
	// Probe 3 is forced through its own span (34 35 33); the predictions
	// after each fed token copy the prompt, so the recorded response is
	// that span, whose recall against "w31 w32 w33" is 1/3 — yet teacher
	// forcing counts the probe: the gate is not applied.
	if r := p.Probes.Results[3]; r.Response != "w34 w35 w33" || !r.Success || math.Abs(r.Recall-1.0/3) > 1e-12 {
		t.Errorf("probe 3 teacher-forced: response %q recall %v success %v, want %q, 1/3, counted", r.Response, r.Recall, r.Success, "w34 w35 w33")
	}
	if p.Probes.Successful != p.Probes.Run {
		t.Errorf("teacher-forced: %d of %d probes counted, want all", p.Probes.Successful, p.Probes.Run)
	}
	if p.Heads.SRH[0][0] != 3 || p.Heads.Retrieval[0][0] != 1 {
		t.Errorf("induction head: SRH %v retrieval %v, want 3 and 1", p.Heads.SRH[0][0], p.Heads.Retrieval[0][0])
	}
}

// TestRunReferenceStopRule: in Reference mode the fake newline (id 1,
// neither the piece "<0x0A>" nor id 144) does not stop decoding, so every
// probe decodes all MaxNewTokens steps: its prompt plus 5 more fed tokens
// at 6 steps (the default stops after 3), and the response runs on past
// the answer.
func TestRunReferenceStopRule(t *testing.T) {
	probes := fakeProbes(6, 1)
	data, res, err := runFake(t, context.Background(), filepath.Join(t.TempDir(), "c.jsonl"), probes, Options{Reference: true, MaxNewTokens: 6}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tokens := 0
	for _, pr := range probes {
		tokens += len(pr.IDs) + 5
	}
	if res.Tokens != tokens {
		t.Errorf("tokens %d, want %d (6 steps per probe, no stop at the newline)", res.Tokens, tokens)
	}
	p, err := schema.Unmarshal(data, "profile")
	if err != nil {
		t.Fatal(err)
	}
	if r0 := p.Probes.Results[0]; !strings.HasPrefix(r0.Response, "w31 w32 w33\n") || r0.Recall != 1 {
		t.Errorf("probe 0: response %q recall %v, want the answer, a newline and more", r0.Response, r0.Recall)
	}
}

func TestRunResumeIsByteIdentical(t *testing.T) {
	probes := fakeProbes(7, 2)
	dir := t.TempDir()
	full, _, err := runFake(t, context.Background(), filepath.Join(dir, "full.jsonl"), probes, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}

	// Crash (cancel) after 3 probes, then resume.
	path := filepath.Join(dir, "crash.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	_, _, err = runFake(t, ctx, path, probes, Options{}, func(p Progress) {
		if p.Done == 3 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run returned %v, want context.Canceled", err)
	}
	part, err := ReadPartial(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(part.Records) != 3 {
		t.Fatalf("checkpoint holds %d probes after the crash, want 3", len(part.Records))
	}
	var seen []int
	resumed, res, err := runFake(t, context.Background(), path, probes, Options{}, func(p Progress) { seen = append(seen, p.Last.Index) })
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != 3 || !reflect.DeepEqual(seen, []int{6, 8, 10, 12}) {
		t.Fatalf("resume loaded %d probes and ran %v; want 3 loaded and [6 8 10 12] run", res.Resumed, seen)
	}
	if !bytes.Equal(resumed, full) {
		t.Fatal("resumed profile differs from the uninterrupted one")
	}

	// Shards run separately and merged give the same bytes.
	var parts []*Partial
	for i := 0; i < 3; i++ {
		opts := Options{Shard: Shard{Index: i, Count: 3}}
		spath := filepath.Join(dir, fmt.Sprintf("shard%d.jsonl", i))
		if _, _, err := runFake(t, context.Background(), spath, probes, opts, nil); err != nil {
			t.Fatal(err)
		}
		p, err := ReadPartial(spath)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	merged, err := Merge(parts)
	if err != nil {
		t.Fatal(err)
	}
	got, err := schema.Marshal(merged)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, full) {
		t.Fatal("merged shards differ from the single run")
	}
}

func TestRunRejectsForeignCheckpoint(t *testing.T) {
	probes := fakeProbes(4, 3)
	path := filepath.Join(t.TempDir(), "c.jsonl")
	if _, _, err := runFake(t, context.Background(), path, probes, Options{}, nil); err != nil {
		t.Fatal(err)
	}
	// Same header (probe list included) but a shard that excludes some of
	// the journaled probes cannot happen through OpenCheckpoint; a
	// settings change is refused there.
	h := fakeHeader(probes, Options{MaxNewTokens: 7})
	if _, err := OpenCheckpoint(path, h, true); err == nil || !strings.Contains(err.Error(), "--resume=false") {
		t.Fatalf("checkpoint of other settings: %v", err)
	}
}

func TestCheckFit(t *testing.T) {
	probes := []needle.Probe{{IDs: make([]int, 90)}, {IDs: make([]int, 100)}, {IDs: make([]int, 120)}}
	if err := CheckFit(probes, 10, 130); err != nil {
		t.Fatalf("120 + 10 tokens in a context of 130: %v", err)
	}
	err := CheckFit(probes, 10, 105)
	if err == nil || !strings.Contains(err.Error(), "2 of 3 probes do not fit the model's context of 105 tokens (longest: 120 prompt tokens + 10 new)") {
		t.Fatalf("err = %v", err)
	}
}

// TestDynamicPastContextTurnsReuseOff: only dynamic NTK scaling with a
// prompt past max_position_embeddings makes a cached prefix differ.
func TestDynamicPastContextTurnsReuseOff(t *testing.T) {
	probes := []needle.Probe{{IDs: make([]int, 100)}, {IDs: make([]int, 300)}}
	tests := []struct {
		scaling *model.RopeScaling
		maxPos  int
		want    bool
	}{
		{nil, 200, false},
		{&model.RopeScaling{Type: "linear", Factor: 2}, 200, false},
		{&model.RopeScaling{Type: "dynamic", Factor: 2}, 300, false},
		{&model.RopeScaling{Type: "dynamic", Factor: 2}, 299, true},
	}
	for _, tt := range tests {
		cfg := &model.Config{RopeScaling: tt.scaling, MaxPositionEmbeddings: tt.maxPos}
		if got := dynamicPastContext(*cfg, probes); got != tt.want {
			t.Errorf("scaling %+v, max positions %d: %v, want %v", tt.scaling, tt.maxPos, got, tt.want)
		}
	}
}
