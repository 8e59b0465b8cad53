package synth

// The vocabulary of the synthetic tokenizer: every word below becomes one
// byte-level BPE token (after a space, and capitalised where listed), so
// prompts built from the needle package's generated needles and haystack,
// and most everyday English, encode to whole words. Any other text still
// encodes, as shorter pieces down to single bytes.
//
// needleWords are copied from the needle package's generators (entities,
// prose lists, templates); synth sits below needle and must not import it.
// A word missing here costs nothing but longer tokenisations.

// commonWords are frequent English words, lower case, used after a space.
var commonWords = []string{
	// function words
	"the", "of", "and", "to", "a", "in", "is", "it", "you", "that", "he", "was", "for", "on", "are", "with",
	"as", "his", "they", "be", "at", "one", "have", "this", "from", "or", "had", "by", "not", "but", "what",
	"all", "were", "we", "when", "your", "can", "said", "there", "use", "an", "each", "which", "she", "do",
	"how", "their", "if", "will", "up", "other", "about", "out", "many", "then", "them", "these", "so",
	"some", "her", "would", "make", "like", "him", "into", "time", "has", "look", "two", "more", "write",
	"go", "see", "number", "no", "way", "could", "people", "my", "than", "first", "water", "been", "call",
	"who", "its", "now", "find", "long", "down", "day", "did", "get", "come", "made", "may", "part", "over",
	"new", "after", "also", "any", "because", "before", "between", "both", "even", "every", "few", "here",
	"just", "less", "much", "must", "never", "only", "our", "own", "same", "should", "since", "still",
	"such", "those", "through", "too", "under", "until", "upon", "very", "where", "while", "why", "yet",
	"again", "against", "almost", "already", "although", "always", "among", "another", "away", "back",
	"being", "below", "does", "done", "during", "enough", "ever", "far", "however", "least", "near", "nothing",
	"often", "once", "perhaps", "quite", "rather", "something", "soon", "then", "though", "together",
	"toward", "well", "whether", "whose", "without", "yes", "me", "us", "i", "am", "off", "per", "via",
	// nouns
	"man", "woman", "men", "women", "child", "children", "boy", "girl", "father", "mother", "brother",
	"sister", "son", "daughter", "family", "friend", "friends", "house", "home", "room", "door", "window",
	"table", "chair", "bed", "floor", "wall", "road", "street", "city", "town", "village", "country", "world",
	"land", "sea", "river", "lake", "mountain", "hill", "forest", "tree", "trees", "field", "garden",
	"flower", "grass", "stone", "rock", "sky", "sun", "moon", "star", "stars", "light", "fire", "air",
	"wind", "rain", "snow", "weather", "morning", "evening", "night", "week", "month", "year", "years",
	"hour", "minute", "moment", "life", "death", "war", "peace", "army", "soldier", "soldiers", "officer",
	"general", "king", "queen", "prince", "princess", "count", "emperor", "horse", "horses", "dog", "cat",
	"bird", "fish", "food", "bread", "milk", "tea", "wine", "money", "work", "job", "business", "school",
	"book", "books", "letter", "letters", "word", "words", "name", "story", "thing", "things", "place",
	"hand", "hands", "head", "face", "eyes", "eye", "voice", "heart", "mind", "body", "feet", "foot",
	"question", "answer", "idea", "reason", "fact", "truth", "power", "state", "government", "society",
	"group", "company", "system", "problem", "side", "end", "point", "line", "case", "kind", "sort", "order",
	"car", "ship", "boat", "train", "station", "market", "shop", "church", "office", "castle", "palace",
	"code", "secret", "key", "door", "box", "bag", "coat", "hat", "dress", "shoes", "paper", "pen", "music",
	"song", "dance", "game", "party", "dinner", "supper", "breakfast", "lunch", "kitchen", "window",
	// verbs
	"said", "went", "came", "saw", "knew", "took", "gave", "told", "thought", "felt", "looked", "asked",
	"began", "seemed", "left", "turned", "called", "tried", "wanted", "kept", "held", "stood", "sat",
	"walked", "ran", "heard", "found", "put", "brought", "became", "let", "got", "spoke", "answered",
	"replied", "smiled", "laughed", "cried", "opened", "closed", "wrote", "read", "lived", "loved", "knows",
	"know", "think", "take", "give", "tell", "feel", "ask", "seem", "leave", "turn", "keep", "hold",
	"stand", "sit", "walk", "run", "hear", "bring", "speak", "open", "close", "live", "love", "want",
	"need", "help", "show", "play", "move", "pay", "meet", "buy", "sell", "eat", "drink", "sleep", "wait",
	"watch", "learn", "change", "follow", "stop", "create", "remember", "understand", "believe", "happen",
	"carry", "build", "stay", "fall", "reach", "win", "lose", "send", "pass", "grow", "begin", "was",
	"is", "are", "be", "been", "have", "has", "had", "do", "did", "made", "make", "going", "coming",
	"looking", "saying", "thinking", "getting", "being", "having",
	// adjectives
	"good", "great", "little", "old", "young", "big", "small", "large", "high", "low", "long", "short",
	"new", "last", "next", "early", "late", "important", "public", "bad", "same", "able", "best", "better",
	"right", "wrong", "true", "false", "whole", "full", "empty", "free", "dark", "bright", "white", "black",
	"red", "green", "blue", "yellow", "brown", "grey", "gray", "golden", "silver", "cold", "warm", "hot",
	"happy", "sad", "strong", "weak", "rich", "poor", "beautiful", "quiet", "loud", "deep", "open", "dear",
	"fine", "real", "sure", "clear", "certain", "possible", "simple", "easy", "hard", "heavy", "soft",
	// numbers and time words
	"two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "hundred", "thousand",
	"second", "third", "half", "today", "tomorrow", "yesterday", "now", "later", "never", "always",
}

// startWords are also tokenised capitalised, as they begin sentences.
var startWords = []string{
	"The", "A", "An", "It", "He", "She", "They", "We", "I", "In", "On", "At", "But", "And", "This", "That",
	"There", "What", "When", "Where", "Who", "How", "Why", "As", "After", "Before", "If", "So", "Then",
	"His", "Her", "My", "Our", "Their", "Your", "One", "No", "Yes", "All", "Some", "For", "From", "By",
	"With", "Not", "Is", "Was", "Do", "You", "Based", "Question", "Answer", "Later", "Meanwhile", "Once",
	"Around", "Nobody", "Everyone", "Such", "Those", "Sunday", "Prince", "Count", "Princess", "Monday",
}

// needleWords come from the needle package's generators: entity pools,
// prose lists and prompt templates (proper nouns keep their capitals).
var needleWords = []string{
	// entities
	"Amber", "Cobalt", "Crimson", "Silver", "Golden", "Emerald", "Ivory", "Scarlet", "Obsidian", "Copper",
	"Azure", "Violet", "Saffron", "Jade", "Coral", "Onyx", "Indigo", "Russet", "Teal", "Pewter",
	"Harbor", "Ridge", "Hollow", "Meadow", "Summit", "Lagoon", "Canyon", "Grove", "Marsh", "Delta", "Fjord",
	"Bluff", "Glade", "Prairie", "Mesa", "Atoll", "Tundra", "Basin", "Cove", "Plateau",
	"archive", "observatory", "lighthouse", "library", "museum", "greenhouse", "workshop", "vault",
	"laboratory", "boathouse", "monastery", "depot",
	"Zorvath", "Quellmire", "Brindleport", "Kestrava", "Tovanis", "Ulmbridge", "Varnholt", "Yssel",
	"Drezmont", "Calloway", "Bay", "Pellinore", "Orsk", "Falls", "Thessaly", "Point", "Marrowgate",
	"Silvanport", "Eldmoor",
	"eat", "plum", "tart", "watch", "ferries", "fly", "paper", "kite", "from", "pier", "ride", "cable",
	"tram", "top", "swim", "cold", "spring", "dawn", "play", "chess", "clockmaker", "buy", "smoked", "fish",
	"night", "market", "paint", "blue", "rooftops", "sunset", "climb", "bell", "tower", "windy", "day",
	"listen", "brass", "band", "square", "row", "boat", "across", "quiet", "lake", "taste", "honey",
	"cakes", "baker", "read", "poems", "lantern", "garden",
	"Ilsa", "Tobiah", "Marguerite", "Oswin", "Priya", "Lorcan", "Anouk", "Bertil", "Cosima", "Dashiell",
	"Eulalie", "Fenwick", "Greer", "Hamish", "Isolde", "Jasper",
	"Quarrington", "Vellacott", "Brightwater", "Okonkwo", "Hale", "Thistlewood", "Marchetti", "Lindqvist",
	"Fairweather", "Castellanos", "Abernathy", "Wolstenholme", "Kowalczyk",
	"keeper", "captain", "curator", "gardener", "cartographer", "ringer", "ferryman", "archivist",
	"glass", "lanterns", "copper", "kettles", "wool", "blankets", "clay", "jars", "keys", "silk",
	"ribbons", "oak", "barrels", "maps",
	"turquoise", "vermilion", "chartreuse", "magenta", "ochre", "lavender", "maroon", "cerulean",
	"umbrella", "bicycle", "teapot", "scarf", "notebook", "rowboat",
	"secret", "code", "best", "thing", "name", "number", "kept", "color", "many",
	// prose of the generated haystack
	"farmer", "teacher", "neighbour", "river", "committee", "traveller", "village", "engineer",
	"shopkeeper", "brother", "students", "wind", "doctor", "family", "small", "dog", "writer", "council",
	"stranger", "children", "orchestra", "company", "train", "mountain", "road", "printer",
	"remembered", "carried", "watched", "described", "repaired", "noticed", "followed", "explained",
	"visited", "painted", "measured", "collected", "discussed", "crossed", "questioned", "borrowed",
	"finished", "opened", "sorted", "counted", "praised", "ignored", "studied", "welcomed", "delivered",
	"planned", "cleaned", "built",
	"wooden", "bridge", "harvest", "lessons", "map", "broken", "fence", "song", "winter", "coats",
	"schedule", "apples", "narrow", "street", "chapter", "kitchen", "table", "news", "stone", "wall",
	"annual", "report", "pair", "boots", "clock", "fishing", "nets", "empty", "station", "plate", "bread",
	"school", "yard", "photographs", "rain",
	"slowly", "carefully", "word", "supper", "great", "patience", "autumn", "more", "late", "doubt",
	"hurry", "usual", "quietly", "smile",
	"weather", "changed", "nobody", "asked", "others", "asleep", "roads", "wet", "bells", "rang",
	"distance", "lamps", "lit", "would", "done", "time", "though", "already", "meeting", "guests",
	"arrived", "light", "began", "fade", "kettle", "boiled",
	"those", "morning", "while", "spring", "most", "days", "end", "afterwards", "noon", "long",
	"ordinary", "much", "air", "smelled", "agreed", "fair", "seemed", "right", "went", "before", "say",
	"happened", "often", "town", "result", "surprised",
	// templates
	"content", "book", "question", "answer", "user", "assistant", "helpful", "system",
}

// punctuation are pieces of the Llama 3 split pattern that prose uses a lot.
var punctuation = []string{
	".", ",", "?", "!", ":", ";", "-", "'", "\"", "(", ")", ".\n", "?\n", "!\n", ":\n", ",\n",
	".\n\n", "\n", "\n\n", " \n", " -", " (", " \"", "...", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d",
}
