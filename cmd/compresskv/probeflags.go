package main

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/compresskv/compresskv/configs"
	"github.com/compresskv/compresskv/model/tokenizer"
	"github.com/compresskv/compresskv/needle"
	"github.com/compresskv/compresskv/profile"
	"github.com/compresskv/compresskv/profile/schema"
)

// probeFlags are the needle-probe flags that profile, probes and calibrate
// share: the grid (context lengths x depths), the needles, the haystack and
// the prompt template. Their names are the keys of configs/probes*.yaml and
// configs/calibrate.yaml, so renaming one breaks users' config files.
type probeFlags struct {
	Spec       needle.Spec
	Template   string // a template name, "auto" (the tokenizer's chat template) or a custom text
	AddSpecial bool
	Quick      bool   // fill unset flags from configs/probes-quick.yaml
	Compat     string // "" / "none" or "reference" (needle.ParseCompat)

	style probeFlagStyle
}

// probeFlagStyle says which probe flags a command declares.
type probeFlagStyle int

const (
	// gridFlags declares every grid flag under its plain name (profile,
	// probes).
	gridFlags probeFlagStyle = iota
	// calibrationFlags declares only explicit lists, seeds and the needle
	// count, as --needle-lengths, --needle-depths and --needle-template:
	// calibrate's --needles is the switch of its built-in probes, and its
	// haystack and needles are always generated.
	calibrationFlags
)

// name is the flag name of a probe setting in this style.
func (pf *probeFlags) name(setting string) string {
	if pf.style == calibrationFlags {
		switch setting {
		case "lengths", "depths", "template":
			return "needle-" + setting
		}
	}
	return setting
}

// addProbeFlags declares the probe flags of style on fs, bound to pf.
func addProbeFlags(fs *pflag.FlagSet, pf *probeFlags, style probeFlagStyle) {
	pf.style = style
	sp := &pf.Spec
	fs.IntSliceVar(&sp.Lengths, pf.name("lengths"), nil, "context `lengths` in tokens (overrides --min-length/--max-length/--intervals)")
	fs.Float64SliceVar(&sp.Depths, pf.name("depths"), nil, "needle `depths` in percent (overrides --min-depth/--max-depth/--depth-intervals)")
	// pflag would print an empty float list as "(default [])".
	fs.Lookup(pf.name("depths")).DefValue = ""
	fs.Int64Var(&sp.NeedleSeed, "needle-seed", 0, "seed of the generated needles")
	fs.IntVar(&sp.NeedlesCount, "needles-count", 0, "number of generated needles")
	addAlias(fs, "needle-count", "needles-count")
	fs.Int64Var(&sp.Seed, "seed", 0, "seed of the generated haystack")
	fs.StringVar(&pf.Template, pf.name("template"), "", "prompt template: "+strings.Join(needle.TemplateNames(), ", ")+
		`, "auto" (from the tokenizer's chat template), or a custom text with {context} and {question}`)
	fs.StringVar(&pf.Compat, "compat", "", `probe construction: "none" (compresskv's) or "reference" (the reference script's, token for token; see docs/method.md)`)
	if style == calibrationFlags {
		fs.Lookup(pf.name("lengths")).Usage = "context `lengths` of the built-in needle probes"
		fs.Lookup(pf.name("depths")).Usage = "needle `depths` in percent of the built-in probes"
		pf.AddSpecial = true
		return
	}
	fs.StringVar(&sp.Haystack, "haystack", "", `haystack: "tolstoy" (embedded War and Peace excerpt), "generated" (seeded prose) or a .txt file or folder of .txt files`)
	fs.StringVar(&sp.Needles, "needles", "", "needle JSONL file (reference format: needle, question, real_needle); empty: generated needles")
	fs.IntVar(&sp.MinLength, "min-length", 0, "shortest context length in tokens")
	fs.IntVar(&sp.MaxLength, "max-length", 0, "longest context length in tokens")
	fs.IntVar(&sp.Intervals, "intervals", 0, "number of context lengths, spaced linearly")
	fs.Float64Var(&sp.MinDepth, "min-depth", 0, "smallest needle depth in percent")
	fs.Float64Var(&sp.MaxDepth, "max-depth", 0, "largest needle depth in percent")
	fs.IntVar(&sp.DepthIntervals, "depth-intervals", 0, "number of depths")
	fs.BoolVar(&sp.Logistic, "logistic", false, "space depths logistically (the reference's sigmoid option) instead of linearly")
	fs.IntVar(&sp.Buffer, "buffer", 0, "tokens of each context length kept free for the question and answer")
	fs.BoolVar(&pf.AddSpecial, "add-special", true, "add the tokenizer's special tokens (BOS) to the prompt")
	fs.BoolVar(&pf.Quick, "quick", false, "use the quick probe grid (configs/probes-quick.yaml) for flags not given")
	describeEmbeddedDefaults(fs, gridDefaults)
}

// aliasValue is the value of a hidden alias flag: setting it sets the
// target flag and marks it given, so neither --config, the environment nor
// the embedded defaults overwrite what the user typed under the alias.
type aliasValue struct {
	pflag.Value
	target *pflag.Flag
}

func (a aliasValue) Set(s string) error {
	if err := a.Value.Set(s); err != nil {
		return err
	}
	a.target.Changed = true
	return nil
}

// addAlias declares --alias as a hidden second name of the flag target.
func addAlias(fs *pflag.FlagSet, alias, target string) {
	t := fs.Lookup(target)
	fs.Var(aliasValue{t.Value, t}, alias, "alias of --"+target)
	_ = fs.MarkHidden(alias)
}

// probeGridFile is the embedded grid that fills probe flags not given: the
// built-in synthetic model's own grid, the quick grid, or the reference's.
func probeGridFile(quick, synthetic bool) string {
	switch {
	case synthetic:
		return "probes-synth.yaml"
	case quick:
		return "probes-quick.yaml"
	}
	return "probes.yaml"
}

// applyEmbeddedDefaults fills every flag that the command line, the
// environment and --config left unset from the embedded configs/<name>,
// whose keys are flag names (YAML lists fill list flags). The flags stay
// unchanged in pflag's sense: a default is not the user's choice.
func applyEmbeddedDefaults(flags *pflag.FlagSet, name string) error {
	data, err := configs.Read(name)
	if err != nil {
		return err
	}
	var values map[string]any
	if err := yaml.Unmarshal(data, &values); err != nil {
		return fmt.Errorf("configs/%s: %w", name, err)
	}
	for key, val := range values {
		f := flags.Lookup(key)
		if f == nil || f.Changed {
			continue
		}
		if err := setFlag(f, val); err != nil {
			return fmt.Errorf("configs/%s: %s: %w", name, key, err)
		}
		f.Changed = false
	}
	return nil
}

// probeInputs are the resolved inputs of needle.Build: everything but the
// tokenizer, so bad settings fail before a model or tokenizer is loaded.
type probeInputs struct {
	spec         needle.Spec
	grid         needle.Grid
	needles      []needle.Needle
	needlesName  string // "generated" or the needles file's base name
	haystack     string
	haystackName string // "generated" or the haystack's base name
	template     needle.Template
	autoTemplate bool // template comes from the tokenizer's chat template
	addSpecial   bool
	compat       needle.Compat
	warnings     []string // what build found the user should know (template fallbacks)
}

// printWarnings writes build's warnings, one line each.
func (in *probeInputs) printWarnings(w io.Writer) {
	for _, msg := range in.warnings {
		fmt.Fprintf(w, "compresskv: warning: %s\n", msg)
	}
}

// resolve checks the probe flags and loads the needles and the haystack.
// Bad values are usage errors naming the flag.
func (pf *probeFlags) resolve() (*probeInputs, error) {
	sp := pf.Spec
	in := &probeInputs{spec: sp, addSpecial: pf.AddSpecial}
	if pf.style == calibrationFlags && (len(sp.Lengths) == 0 || len(sp.Depths) == 0) {
		return nil, usagef("--%s and --%s: want at least one value each", pf.name("lengths"), pf.name("depths"))
	}
	var err error
	if in.grid, err = sp.Grid(); err != nil {
		return nil, usagef("probe grid: %v", err)
	}
	if in.compat, err = needle.ParseCompat(pf.Compat); err != nil {
		return nil, usagef("--compat: %v", err)
	}
	if pf.Template == "auto" {
		in.autoTemplate = true
	} else if in.template, err = needle.TemplateFor(pf.Template); err != nil {
		return nil, usagef("--%s: %v", pf.name("template"), err)
	}
	if in.compat == needle.CompatReference {
		// The reference feeds Llama-3.1 and Mistral-v0.3 the raw prompt,
		// always with the tokenizer's BOS.
		if !in.autoTemplate && in.template.Name != "raw" {
			return nil, usagef("--compat reference builds the reference's raw prompt: --%s %s is not the reference's", pf.name("template"), in.template.Name)
		}
		if !in.addSpecial {
			return nil, usagef("--compat reference always adds the BOS token, as the reference does: drop --add-special=false")
		}
	}
	if in.needles, in.needlesName, err = sp.NeedleSet(); err != nil {
		if sp.Needles == "" {
			return nil, usagef("--needles-count: %v", err)
		}
		return nil, err
	}
	if in.haystack, in.haystackName, err = sp.HaystackText(in.grid.MaxLength()); err != nil {
		return nil, err
	}
	return in, nil
}

// build makes the probes, in grid order, with the positions that gave none.
func (in *probeInputs) build(tok *tokenizer.Tokenizer) ([]needle.Probe, []needle.Skip, error) {
	if in.autoTemplate {
		// The family of the tokenizer's own chat template; raw without one.
		var err error
		if in.template, err = needle.TemplateFor(needle.DetectTemplateText(tok.ChatTemplate())); err != nil {
			return nil, nil, err
		}
	}
	in.warnings = needle.TemplateWarnings(in.template, in.autoTemplate, tok.ChatTemplate(), func(piece string) bool {
		_, ok := tok.TokenID(piece)
		return ok
	})
	return needle.Build(tok, in.haystack, in.needles, needle.Settings{
		Grid: in.grid, Template: in.template, AddSpecial: in.addSpecial, Compat: in.compat,
		NeedleSeed: in.spec.NeedleSeed, HaystackSeed: in.spec.Seed,
	})
}

// buildSome is build for commands that run the probes: a grid that gives
// no probe at all is an error naming the first reason.
func (in *probeInputs) buildSome(tok *tokenizer.Tokenizer) ([]needle.Probe, []needle.Skip, error) {
	probes, skips, err := in.build(tok)
	if err == nil && len(probes) == 0 {
		reason := "none"
		if len(skips) > 0 {
			reason = skips[0].Reason
		}
		err = fmt.Errorf("no probe could be built (%d skipped; first reason: %s)", len(skips), reason)
	}
	return probes, skips, err
}

// buildToRun builds the probes of a command that runs them on a model of
// context tokens with up to maxNew generated each: a grid that cannot fit
// is refused before any prompt is built (which takes a while for a long
// grid), the build's warnings go to warn, and built prompts that do not
// fit are refused too (exit 2).
func (in *probeInputs) buildToRun(tok *tokenizer.Tokenizer, maxNew, context int, warn io.Writer) ([]needle.Probe, []needle.Skip, error) {
	if err := profile.CheckGrid(in.grid.ContextLengths, maxNew, context); err != nil {
		return nil, nil, usagef("%v; lower --max-length or --lengths", err)
	}
	probes, skips, err := in.buildSome(tok)
	in.printWarnings(warn)
	if err != nil {
		return nil, nil, err
	}
	if err := profile.CheckFit(probes, maxNew, context); err != nil {
		return nil, nil, usagef("%v; lower --max-length or --lengths", err)
	}
	return probes, skips, nil
}

// info is the probe provenance a profile records (call after build).
func (in *probeInputs) info() schema.ProbeInfo {
	info := schema.ProbeInfo{
		Template: in.template.Name, Haystack: in.haystackName, HaystackSeed: in.spec.Seed,
		Needles: in.needlesName, NeedleSeed: in.spec.NeedleSeed, NeedleCount: len(in.needles),
		ContextLengths: in.grid.ContextLengths, Depths: in.grid.Depths, Buffer: in.grid.Buffer,
		Compat: in.compat.String(),
	}
	if in.template.Name == "custom" {
		info.Template = in.template.Text
	}
	if in.spec.Haystack != "" && in.spec.Haystack != "generated" && in.spec.Haystack != needle.TolstoyHaystack {
		info.HaystackSHA256 = needle.ContentHash(in.haystack)
	}
	if in.spec.Needles != "" {
		info.NeedlesSHA256 = needle.NeedlesHash(in.needles)
	}
	return info
}

// defaultsSource is an embedded config file whose values fill unset flags,
// and when it applies ("" for always).
type defaultsSource struct {
	file, when string
}

// The embedded defaults of the probe grid flags, by when they apply.
var gridDefaults = []defaultsSource{
	{"probes.yaml", ""},
	{"probes-quick.yaml", "--quick"},
	{"probes-synth.yaml", "built-in model"},
}

// embeddedConfigs caches the embedded config files as parsed YAML, by file
// name: every command's flag help describes them, and each invocation (and
// each execution of the --config fuzzer) builds every command anew.
var embeddedConfigs sync.Map // string -> map[string]any

// embeddedConfig returns the embedded config file parsed, or nil when it is
// missing or does not parse (configs_test checks every file is there and
// parses). The map is shared: callers must not change it.
func embeddedConfig(file string) map[string]any {
	if m, ok := embeddedConfigs.Load(file); ok {
		return m.(map[string]any)
	}
	var m map[string]any
	if data, err := configs.Read(file); err == nil && yaml.Unmarshal(data, &m) != nil {
		m = nil
	}
	embeddedConfigs.Store(file, m)
	return m
}

// describeEmbeddedDefaults appends to the help text of every flag that an
// embedded config file fills the value it gets there, e.g. "(default 1000;
// --quick: 256; built-in model: 256)". The flags themselves are declared
// with zero defaults so that the YAML stays the one source of the values,
// and help would otherwise show none.
func describeEmbeddedDefaults(fs *pflag.FlagSet, sources []defaultsSource) {
	values := map[string][]string{} // flag -> value per source ("" when the file has none)
	for i, src := range sources {
		for key, val := range embeddedConfig(src.file) {
			if fs.Lookup(key) == nil {
				continue
			}
			if values[key] == nil {
				values[key] = make([]string, len(sources))
			}
			values[key][i] = yamlValueText(val)
		}
	}
	for name, vals := range values {
		f := fs.Lookup(name)
		var parts []string
		for i, v := range vals {
			switch {
			case v == "":
			case sources[i].when == "" && v == f.DefValue:
				// pflag prints a non-zero declared default itself.
			case sources[i].when == "":
				parts = append(parts, "default "+v)
			case v != vals[0]:
				parts = append(parts, sources[i].when+": "+v)
			}
		}
		if len(parts) > 0 {
			f.Usage += " (" + strings.Join(parts, "; ") + ")"
		}
	}
}

// yamlValueText renders a YAML value as it would be typed on the command
// line: lists comma-separated, text quoted when it holds spaces or newlines.
func yamlValueText(v any) string {
	if list, ok := v.([]any); ok {
		parts := make([]string, len(list))
		for i, x := range list {
			parts[i] = fmt.Sprint(x)
		}
		return strings.Join(parts, ",")
	}
	s := fmt.Sprint(v)
	if strings.ContainsAny(s, " \n\t") {
		return fmt.Sprintf("%q", s)
	}
	return s
}
