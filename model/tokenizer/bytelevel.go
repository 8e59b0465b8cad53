package tokenizer

import "unicode/utf8"

// byteToRune is GPT-2's reversible byte -> printable character table used
// by the ByteLevel pre-tokenizer and decoder: printable Latin-1 bytes map to
// themselves, the other 68 bytes to U+0100 upwards in byte order.
var byteToRune [256]rune

// runeToByte inverts byteToRune.
var runeToByte = map[rune]byte{}

// byteToPiece holds byteToRune as UTF-8 strings, so mapping a byte costs no
// allocation.
var byteToPiece [256]string

func init() {
	next := rune(256)
	for b := 0; b < 256; b++ {
		printable := (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
		if printable {
			byteToRune[b] = rune(b)
		} else {
			byteToRune[b] = next
			next++
		}
		runeToByte[byteToRune[b]] = byte(b)
		byteToPiece[b] = string(byteToRune[b])
	}
}

// byteLevelMap appends s with every byte replaced by its GPT-2 character.
func byteLevelMap(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		dst = utf8.AppendRune(dst, byteToRune[s[i]])
	}
	return dst
}

// lossyUTF8 converts bytes to a string the way Rust's
// String::from_utf8_lossy does: every maximal prefix of an ill-formed
// sequence becomes one U+FFFD (so a truncated 4-byte sequence is one
// replacement character, and each stray continuation byte is one).
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b)+8)
	for i := 0; i < len(b); {
		r, w := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || w > 1 {
			out = append(out, b[i:i+w]...)
			i += w
			continue
		}
		i += maximalSubpart(b[i:])
		out = append(out, "\uFFFD"...)
	}
	return string(out)
}

// maximalSubpart returns the length (>= 1) of the longest prefix of b that
// starts a well-formed UTF-8 sequence but does not complete it (Unicode's
// "maximal subpart", replaced by a single U+FFFD).
func maximalSubpart(b []byte) int {
	lo, hi := byte(0x80), byte(0xBF)
	need := 0
	switch c := b[0]; {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c == 0xED:
		need, hi = 2, 0x9F
	case c >= 0xE1 && c <= 0xEF:
		need = 2
	case c == 0xF0:
		need, lo = 3, 0x90
	case c == 0xF4:
		need, hi = 3, 0x8F
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	default:
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(b); k++ {
		if b[n] < lo || b[n] > hi {
			break
		}
		lo, hi = 0x80, 0xBF
		n++
	}
	return n
}
