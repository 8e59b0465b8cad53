package needle

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
)

// Needle is one fact to hide in a haystack and the question that asks for it.
type Needle struct {
	ID       string // stable identifier ("gen-<seed>-<i>", or from the JSONL)
	Needle   string // the sentence inserted into the haystack
	Question string // the question asked after the context
	Answer   string // the part of Needle the response must recall (the reference's real_needle)
	Prefix   string // Needle's words before Answer, for the answer-prefix template; may be ""
}

// needleLine is one line of the reference's needles.jsonl.
type needleLine struct {
	ID         string  `json:"id"`
	Needle     *string `json:"needle"`
	Question   *string `json:"question"`
	RealNeedle *string `json:"real_needle"`
	Prefix     string  `json:"prefix"`
}

// LoadNeedles reads needles from a JSONL file with the reference's fields
// needle, question and real_needle (plus optional id and prefix). Blank
// lines are ignored; a needle without id gets "<file line number>".
func LoadNeedles(path string) ([]Needle, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("needles: %w", err)
	}
	return parseNeedles(path, data)
}

func parseNeedles(path string, data []byte) ([]Needle, error) {
	var needles []Needle
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var nl needleLine
		if err := json.Unmarshal(text, &nl); err != nil {
			return nil, fmt.Errorf("%s:%d: want a JSON object with needle, question, real_needle: %v", path, line, err)
		}
		switch {
		case nl.Needle == nil || strings.TrimSpace(*nl.Needle) == "":
			return nil, fmt.Errorf("%s:%d: missing or empty field \"needle\"", path, line)
		case nl.Question == nil || strings.TrimSpace(*nl.Question) == "":
			return nil, fmt.Errorf("%s:%d: missing or empty field \"question\"", path, line)
		case nl.RealNeedle == nil || strings.TrimSpace(*nl.RealNeedle) == "":
			return nil, fmt.Errorf("%s:%d: missing or empty field \"real_needle\" (the answer)", path, line)
		}
		id := nl.ID
		if id == "" {
			id = fmt.Sprintf("line-%d", line)
		}
		needles = append(needles, Needle{ID: id, Needle: *nl.Needle, Question: *nl.Question, Answer: *nl.RealNeedle, Prefix: nl.Prefix})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, line+1, err)
	}
	if len(needles) == 0 {
		return nil, fmt.Errorf("%s: no needles (want JSONL lines with needle, question, real_needle)", path)
	}
	seen := map[string]int{}
	for i, n := range needles {
		if j, ok := seen[n.ID]; ok {
			return nil, fmt.Errorf("%s: needle id %q used twice (needles %d and %d)", path, n.ID, j+1, i+1)
		}
		seen[n.ID] = i
	}
	return needles, nil
}

// Entity pools for generated needles. They avoid words of the generated
// haystack and common names of the classic novels used as haystacks, so
// that an answer occurs in a prompt only where the needle put it.
var (
	needleAdjectives = []string{"Amber", "Cobalt", "Crimson", "Silver", "Golden", "Emerald", "Ivory", "Scarlet", "Obsidian", "Copper", "Azure", "Violet", "Saffron", "Jade", "Coral", "Onyx", "Indigo", "Russet", "Teal", "Pewter"}
	needlePlaces     = []string{"Harbor", "Ridge", "Hollow", "Meadow", "Summit", "Lagoon", "Canyon", "Grove", "Marsh", "Delta", "Fjord", "Bluff", "Glade", "Prairie", "Mesa", "Atoll", "Tundra", "Basin", "Cove", "Plateau"}
	needleBuildings  = []string{"archive", "observatory", "lighthouse", "library", "museum", "greenhouse", "workshop", "vault", "laboratory", "boathouse", "monastery", "depot"}
	needleCities     = []string{"Zorvath", "Quellmire", "Brindleport", "Kestrava", "Tovanis", "Ulmbridge", "Varnholt", "Yssel", "Drezmont", "Calloway Bay", "Pellinore", "Orsk Falls", "Thessaly Point", "Marrowgate", "Silvanport", "Eldmoor"}
	needleActivities = []string{
		"eat a plum tart and watch the ferries", "fly a paper kite from the old pier", "ride the cable tram to the top of the hill",
		"swim in the cold spring at dawn", "play chess with the clockmaker", "buy smoked fish at the night market",
		"paint the blue rooftops at sunset", "climb the bell tower on a windy day", "listen to the brass band in the square",
		"row a small boat across the quiet lake", "taste the honey cakes of the baker", "read poems in the lantern garden",
	}
	needleFirstNames = []string{"Ilsa", "Tobiah", "Marguerite", "Oswin", "Priya", "Lorcan", "Anouk", "Bertil", "Cosima", "Dashiell", "Eulalie", "Fenwick", "Greer", "Hamish", "Isolde", "Jasper"}
	needleLastNames  = []string{"Quarrington", "Vellacott", "Brightwater", "Okonkwo-Hale", "Thistlewood", "Marchetti", "Lindqvist", "Fairweather", "Castellanos", "Abernathy", "Wolstenholme", "Kowalczyk"}
	needleRoles      = []string{"keeper", "captain", "curator", "gardener", "cartographer", "bell ringer", "ferryman", "archivist"}
	needleItems      = []string{"glass lanterns", "copper kettles", "wool blankets", "clay jars", "brass keys", "silk ribbons", "oak barrels", "paper maps"}
	needleColors     = []string{"turquoise", "vermilion", "chartreuse", "magenta", "ochre", "lavender", "maroon", "cerulean"}
	needleObjects    = []string{"umbrella", "bicycle", "teapot", "scarf", "notebook", "rowboat", "kite", "music box"}
)

// GenerateNeedles returns n needles built from templated facts with random
// entities (places, activities, numbers, codes, names). The same seed gives
// the same needles; different seeds draw different entities, so needle
// sets from different seeds are (almost always) disjoint. IDs are
// "gen-<seed>-<i>".
func GenerateNeedles(seed int64, n int) []Needle {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6e6565646c65)) // "needle"
	pick := func(list []string) string { return list[rng.IntN(len(list))] }
	needles := make([]Needle, 0, max(n, 0))
	for i := 0; i < n; i++ {
		var prefix, answer, question string
		switch rng.IntN(5) {
		case 0:
			place := "the " + pick(needleAdjectives) + " " + pick(needlePlaces) + " " + pick(needleBuildings)
			letters := string([]byte{byte('A' + rng.IntN(26)), byte('A' + rng.IntN(26))})
			answer = fmt.Sprintf("%04d-%s", 1000+rng.IntN(9000), letters)
			prefix = "The secret code of " + place + " is"
			question = "What is the secret code of " + place + "?"
		case 1:
			city := pick(needleCities)
			answer = pick(needleActivities)
			prefix = "The best thing to do in " + city + " is to"
			question = "What is the best thing to do in " + city + "?"
		case 2:
			role := pick(needleRoles)
			place := "the " + pick(needleAdjectives) + " " + pick(needlePlaces)
			answer = pick(needleFirstNames) + " " + pick(needleLastNames)
			prefix = "The name of the " + role + " of " + place + " is"
			question = "What is the name of the " + role + " of " + place + "?"
		case 3:
			items := pick(needleItems)
			place := "the " + pick(needleAdjectives) + " " + pick(needleBuildings)
			answer = fmt.Sprintf("%d", 100+rng.IntN(9900))
			prefix = "The number of " + items + " kept in " + place + " is"
			question = "How many " + items + " are kept in " + place + "?"
		default:
			name := pick(needleFirstNames) + " " + pick(needleLastNames)
			object := pick(needleObjects)
			answer = pick(needleColors)
			prefix = "The color of " + name + "'s " + object + " is"
			question = "What is the color of " + name + "'s " + object + "?"
		}
		needles = append(needles, Needle{
			ID:       fmt.Sprintf("gen-%d-%d", seed, i),
			Needle:   prefix + " " + answer + ".",
			Question: question,
			Answer:   answer,
			Prefix:   prefix,
		})
	}
	return needles
}
