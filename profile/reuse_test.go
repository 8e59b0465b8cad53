package profile

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compresskv/compresskv/internal/testshared"
	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/model/modeltest"
	"github.com/compresskv/compresskv/model/synth"
	"github.com/compresskv/compresskv/model/synth/synthtest"
	"github.com/compresskv/compresskv/needle"
	"github.com/compresskv/compresskv/plan"
	"github.com/compresskv/compresskv/profile/schema"
)

// sharedHaystackProbes builds id-level probes as needle.Build lays them
// out: one haystack of ids (from lo to hi-1) for every probe, cut to each
// length, the needle (key, answer span, newline) inserted at each depth,
// the key again at the end. Probes of one haystack then share their
// prefix up to the earlier needle, and equal cuts share more.
func sharedHaystackProbes(lengths []int, depths []int, key, answer []int, lo, hi int, seed uint64) []needle.Probe {
	rng := rand.New(rand.NewPCG(seed, 3))
	hay := make([]int, lengths[len(lengths)-1])
	for j := range hay {
		hay[j] = lo + rng.IntN(hi-lo)
	}
	var probes []needle.Probe
	for _, n := range lengths {
		for _, d := range depths {
			at := n * d / 100
			ids := append([]int{1}, hay[:at]...)
			ids = append(ids, key...)
			start := len(ids)
			ids = append(ids, answer...)
			ids = append(ids, hay[at:n]...)
			ids = append(ids, key...)
			probes = append(probes, needle.Probe{
				Index: len(probes), ContextLength: n, Depth: float64(d), NeedleID: "ids",
				IDs: ids, SpanStart: start, SpanEnd: start + len(answer),
			})
		}
	}
	return probes
}

// distinctPrefixes counts the distinct non-empty prefixes of the probes'
// prefill ids: the nodes of their trie, which is what an optimal prefix
// reuse with one cache prefills.
func distinctPrefixes(probes []needle.Probe) int {
	seen := map[string]bool{}
	for _, p := range probes {
		ids := p.IDs[:len(p.IDs)-1]
		for k := 1; k <= len(ids); k++ {
			seen[fmt.Sprint(ids[:k])] = true
		}
	}
	return len(seen)
}

func TestPrefixReuseFakeIsIdenticalAndMinimal(t *testing.T) {
	probes := sharedHaystackProbes([]int{30, 45, 60}, []int{0, 25, 50, 100}, []int{30}, []int{31, 32, 33, fakeNL}, 2, 20, 1)
	for i := range probes {
		probes[i].Answer = "w31 w32 w33"
	}
	dir := t.TempDir()
	plain, resPlain, err := runFake(t, context.Background(), filepath.Join(dir, "a.jsonl"), probes, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reused, resReuse, err := runFake(t, context.Background(), filepath.Join(dir, "b.jsonl"), probes, Options{PrefixReuse: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(plain, reused) {
		t.Fatalf("profiles differ with prefix reuse:\n%s\n---\n%s", plain, reused)
	}
	if resPlain.Reused != 0 {
		t.Errorf("without reuse %d positions were reused", resPlain.Reused)
	}
	decode := resPlain.Tokens
	for _, p := range probes {
		decode -= len(p.IDs) - 1
	}
	if got, want := resReuse.Tokens-decode, distinctPrefixes(probes); got != want {
		t.Errorf("prefilled %d prompt tokens with reuse, want the %d distinct prefixes", got, want)
	}
	if resReuse.Tokens+resReuse.Reused != resPlain.Tokens {
		t.Errorf("fed %d + reused %d != %d fed without reuse", resReuse.Tokens, resReuse.Reused, resPlain.Tokens)
	}
}

// TestPrefixReuseResumeAndShards interrupts a reusing run and resumes it,
// and runs it as two shards: the same bytes as one plain run.
func TestPrefixReuseResumeAndShards(t *testing.T) {
	probes := sharedHaystackProbes([]int{30, 45, 60}, []int{0, 50, 100}, []int{30}, []int{31, 32, 33, fakeNL}, 2, 20, 2)
	for i := range probes {
		probes[i].Answer = "w31 w32 w33"
	}
	dir := t.TempDir()
	want, _, err := runFake(t, context.Background(), filepath.Join(dir, "plain.jsonl"), probes, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	path := filepath.Join(dir, "resume.jsonl")
	_, _, err = runFake(t, ctx, path, probes, Options{PrefixReuse: true}, func(p Progress) {
		if p.Done == 4 {
			cancel()
		}
	})
	if err == nil {
		t.Fatal("interrupted run returned no error")
	}
	got, res, err := runFake(t, context.Background(), path, probes, Options{PrefixReuse: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != 4 || !bytes.Equal(got, want) {
		t.Fatalf("resumed %d probes; profile equal: %v", res.Resumed, bytes.Equal(got, want))
	}

	var parts []*Partial
	for i := range 2 {
		path := filepath.Join(dir, fmt.Sprintf("shard-%d.jsonl", i))
		if _, _, err := runFake(t, context.Background(), path, probes, Options{PrefixReuse: true, Shard: Shard{Index: i, Count: 2}}, nil); err != nil {
			t.Fatal(err)
		}
		p, err := ReadPartial(path)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	merged, err := Merge(parts)
	if err != nil {
		t.Fatal(err)
	}
	data, err := schema.Marshal(merged)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, want) {
		t.Fatal("merged reusing shards differ from the plain run")
	}
}

// profileBytes runs probes on m and returns the profile's bytes.
func profileBytes(t *testing.T, m *model.Model, tok needle.Tokenizer, probes []needle.Probe, opts Options) ([]byte, *Result) {
	t.Helper()
	h := NewHeader(schema.Tool{Name: "compresskv", Version: "test"}, ModelInfo(m), schema.ProbeInfo{}, probes, nil, opts)
	res, err := Run(context.Background(), m, tok, probes, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Build(&h, res.Records)
	if err != nil {
		t.Fatal(err)
	}
	data, err := schema.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return data, res
}

// checkReuseIdentical profiles probes on m with and without prefix reuse,
// decoding alone and three probes together (with reuse), on one and two
// kernel threads, and wants the same bytes every time.
func checkReuseIdentical(t *testing.T, m *model.Model, tok needle.Tokenizer, probes []needle.Probe, opts Options) {
	t.Helper()
	defer kernels.SetThreads(kernels.Threads())
	var want []byte
	for _, threads := range []int{1, 2} {
		kernels.SetThreads(threads)
		for _, c := range []struct {
			reuse bool
			batch int
		}{{false, 0}, {true, 0}, {true, 3}} {
			o := opts
			o.PrefixReuse, o.DecodeBatch = c.reuse, c.batch
			got, res := profileBytes(t, m, tok, probes, o)
			if c.reuse && res.Reused == 0 {
				t.Errorf("threads %d: no prompt position was reused", threads)
			}
			if want == nil {
				want = got
				continue
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("threads %d, reuse %v, decode batch %d: the profile differs from threads 1 without reuse", threads, c.reuse, c.batch)
			}
		}
	}
}

// synthProbes loads the built-in model (seed 1) and builds its probes on a
// generated haystack of haystackTokens: the given lengths, depths linear
// from 0 to 100 %, needles generated needles, the answer-prefix template.
func synthProbes(t *testing.T, lengths []int, depths, haystackTokens, needles int) (*model.Model, needle.Tokenizer, []needle.Probe) {
	t.Helper()
	m, tok, probes, _ := synthProbesDir(t, lengths, depths, haystackTokens, needles)
	return m, tok, probes
}

// synthProbesDir is synthProbes that also returns the model's folder.
func synthProbesDir(t *testing.T, lengths []int, depths, haystackTokens, needles int) (*model.Model, needle.Tokenizer, []needle.Probe, string) {
	t.Helper()
	dir, _ := synthtest.Write(t, synth.Options{Seed: 1})
	m, tok := modeltest.Load(t, dir)
	tmpl, err := needle.TemplateFor("answer-prefix")
	if err != nil {
		t.Fatal(err)
	}
	grid := needle.Grid{ContextLengths: lengths, Depths: needle.LinearDepths(0, 100, depths), Buffer: 50}
	probes, _, err := needle.Build(tok, needle.GenerateHaystack(1, haystackTokens), needle.GenerateNeedles(1, needles),
		needle.Settings{Grid: grid, Template: tmpl, AddSpecial: true})
	if err != nil {
		t.Fatal(err)
	}
	return m, tok, probes, dir
}

// TestPrefixReuseSynthByteIdentical: the built-in model on its own grid
// (real text probes from needle.Build), greedy decoding, a prefill chunk
// that does not divide the shared prefixes.
func TestPrefixReuseSynthByteIdentical(t *testing.T) {
	if testing.Short() {
		t.Skip("profiles the synthetic model four times")
	}
	m, tok, probes, dir := synthProbesDir(t, needle.LinearLengths(256, 640, 3), 4, 8000, 2)
	checkReuseIdentical(t, m, tok, probes, Options{Session: model.SessionOptions{Chunk: 96}})
	// bf16 compute, where a decode batch shares the layer matrices.
	bf16, err := model.Load(dir, model.LoadOptions{Compute: model.ComputeBF16})
	if err != nil {
		t.Fatal(err)
	}
	defer bf16.Close()
	checkReuseIdentical(t, bf16, tok, probes, Options{Session: model.SessionOptions{Chunk: 96}})
}

// TestPrefixReuseStoriesByteIdentical: stories260K (a trained checkpoint,
// f32 and bf16 weights, f32 and bf16 KV cache, f32 and bf16 compute),
// teacher-forced and greedy, id-level probes sharing one haystack.
func TestPrefixReuseStoriesByteIdentical(t *testing.T) {
	for _, tc := range []struct {
		dir     string
		kv      model.CacheDType
		compute model.ComputeDType
	}{
		{"models/stories260K-f32", model.CacheF32, model.ComputeF32},
		{"models/stories260K-bf16", model.CacheBF16, model.ComputeF32},
		{"models/stories260K-f32", model.CacheF32, model.ComputeBF16},
	} {
		dir := testshared.Require(t, tc.dir)
		m, tok := modeltest.Load(t, dir)
		if tc.compute != model.ComputeF32 {
			var err error
			if m, err = model.Load(dir, model.LoadOptions{Compute: tc.compute}); err != nil {
				t.Fatal(err)
			}
		}
		probes := sharedHaystackProbes([]int{100, 150, 200}, []int{0, 30, 60, 100}, []int{300, 301}, []int{400, 401, 402, 403}, 3, 253, 5)
		for i := range probes {
			probes[i].Answer = tok.Decode([]int{400, 401, 402, 403})
		}
		for _, forced := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/compute=%v/teacher-forced=%v", filepath.Base(tc.dir), tc.compute, forced), func(t *testing.T) {
				checkReuseIdentical(t, m, tok, probes, Options{TeacherForced: forced, MaxNewTokens: 8, Session: model.SessionOptions{Chunk: 48, CacheDType: tc.kv}})
			})
		}
		m.Close()
	}
}

func TestSpreadOrder(t *testing.T) {
	// 3 lengths x 3 depths, index = length*3 + depth. From the corner
	// (0, 0): the far corner 8, then the two other corners (tied, lower
	// index first), the centre, then the edge midpoints in index order.
	var probes []needle.Probe
	for li, n := range []int{100, 200, 300} {
		for di, d := range []float64{0, 50, 100} {
			probes = append(probes, needle.Probe{Index: li*3 + di, ContextLength: n, Depth: d, NeedleID: "a"})
		}
	}
	var got []int
	for _, p := range SpreadOrder(probes) {
		got = append(got, p.Index)
	}
	if want := []int{0, 8, 2, 6, 4, 1, 3, 5, 7}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

// The fake model's 2 heads are all of its top-k, so every layer's Jaccard
// is 1 from the first check: with window 3 the checks start at the 3rd
// successful probe and the run stops at the 5th.
func TestUntilStableStopsAndResumes(t *testing.T) {
	probes := fakeProbes(10, 4)
	opts := Options{UntilStable: 0.9, StableWindow: 3}
	dir := t.TempDir()
	want, res, err := runFake(t, context.Background(), filepath.Join(dir, "a.jsonl"), probes, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	spread := SpreadOrder(probes)
	successes, ran := 0, 0
	for _, p := range spread {
		ran++
		if p.Index != 6 { // fakeProbes' probe 3 (index 6) fails the gate
			successes++
		}
		if successes == 5 {
			break
		}
	}
	if !res.Stopped || len(res.Records) != ran {
		t.Fatalf("stopped %v after %d probes, want a stop after %d", res.Stopped, len(res.Records), ran)
	}
	p, err := schema.Unmarshal(want, "profile")
	if err != nil {
		t.Fatal(err)
	}
	if u := p.Probes.UntilStable; u == nil || !u.Stopped || u.Jaccard != 0.9 || u.Window != 3 || p.Probes.Run != ran {
		t.Fatalf("until_stable %+v, run %d", u, p.Probes.Run)
	}
	if err := schema.Validate(p); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	path := filepath.Join(dir, "b.jsonl")
	if _, _, err := runFake(t, ctx, path, probes, opts, func(p Progress) {
		if p.Done == 2 {
			cancel()
		}
	}); err == nil {
		t.Fatal("interrupted run returned no error")
	}
	got, _, err := runFake(t, context.Background(), path, probes, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("resumed until-stable run differs")
	}

	// A window longer than the grid allows never stops.
	_, res, err = runFake(t, context.Background(), filepath.Join(dir, "c.jsonl"), probes, Options{UntilStable: 0.9, StableWindow: 6}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped || len(res.Records) != len(probes) {
		t.Fatalf("window 6: stopped %v after %d of %d probes", res.Stopped, len(res.Records), len(probes))
	}
}

// TestCalibrateRatesReuse: the plan's end-to-end calibration runs its
// probes with the run's prefix reuse, and counts the decode steps they
// took the same either way (reused prompt positions are not steps):
// greedy decoding gives the same tokens with and without reuse.
func TestCalibrateRatesReuse(t *testing.T) {
	m, tok, probes := synthProbes(t, needle.LinearLengths(256, 384, 2), 3, 4000, 1)
	base := plan.Rates{PrefillPerToken: time.Millisecond, StepFixed: time.Millisecond, Source: "test"}
	var shares []float64
	for _, reuse := range []bool{false, true} {
		r, err := CalibrateRates(context.Background(), m, tok, probes, Options{PrefixReuse: reuse, MaxNewTokens: 20, Session: model.SessionOptions{Chunk: 96}}, base, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.Source, "3 probes run end to end") {
			t.Fatalf("reuse %v: rates not scaled to the probes run: %q", reuse, r.Source)
		}
		if !(r.StepShare > 0 && r.StepShare <= 1) {
			t.Fatalf("reuse %v: step share %v, want in (0, 1]", reuse, r.StepShare)
		}
		shares = append(shares, r.StepShare)
	}
	if shares[0] != shares[1] {
		t.Errorf("decode steps taken: share %v without reuse, %v with", shares[0], shares[1])
	}
}

// TestCalibrateRatesKeepsRecords: with a checkpoint, the plan's end-to-end
// calibration scores the shortest probes the run has left (of its shard,
// not yet recorded), appends their records, and the run resumes them:
// the profile (or shard file) is byte-identical to a run without the
// calibration, and every probe is scored once.
func TestCalibrateRatesKeepsRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("profiles the synthetic model three times")
	}
	m, tok, probes := synthProbes(t, needle.LinearLengths(256, 384, 2), 3, 4000, 1)
	base := plan.Rates{PrefillPerToken: time.Millisecond, StepFixed: time.Millisecond, Source: "test"}
	opts := Options{PrefixReuse: true, MaxNewTokens: 20, Session: model.SessionOptions{Chunk: 96}}
	want, _ := profileBytes(t, m, tok, probes, opts)

	shortest := slices.Clone(probes)
	slices.SortStableFunc(shortest, func(a, b needle.Probe) int { return len(a.IDs) - len(b.IDs) })
	for _, tc := range []struct {
		name     string
		shard    Shard
		recorded int // probes already in the checkpoint: the shortest ones
	}{
		{"fresh", Shard{}, 0},
		{"resumed", Shard{}, 2},
		{"shard", Shard{Index: 1, Count: 2}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := opts
			o.Shard = tc.shard
			h := NewHeader(schema.Tool{Name: "compresskv", Version: "test"}, ModelInfo(m), schema.ProbeInfo{}, probes, nil, o)
			c, err := OpenCheckpoint(filepath.Join(t.TempDir(), "c.jsonl"), h, true)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			plain, err := Run(context.Background(), m, tok, probes, opts, nil)
			if err != nil {
				t.Fatal(err)
			}
			byIndex := map[int]Record{}
			for _, r := range plain.Records {
				byIndex[r.Index] = r
			}
			for _, p := range shortest[:tc.recorded] {
				if err := c.Append(byIndex[p.Index]); err != nil {
					t.Fatal(err)
				}
			}
			o.Checkpoint = c
			var heard []int
			r, err := CalibrateRates(context.Background(), m, tok, probes, o, base, func(p Progress) { heard = append(heard, p.Last.Index) })
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(r.Source, "3 probes run end to end (their results are the run's first)") {
				t.Fatalf("rates source %q", r.Source)
			}
			recorded := shortestIndices(shortest[:tc.recorded])
			var left []int
			for _, p := range shortest {
				if tc.shard.Has(p.Index) && !slices.Contains(recorded, p.Index) {
					left = append(left, p.Index)
				}
			}
			wantKept := slices.Sorted(slices.Values(left[:3]))
			slices.Sort(heard)
			if !slices.Equal(heard, wantKept) {
				t.Fatalf("calibration scored probes %v, want the 3 shortest left %v", heard, wantKept)
			}
			if n := len(c.Done()); n != tc.recorded+3 {
				t.Fatalf("checkpoint holds %d records after the calibration, want %d", n, tc.recorded+3)
			}
			res, err := Run(context.Background(), m, tok, probes, o, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Resumed != tc.recorded+3 {
				t.Fatalf("run resumed %d probes, want %d", res.Resumed, tc.recorded+3)
			}
			for _, rec := range res.Records {
				if !reflect.DeepEqual(rec, byIndex[rec.Index]) {
					t.Fatalf("probe %d's record differs from the plain run's", rec.Index)
				}
			}
			if tc.shard.Whole() {
				p, err := Build(&h, res.Records)
				if err != nil {
					t.Fatal(err)
				}
				got, err := schema.Marshal(p)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatal("the profile differs from a run without the calibration's records")
				}
			}
		})
	}
}

func shortestIndices(ps []needle.Probe) []int {
	var out []int
	for _, p := range ps {
		out = append(out, p.Index)
	}
	return out
}

// TestCalibrateRatesDryRunBudget: without a checkpoint (--dry-run) the
// measurement runs only the probes the model-level rates project within
// plan.DryRunBudget: none when the shortest is over it (the rates come
// back unscaled, saying so), all three when they are cheap.
func TestCalibrateRatesDryRunBudget(t *testing.T) {
	m, tok, probes := synthProbes(t, needle.LinearLengths(256, 384, 2), 2, 4000, 1)
	opts := Options{PrefixReuse: true, MaxNewTokens: 4, Session: model.SessionOptions{Chunk: 96}}
	for _, tc := range []struct {
		name     string
		perToken time.Duration
		heard    int
		source   string
	}{
		// The shortest probe prefills 209 tokens, at 1 s each (less the
		// last layer's skipped rows): 3m29s.
		{"over", time.Second, 0, "not scaled to a prompt run end to end: --dry-run skips the shortest, projected at 3m29s"},
		{"cheap", time.Nanosecond, 3, "scaled by"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := plan.Rates{PrefillPerToken: tc.perToken, StepFixed: time.Nanosecond, Source: "test"}
			heard := 0
			r, err := CalibrateRates(context.Background(), m, tok, probes, opts, base, func(Progress) { heard++ })
			if err != nil {
				t.Fatal(err)
			}
			if heard != tc.heard {
				t.Errorf("%d probes run, want %d", heard, tc.heard)
			}
			if !strings.Contains(r.Source, tc.source) || strings.Contains(r.Source, "run's first") {
				t.Errorf("rates source %q, want it to contain %q", r.Source, tc.source)
			}
			if tc.heard == 0 && r.PrefillPerToken != base.PrefillPerToken {
				t.Errorf("unscaled rates changed: %v per token, want %v", r.PrefillPerToken, base.PrefillPerToken)
			}
		})
	}
}

// TestDecodeBatchFake: probes decoded in batches (forked sessions, one
// lockstep decode) give the bytes of probes decoded alone: with and
// without prefix reuse, resumed after an interruption, and under
// UntilStable, whose stop drops a batch's records past the stop.
func TestDecodeBatchFake(t *testing.T) {
	probes := sharedHaystackProbes([]int{30, 45, 60}, []int{0, 25, 50, 100}, []int{30}, []int{31, 32, 33, fakeNL}, 2, 20, 6)
	for i := range probes {
		probes[i].Answer = "w31 w32 w33"
	}
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	want, plainRes, err := runFake(t, context.Background(), path("plain.jsonl"), probes, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range []int{2, 5, 64} {
		for _, reuse := range []bool{false, true} {
			name := fmt.Sprintf("batch %d, reuse %v", batch, reuse)
			var seen []int
			got, res, err := runFake(t, context.Background(), path(fmt.Sprintf("b%d-%v.jsonl", batch, reuse)), probes, Options{DecodeBatch: batch, PrefixReuse: reuse},
				func(p Progress) { seen = append(seen, p.Done) })
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: the profile differs from decoding alone", name)
			}
			if res.Tokens+res.Reused != plainRes.Tokens {
				t.Errorf("%s: fed %d + reused %d, want %d fed without reuse", name, res.Tokens, res.Reused, plainRes.Tokens)
			}
			if len(seen) != len(probes) || seen[len(seen)-1] != len(probes) {
				t.Errorf("%s: progress saw %v", name, seen)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := path("resume.jsonl")
	if _, _, err := runFake(t, ctx, p, probes, Options{DecodeBatch: 5, PrefixReuse: true}, func(p Progress) {
		if p.Done == 3 {
			cancel()
		}
	}); err == nil {
		t.Fatal("interrupted run returned no error")
	}
	got, res, err := runFake(t, context.Background(), p, probes, Options{DecodeBatch: 5, PrefixReuse: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != 5 || !bytes.Equal(got, want) {
		t.Fatalf("resumed %d probes (want the first batch's 5); profile equal: %v", res.Resumed, bytes.Equal(got, want))
	}

	// A checkpoint holding every third probe of the run order (as the
	// plan's measurement leaves it): the probes between them are batched
	// around them, and every probe is taken in order.
	order := append([]needle.Probe(nil), probes...)
	prefixOrder(order)
	p = path("scattered.jsonl")
	c, err := OpenCheckpoint(p, fakeHeader(probes, Options{}), true)
	if err != nil {
		t.Fatal(err)
	}
	held := 0
	for k, o := range order {
		if k%3 != 1 {
			continue
		}
		for _, r := range plainRes.Records {
			if r.Index == o.Index {
				if err := c.Append(r); err != nil {
					t.Fatal(err)
				}
				held++
			}
		}
	}
	c.Close()
	got, res, err = runFake(t, context.Background(), p, probes, Options{DecodeBatch: 3, PrefixReuse: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != held || !bytes.Equal(got, want) {
		t.Fatalf("scattered checkpoint: resumed %d of %d; profile equal: %v", res.Resumed, held, bytes.Equal(got, want))
	}

	stable := fakeProbes(10, 4)
	opts := Options{UntilStable: 0.9, StableWindow: 3}
	alone, aloneRes, err := runFake(t, context.Background(), path("stable.jsonl"), stable, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts.DecodeBatch = 4
	p = path("stable-batch.jsonl")
	got, res, err = runFake(t, context.Background(), p, stable, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, alone) || res.Stopped != aloneRes.Stopped || len(res.Records) != len(aloneRes.Records) {
		t.Fatalf("until-stable with a decode batch: stopped %v after %d probes, alone %v after %d; profile equal %v",
			res.Stopped, len(res.Records), aloneRes.Stopped, len(aloneRes.Records), bytes.Equal(got, alone))
	}
	// Resumed from a checkpoint holding the 6th and 7th probes of the run
	// order: the 5th, batched, must reach the stop rule before them (taken
	// first, they would stop the run without it).
	opts.DecodeBatch = 0
	_, allRes, err := runFake(t, context.Background(), path("stable-all.jsonl"), stable, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p = path("stable-scattered.jsonl")
	c, err = OpenCheckpoint(p, fakeHeader(stable, opts), true)
	if err != nil {
		t.Fatal(err)
	}
	for k, o := range SpreadOrder(stable) {
		if k == 5 || k == 6 {
			for _, r := range allRes.Records {
				if r.Index == o.Index {
					if err := c.Append(r); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	c.Close()
	opts.DecodeBatch = 4
	if got, _, err = runFake(t, context.Background(), p, stable, opts, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, alone) {
		t.Fatal("until-stable resumed from scattered probes with a decode batch: the profile differs")
	}
}

// TestAutoDecodeBatch: BatchRows probes under bf16 compute, fewer when
// half the free memory holds fewer copies of the longest KV cache beside
// the prefix cache's, one under float32 compute or unknown memory.
func TestAutoDecodeBatch(t *testing.T) {
	m, _, probes, dir := synthProbesDir(t, []int{256}, 2, 2000, 1)
	bf16, err := model.Load(dir, model.LoadOptions{Compute: model.ComputeBF16})
	if err != nil {
		t.Fatal(err)
	}
	defer bf16.Close()
	longest := 0
	for _, p := range probes {
		longest = max(longest, len(p.IDs))
	}
	cfg := m.Config()
	// f32 cache: keys and values of every layer and KV head per position.
	cache := int64(cfg.NumLayers*2*cfg.NumKVHeads*cfg.HeadDim*4) * int64(longest+DefaultMaxNewTokens)
	for _, c := range []struct {
		m    *model.Model
		free int64
		want int
	}{
		{m, 1 << 40, 1},
		{bf16, 0, 1},
		{bf16, 1 << 40, model.BatchRows},
		{bf16, 2 * 4 * cache, 3},
		{bf16, 2 * cache, 1},
	} {
		if got := AutoDecodeBatch(c.m, probes, Options{}, c.free); got != c.want {
			t.Errorf("batched %v, free %d: %d, want %d", c.m.Batched(), c.free, got, c.want)
		}
	}
}

// TestPlanCountsDecodeCopies: a decode batch holds a KV copy per probe
// decoding beside the prefix cache, never more copies than probes.
func TestPlanCountsDecodeCopies(t *testing.T) {
	m, _, probes := synthProbes(t, []int{256}, 3, 2000, 1)
	for _, c := range []struct{ batch, caches int }{{0, 1}, {1, 1}, {2, 3}, {8, 1 + len(probes)}} {
		p, err := Plan(m, probes, Options{DecodeBatch: c.batch, PrefixReuse: true}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if p.KVCaches != c.caches {
			t.Errorf("decode batch %d over %d probes: %d KV caches, want %d", c.batch, len(probes), p.KVCaches, c.caches)
		}
	}
}

// TestCalibrateBatchMeasuresBatches: the plan times a batch's step on a
// Batched model (bf16 compute), and only there; the float32 model's rates
// carry no batch, so InBatches leaves them as they are.
func TestCalibrateBatchMeasuresBatches(t *testing.T) {
	m, _, _, dir := synthProbesDir(t, []int{256}, 2, 2000, 1)
	bf16, err := model.Load(dir, model.LoadOptions{Compute: model.ComputeBF16})
	if err != nil {
		t.Fatal(err)
	}
	defer bf16.Close()
	so := model.SessionOptions{Chunk: 96}
	r, err := plan.CalibrateBatch(bf16, so, nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	if r.Batch != 3 || math.IsNaN(r.BatchStepRatio) || r.BatchStepRatio < 0 {
		t.Errorf("bf16 compute: batch %d, ratio %v; want a batch of 3 measured", r.Batch, r.BatchStepRatio)
	}
	// A tiny model's step may have no fixed time left to share (ratio 0,
	// InBatches a no-op); when it has, the projection says so.
	if got := r.InBatches(MaxBatchPrefill).Source; r.BatchStepRatio > 0 && !strings.Contains(got, "decoding 3 probes at a time") {
		t.Errorf("bf16 compute: source %q", got)
	}
	f, err := plan.CalibrateBatch(m, so, nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	if f.Batch != 0 || f.InBatches(MaxBatchPrefill).Source != f.Source {
		t.Errorf("f32 compute: batch %d, source %q", f.Batch, f.InBatches(MaxBatchPrefill).Source)
	}
}
