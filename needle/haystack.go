package needle

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// LoadHaystack reads the haystack text: a .txt file, or a folder whose .txt
// files are read in name order and concatenated (as the reference reads its
// haystack folder). Build repeats the text when it is too short.
func LoadHaystack(path string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("haystack: %w", err)
	}
	if !info.IsDir() {
		data, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("haystack: %w", err)
		}
		return haystackText(path, data)
	}
	matches, err := filepath.Glob(filepath.Join(path, "*.txt"))
	if err != nil {
		return "", fmt.Errorf("haystack %s: %w", path, err)
	}
	sort.Strings(matches)
	var b strings.Builder
	for _, m := range matches {
		data, err := os.ReadFile(m)
		if err != nil {
			return "", fmt.Errorf("haystack: %w", err)
		}
		b.Write(data)
	}
	if strings.TrimSpace(b.String()) == "" {
		return "", fmt.Errorf("haystack %s: folder holds no non-empty .txt file", path)
	}
	return b.String(), nil
}

// haystackText checks the bytes of a haystack file (named path in errors)
// and returns its text: LoadHaystack's parser, apart from the file system
// so that it can be fuzzed at memory speed.
func haystackText(path string, data []byte) (string, error) {
	if strings.TrimSpace(string(data)) == "" {
		return "", fmt.Errorf("haystack %s: file is empty, want text", path)
	}
	return string(data), nil
}

// tolstoyGz is the opening of Leo Tolstoy's War and Peace (Louise and
// Aylmer Maude's translation, public domain in the USA): its first 160 041
// bytes, cut at a paragraph end. That is more Llama 3 tokens than the
// reference grid's longest context (31 500), so that grid never repeats
// text. Real models read it as the natural prose a haystack should be; it
// is gzip'd so the binary grows by 60 KB, not 160.
//
//go:embed tolstoy.txt.gz
var tolstoyGz []byte

// TolstoyHaystack is the name of the embedded real-text haystack.
const TolstoyHaystack = "tolstoy"

// Tolstoy returns the embedded excerpt of War and Peace (see tolstoyGz).
func Tolstoy() string {
	zr, err := gzip.NewReader(bytes.NewReader(tolstoyGz))
	if err != nil {
		panic("needle: embedded haystack is corrupt: " + err.Error()) // a build defect, not input
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		panic("needle: embedded haystack is corrupt: " + err.Error())
	}
	return string(data)
}

// Word lists of the prose generator. The grammar is small but the
// sentences read as English, which is what a haystack needs: text a model
// reads fluently and in which a planted fact stands out only by meaning.
var (
	proseSubjects = []string{
		"the old farmer", "the young teacher", "my neighbour", "the river", "the committee", "a traveller", "the village",
		"the engineer", "the shopkeeper", "her brother", "the students", "the wind", "the doctor", "our family",
		"the small dog", "the captain", "the writer", "the council", "the baker", "a stranger", "the children",
		"the gardener", "the museum", "the orchestra", "the company", "the train", "the mountain road", "the printer",
	}
	proseVerbs = []string{
		"remembered", "carried", "watched", "described", "repaired", "noticed", "followed", "explained", "visited",
		"painted", "measured", "collected", "discussed", "crossed", "questioned", "borrowed", "finished", "opened",
		"sorted", "counted", "praised", "ignored", "studied", "welcomed", "delivered", "planned", "cleaned", "built",
	}
	proseObjects = []string{
		"the wooden bridge", "a long letter", "the harvest", "the evening lessons", "an old map", "the broken fence",
		"the market square", "a quiet song", "the winter coats", "the new schedule", "a box of apples",
		"the narrow street", "the last chapter", "the kitchen table", "a small garden", "the morning news",
		"the stone wall", "the annual report", "a pair of boots", "the clock tower", "the fishing nets",
		"the empty station", "a plate of bread", "the school yard", "the family photographs", "the rain barrels",
	}
	proseAdverbs = []string{
		"slowly", "carefully", "without a word", "before dawn", "after supper", "with great patience", "again",
		"in the autumn", "every Sunday", "once more", "for the first time", "late at night", "with some doubt",
		"in a hurry", "as usual", "at the end of the week", "quietly", "with a smile",
	}
	proseClauses = []string{
		"because the weather had changed", "although nobody had asked", "while the others were asleep",
		"since the roads were still wet", "as the bells rang in the distance", "when the lamps were lit",
		"so that the work would be done in time", "even though it was already late", "after the long meeting",
		"before the guests arrived", "until the light began to fade", "while the kettle boiled",
	}
	proseOpeners = []string{
		"In those years", "That morning", "Later", "For a while", "Meanwhile", "By the spring", "On most days",
		"In the end", "Once", "Some time afterwards", "Around noon", "Before long",
	}
	proseComments = []string{
		"It was an ordinary day", "Nobody thought much of it", "The air smelled of rain", "Everyone agreed it was fair",
		"It seemed the right thing to do", "The work went on as before", "There was little else to say",
		"Such things happened often then", "The town was quiet", "The result surprised no one",
	}
)

// GenerateHaystack returns about approxChars characters of plausible
// English prose made from the package's word lists and a few sentence
// patterns. It is deterministic for a seed; every sentence ends with ". ",
// so period tokens are frequent, as in real prose.
func GenerateHaystack(seed int64, approxChars int) string {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x686179737461636b)) // "haystack"
	pick := func(list []string) string { return list[rng.IntN(len(list))] }
	var b strings.Builder
	if approxChars <= 0 {
		return ""
	}
	b.Grow(approxChars + 256)
	for b.Len() < approxChars {
		var s string
		switch rng.IntN(6) {
		case 0:
			s = pick(proseSubjects) + " " + pick(proseVerbs) + " " + pick(proseObjects)
		case 1:
			s = pick(proseSubjects) + " " + pick(proseVerbs) + " " + pick(proseObjects) + " " + pick(proseAdverbs)
		case 2:
			s = pick(proseOpeners) + ", " + pick(proseSubjects) + " " + pick(proseVerbs) + " " + pick(proseObjects)
		case 3:
			s = pick(proseSubjects) + " " + pick(proseVerbs) + " " + pick(proseObjects) + " " + pick(proseClauses)
		case 4:
			s = pick(proseComments)
		default:
			s = pick(proseSubjects) + " " + pick(proseVerbs) + " " + pick(proseObjects) + ", and " +
				pick(proseSubjects) + " " + pick(proseVerbs) + " " + pick(proseObjects) + " " + pick(proseAdverbs)
		}
		b.WriteString(strings.ToUpper(s[:1]) + s[1:])
		b.WriteString(". ")
	}
	return b.String()
}

// WithDistractors returns haystack with the sentences of facts inserted,
// in order, after the sentence ends (". ") nearest to evenly spaced points
// of the text: facts of the needle's own form, with other entities and
// answers, that a retrieval head must tell apart from the needle. Past the
// last sentence end a fact goes after the next space.
func WithDistractors(haystack string, facts []Needle) string {
	if len(facts) == 0 || haystack == "" {
		return haystack
	}
	var b strings.Builder
	prev := 0
	for i, f := range facts {
		at := (i + 1) * len(haystack) / (len(facts) + 1)
		if end := strings.Index(haystack[at:], ". "); end >= 0 {
			at += end + 2
		} else if sp := strings.IndexByte(haystack[at:], ' '); sp >= 0 {
			at += sp + 1 // no sentence end left: at least not inside a word
		}
		at = max(at, prev)
		b.WriteString(haystack[prev:at])
		b.WriteString(strings.TrimSpace(f.Needle))
		b.WriteByte(' ')
		prev = at
	}
	b.WriteString(haystack[prev:])
	return b.String()
}
