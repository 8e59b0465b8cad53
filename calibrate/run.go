package calibrate

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"

	"github.com/compresskv/compresskv/calibrate/selection"
	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/profile/schema"
)

// Dataset is one calibration dataset: tokenised prompts and how many tokens
// to generate after each (the reference uses each LongBench dataset's
// maximum generation length).
type Dataset struct {
	Name    string
	Prompts [][]int // [prompts][tokens]
	MaxNew  int
}

// Options are the calibration settings. DefaultOptions gives the
// reference's.
type Options struct {
	Budget        int              // calibration budget per layer (32)
	TopK          int              // SRH heads per layer that select tokens (4)
	Selection     selection.Params // window 8, kernel 5, avg pooling
	Floor         int              // per-layer minimum budget m (32)
	CeilingFactor int              // per-layer maximum budget M = CeilingFactor * average (3)
	Averages      []int            // average budgets to allocate (64 .. 2048)
	Workers       int              // prompts run in parallel (default GOMAXPROCS); results do not depend on it
	// Session says how each prompt's session runs (chunk, KV cache dtype).
	Session model.SessionOptions

	// Journal, when set, records every finished prompt and supplies the
	// ones a previous run finished (see OpenJournal).
	Journal *Journal
	// Progress, when set, is called after every finished prompt with the
	// count done, the total, and the tokens this run fed through the model
	// (prompt tokens plus decode steps; resumed prompts count none).
	Progress func(done, total, tokens int)
}

// DefaultAverages are the average budgets a profile carries by default.
var DefaultAverages = []int{64, 128, 256, 512, 1024, 2048}

// DefaultOptions returns the reference settings.
func DefaultOptions() Options {
	return Options{
		Budget:        32,
		TopK:          4,
		Selection:     selection.DefaultParams(),
		Floor:         32,
		CeilingFactor: 3,
		Averages:      slices.Clone(DefaultAverages),
	}
}

// Validate reports settings Run cannot work with.
func (o Options) Validate() error {
	if err := o.Selection.Validate(); err != nil {
		return err
	}
	if o.Budget <= o.Selection.Window {
		return fmt.Errorf("calibration budget %d: want more than the window %d", o.Budget, o.Selection.Window)
	}
	if o.TopK < 1 {
		return fmt.Errorf("top-k %d: want at least 1 head per layer", o.TopK)
	}
	for _, avg := range o.Averages {
		if err := CheckAllocation(avg, o.Floor, o.CeilingFactor); err != nil {
			return err
		}
	}
	return nil
}

// Heads cuts a ranking ([layers][heads], best first) to its top k per
// layer.
func Heads(ranking [][]int, k int) [][]int {
	out := make([][]int, len(ranking))
	for l, r := range ranking {
		out[l] = slices.Clone(r[:min(k, len(r))])
	}
	return out
}

// PromptResult is what one calibration prompt contributes.
type PromptResult struct {
	Errors []float64 // [layers] summed relative Frobenius errors
	Steps  int       // decode steps measured
}

// RunPrompt runs one prompt with the full cache, generating greedily up to
// maxNew tokens (stopping at an end-of-sequence token, which the first token
// never is; see generate), and returns the per-layer errors of the
// CompressKV selection at opts.Budget. A prompt longer than the model
// context minus maxNew keeps its first and last halves, as LongBench's
// truncation does (on ids, not text). ctx is checked between prefill chunks
// and decode steps.
func RunPrompt(ctx context.Context, m *model.Model, ids []int, maxNew int, heads [][]int, opts Options) (PromptResult, error) {
	obs, err := NewErrorObserver(heads, opts.Budget, opts.Selection)
	if err != nil {
		return PromptResult{}, err
	}
	s, err := m.NewSession(opts.Session)
	if err != nil {
		return PromptResult{}, err
	}
	defer s.Release() // the next prompt's session starts in this one's memory
	if err := generate(ctx, s, truncate(ids, s.Options().MaxContext-maxNew), maxNew, m.Config().EOS, obs); err != nil {
		return PromptResult{}, err
	}
	if err := obs.Err(); err != nil {
		return PromptResult{}, err
	}
	return PromptResult{Errors: slices.Clone(obs.Errors()), Steps: obs.Steps()}, nil
}

// truncate keeps the first and last halves of ids when they are longer
// than limit (LongBench's middle truncation); a limit <= 0 keeps ids.
func truncate(ids []int, limit int) []int {
	if limit > 0 && len(ids) > limit {
		half := limit / 2
		return append(slices.Clone(ids[:half]), ids[len(ids)-(limit-half):]...)
	}
	return ids
}

// Run measures the layer errors of every prompt of every dataset on model
// m, with the top-k heads of ranking selecting tokens, and derives the
// layer scores and the per-layer budgets of every average in
// opts.Averages. Prompts run in parallel but are summed in order, so the
// result is the same for any Workers and byte-identical across runs.
func Run(ctx context.Context, m *model.Model, datasets []Dataset, ranking [][]int, opts Options) (*schema.Calibration, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	cfg := m.Config()
	layers := cfg.NumLayers
	if len(ranking) != layers {
		return nil, fmt.Errorf("head ranking has %d layers, model has %d", len(ranking), layers)
	}
	for l, r := range ranking {
		for _, h := range r {
			if h < 0 || h >= cfg.NumHeads {
				return nil, fmt.Errorf("head ranking layer %d: head %d outside 0..%d", l, h, cfg.NumHeads-1)
			}
		}
	}
	if len(datasets) == 0 {
		return nil, fmt.Errorf("no calibration datasets")
	}
	names := map[string]bool{}
	for _, d := range datasets {
		if names[d.Name] {
			return nil, fmt.Errorf("calibration dataset %q given twice", d.Name)
		}
		names[d.Name] = true
		if len(d.Prompts) == 0 {
			return nil, fmt.Errorf("calibration dataset %q has no prompts", d.Name)
		}
		if d.MaxNew < 2 {
			return nil, fmt.Errorf("calibration dataset %q: max new tokens %d: want at least 2 (the first token comes from prefill; errors are measured on the steps after it)", d.Name, d.MaxNew)
		}
	}
	heads := Heads(ranking, opts.TopK)
	results, err := runPrompts(ctx, m, datasets, heads, opts)
	if err != nil {
		return nil, err
	}

	c := &schema.Calibration{
		Budget:        opts.Budget,
		Window:        opts.Selection.Window,
		Kernel:        opts.Selection.Kernel,
		Pooling:       string(opts.Selection.Pooling),
		TopK:          opts.TopK,
		Floor:         opts.Floor,
		CeilingFactor: opts.CeilingFactor,
		Budgets:       map[string][]int{},
	}
	errs := make([][]float64, len(datasets))
	for d, ds := range datasets {
		score := schema.DatasetScore{Name: ds.Name, Prompts: len(ds.Prompts), LayerErrors: make([]float64, layers)}
		for _, r := range results[d] {
			score.Steps += r.Steps
			for l, e := range r.Errors {
				score.LayerErrors[l] += e
			}
		}
		errs[d] = score.LayerErrors
		c.Datasets = append(c.Datasets, score)
	}
	scores, perDataset, err := LayerScores(errs)
	if err != nil {
		for d := range errs {
			if _, nerr := Normalize(errs[d]); nerr != nil {
				return nil, fmt.Errorf("calibration dataset %q: %w", datasets[d].Name, nerr)
			}
		}
		return nil, err
	}
	for d := range c.Datasets {
		c.Datasets[d].LayerScores = perDataset[d]
	}
	c.LayerScores = scores
	for _, avg := range opts.Averages {
		c.Budgets[strconv.Itoa(avg)] = Allocate(scores, avg, opts.Floor, opts.CeilingFactor)
	}
	return c, nil
}

// job is one prompt of one dataset.
type job struct{ dataset, prompt int }

// runPrompts runs every prompt not already in the journal, Workers at a
// time, and returns the results as [dataset][prompt].
func runPrompts(ctx context.Context, m *model.Model, datasets []Dataset, heads [][]int, opts Options) ([][]PromptResult, error) {
	results := make([][]PromptResult, len(datasets))
	var todo []job
	total, layers := 0, m.Config().NumLayers
	for d, ds := range datasets {
		results[d] = make([]PromptResult, len(ds.Prompts))
		for p := range ds.Prompts {
			total++
			if r, ok := opts.Journal.done(ds.Name, p); ok {
				if len(r.Errors) != layers {
					return nil, fmt.Errorf("%s: dataset %q prompt %d has %d layer errors, model has %d layers", opts.Journal.Path(), ds.Name, p, len(r.Errors), layers)
				}
				results[d][p] = r
				continue
			}
			todo = append(todo, job{d, p})
		}
	}
	done, tokens := total-len(todo), 0
	so, err := opts.Session.Resolve(m.Config())
	if err != nil {
		return nil, err
	}
	maxContext := so.MaxContext
	if opts.Progress != nil {
		opts.Progress(done, total, tokens)
	}
	workers := max(1, min(promptsAtOnce(opts), len(todo)))

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan job)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				ds := datasets[j.dataset]
				r, err := RunPrompt(ctx, m, ds.Prompts[j.prompt], ds.MaxNew, heads, opts)
				if err != nil {
					fail(fmt.Errorf("calibration dataset %q prompt %d: %w", ds.Name, j.prompt, err))
					continue
				}
				mu.Lock()
				results[j.dataset][j.prompt] = r
				jerr := opts.Journal.append(ds.Name, j.prompt, r)
				done++
				tokens += min(len(ds.Prompts[j.prompt]), maxContext) + r.Steps
				if opts.Progress != nil {
					opts.Progress(done, total, tokens)
				}
				mu.Unlock()
				if jerr != nil {
					fail(jerr)
				}
			}
		}()
	}
feed:
	for _, j := range todo {
		select {
		case jobs <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return results, nil
}

// generate feeds ids, then decodes greedily up to maxNew tokens as the
// reference's model.generate(min_length=len(ids)+1, max_new_tokens=maxNew)
// does: the first token comes from the prefill logits with the eos ids
// masked (min_length forbids ending before one new token), every later
// token is the plain argmax, and decoding stops after an eos token (which
// is not fed) or after maxNew tokens (the last one is not fed either).
func generate(ctx context.Context, s *model.Session, ids []int, maxNew int, eos []int, obs model.Observer) error {
	if err := s.Prefill(ctx, ids, obs); err != nil {
		return err
	}
	_, err := s.Decode(ctx, model.DecodeOptions{
		MaxNew:   maxNew,
		Choose:   model.GreedyExcept(eos, 1),
		Stop:     func(_, id int) bool { return slices.Contains(eos, id) },
		Observer: obs,
	})
	return err
}

// runtimeThreads is the default prompt parallelism: one per CPU thread.
func runtimeThreads() int { return runtime.GOMAXPROCS(0) }
