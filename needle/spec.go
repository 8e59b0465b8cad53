package needle

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
)

// Spec describes a probe grid and its inputs the way the command-line flags
// and configs/probes*.yaml spell them (min/max/intervals or explicit lists,
// "generated" or a path). Commands fill it from flags; Grid, NeedleSet and
// HaystackText turn it into Build's inputs.
type Spec struct {
	Lengths                         []int // explicit context lengths; override Min/MaxLength, Intervals
	MinLength, MaxLength, Intervals int

	Depths             []float64 // explicit depths in percent; override the rest
	MinDepth, MaxDepth float64
	DepthIntervals     int
	Logistic           bool // the reference's sigmoid spacing instead of linear

	Buffer int

	Needles      string // JSONL path; "" generates NeedlesCount needles from NeedleSeed
	NeedleSeed   int64
	NeedlesCount int

	Haystack string // "" or "generated": GenerateHaystack(Seed, ...); "tolstoy": Tolstoy(); else LoadHaystack
	Seed     int64
}

// Bounds on a probe grid. A grid is run probe by probe, each a full
// prefill and decode, so even the largest here is far more than any run can
// finish; past them a typo would allocate or loop for hours before the first
// probe (a billion needles, a billion intervals).
const (
	MaxGridPoints = 10_000    // context lengths, or depths
	MaxNeedles    = 100_000   // needles
	MaxProbes     = 1_000_000 // lengths x depths x needles
	MaxLength     = 1 << 24   // tokens of one context (model configs stop at the same bound)
)

// Grid resolves the context lengths and depths.
func (sp Spec) Grid() (Grid, error) {
	g := Grid{ContextLengths: sp.Lengths, Depths: sp.Depths, Buffer: sp.Buffer}
	if len(g.ContextLengths) == 0 {
		if sp.Intervals <= 0 || sp.MinLength <= 0 || sp.MaxLength < sp.MinLength {
			return Grid{}, fmt.Errorf("context lengths: min %d, max %d, intervals %d: want 0 < min <= max and intervals > 0", sp.MinLength, sp.MaxLength, sp.Intervals)
		}
		if sp.Intervals > MaxGridPoints {
			return Grid{}, fmt.Errorf("context lengths: intervals %d, want at most %d", sp.Intervals, MaxGridPoints)
		}
		if sp.MaxLength > MaxLength {
			return Grid{}, fmt.Errorf("context lengths: max %d, want at most %d tokens", sp.MaxLength, MaxLength)
		}
		g.ContextLengths = LinearLengths(sp.MinLength, sp.MaxLength, sp.Intervals)
	}
	if len(g.Depths) == 0 {
		if sp.DepthIntervals <= 0 || sp.MinDepth > sp.MaxDepth {
			return Grid{}, fmt.Errorf("depths: min %v, max %v, intervals %d: want min <= max and intervals > 0", sp.MinDepth, sp.MaxDepth, sp.DepthIntervals)
		}
		if sp.DepthIntervals > MaxGridPoints {
			return Grid{}, fmt.Errorf("depths: intervals %d, want at most %d", sp.DepthIntervals, MaxGridPoints)
		}
		if sp.Logistic {
			g.Depths = LogisticDepths(sp.MinDepth, sp.MaxDepth, sp.DepthIntervals)
		} else {
			g.Depths = LinearDepths(sp.MinDepth, sp.MaxDepth, sp.DepthIntervals)
		}
	}
	return g, g.Validate()
}

// ContentHash is "sha256:<hex>" of a haystack text or of needles (their
// JSON Lines form, so that two files with the same needles agree): what a
// profile records of a haystack or needle file besides its base name.
func ContentHash(text string) string {
	sum := sha256.Sum256([]byte(text))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// NeedlesHash is the ContentHash of needles.
func NeedlesHash(needles []Needle) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	for _, n := range needles {
		_ = enc.Encode(n) // plain strings: cannot fail
	}
	return ContentHash(b.String())
}

// NeedleSet returns the needles (loaded or generated) and a short name of
// their source for provenance ("generated" or the file's base name).
func (sp Spec) NeedleSet() ([]Needle, string, error) {
	if sp.Needles != "" {
		needles, err := LoadNeedles(sp.Needles)
		return needles, filepath.Base(sp.Needles), err
	}
	if sp.NeedlesCount <= 0 || sp.NeedlesCount > MaxNeedles {
		return nil, "", fmt.Errorf("generated needles: count %d, want 1..%d", sp.NeedlesCount, MaxNeedles)
	}
	return GenerateNeedles(sp.NeedleSeed, sp.NeedlesCount), "generated", nil
}

// HaystackText returns the haystack text for contexts up to maxLength
// tokens and a short name of its source ("generated" or the base name).
// Generated prose is sized at about five characters per token; Build
// repeats any haystack that turns out short.
func (sp Spec) HaystackText(maxLength int) (string, string, error) {
	switch sp.Haystack {
	case "", "generated":
		return GenerateHaystack(sp.Seed, 5*maxLength+1000), "generated", nil
	case TolstoyHaystack:
		return Tolstoy(), TolstoyHaystack, nil
	}
	text, err := LoadHaystack(sp.Haystack)
	return text, filepath.Base(sp.Haystack), err
}

// MaxLength is the longest context length of the grid.
func (g Grid) MaxLength() int {
	m := 0
	for _, l := range g.ContextLengths {
		m = max(m, l)
	}
	return m
}

// CapLengths returns sp with its context lengths at most max tokens, and
// how many lengths it lowered: a min/max/intervals grid keeps its spacing
// up to max (the intervals cut to the distinct lengths left), explicit
// lengths above max become max, once. max < 1 leaves sp as it is.
func (sp Spec) CapLengths(max int) (Spec, int) {
	if max < 1 {
		return sp, 0
	}
	capped := 0
	if len(sp.Lengths) > 0 {
		var out []int
		seen := map[int]bool{}
		for _, l := range sp.Lengths {
			if l > max {
				l, capped = max, capped+1
			}
			if !seen[l] {
				seen[l] = true
				out = append(out, l)
			}
		}
		sp.Lengths = out
		return sp, capped
	}
	if sp.MaxLength <= max || sp.Intervals <= 0 {
		return sp, 0
	}
	for _, l := range LinearLengths(sp.MinLength, sp.MaxLength, sp.Intervals) {
		if l > max {
			capped++
		}
	}
	sp.MaxLength = max
	sp.MinLength = min(sp.MinLength, max)
	sp.Intervals = min(sp.Intervals, sp.MaxLength-sp.MinLength+1)
	return sp, capped
}
