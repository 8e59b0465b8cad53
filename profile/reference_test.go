package profile

import (
	"strings"
	"testing"

	"github.com/compresskv/compresskv/internal/testshared"
	"github.com/compresskv/compresskv/model/tokenizer"
)

// pieceTokenizer maps ids to pieces; Decode joins pieces, "▁" read as a
// space, the special "</s>" skipped by DecodeSkipSpecial.
type pieceTokenizer struct {
	pieces  []string
	cleanUp bool
}

func (p pieceTokenizer) Encode(string, bool) []int { panic("not used") }
func (p pieceTokenizer) Piece(id int) string       { return p.pieces[id] }
func (p pieceTokenizer) Decode(ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(strings.ReplaceAll(p.pieces[id], "▁", " "))
	}
	return b.String()
}
func (p pieceTokenizer) DecodeSkipSpecial(ids []int) string {
	var keep []int
	for _, id := range ids {
		if p.pieces[id] != "</s>" {
			keep = append(keep, id)
		}
	}
	return p.Decode(keep)
}
func (p pieceTokenizer) CleanUpTokenizationSpaces() bool { return p.cleanUp }

func TestReferenceStop(t *testing.T) {
	pieces := make([]string, 200)
	pieces[2], pieces[13], pieces[198], pieces[144] = "</s>", "<0x0A>", "Ċ", "x"
	tok := pieceTokenizer{pieces: pieces}
	for id, want := range map[int]bool{13: true, 144: true, 198: false, 2: false} {
		if got := referenceStop(tok, id); got != want {
			t.Errorf("referenceStop(%d, piece %q) = %v, want %v", id, pieces[id], got, want)
		}
	}
	// Real tokenizers: Mistral's newline is the byte piece <0x0A> (13);
	// Llama 3's "\n" (198, "Ċ") is not, so its probes never stop early.
	for name, want := range map[string]bool{"mistral": true, "llama3": false} {
		tk, err := tokenizer.Load(testshared.Require(t, "tokenizers/"+name))
		if err != nil {
			t.Fatal(err)
		}
		ids := tk.Encode("\n", false)
		nl := ids[len(ids)-1]
		if got := referenceStop(tk, nl); got != want {
			t.Errorf("%s: referenceStop(newline %d %q) = %v, want %v", name, nl, tk.Piece(nl), got, want)
		}
	}
}

func TestDecodeResponse(t *testing.T) {
	pieces := []string{"</s>", "▁Hello", "▁,", "▁world", "▁.", "▁", "\x1f"}
	ids := []int{5, 1, 2, 3, 4, 0, 6}
	for _, tt := range []struct {
		cleanUp, reference bool
		want               string
	}{
		{false, false, "Hello , world .\x1f"},
		{true, false, "Hello , world .\x1f"}, // default mode never cleans up
		{false, true, "Hello , world ."},     // Python's strip() also strips U+001F
		{true, true, "Hello, world."},
	} {
		if got := decodeResponse(pieceTokenizer{pieces: pieces, cleanUp: tt.cleanUp}, ids, tt.reference); got != tt.want {
			t.Errorf("clean-up %v, reference %v: %q, want %q", tt.cleanUp, tt.reference, got, tt.want)
		}
	}
}
