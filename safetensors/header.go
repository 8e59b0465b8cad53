package safetensors

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf8"
)

// MaxHeaderSize caps the JSON header length, as the reference Rust
// implementation does: a bigger length is a corrupt or hostile file.
const MaxHeaderSize = 100_000_000

// metadataKey is the header key holding the string-to-string metadata.
const metadataKey = "__metadata__"

// header is the validated content of a safetensors header.
type header struct {
	dataStart int64 // 8 + the header length: file offset of the data area
	metadata  map[string]string
	infos     []TensorInfo // sorted by name
}

// parseHeader validates a whole safetensors file held in data (its mapping)
// and returns its header. path names the file in errors. Every rule of the
// format is checked: the tensors must cover the data area exactly.
func parseHeader(path string, data []byte) (*header, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("%s: file is %d bytes, shorter than the 8-byte header length prefix", path, len(data))
	}
	n := binary.LittleEndian.Uint64(data[:8])
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("%s: header length %d exceeds the %d-byte limit", path, n, MaxHeaderSize)
	}
	if n > uint64(len(data)-8) {
		return nil, fmt.Errorf("%s: header length %d runs past the end of the file (%d bytes after the length prefix)", path, n, len(data)-8)
	}
	raw := data[8 : 8+n]
	h := &header{dataStart: 8 + int64(n)}
	if !utf8.Valid(raw) {
		return nil, fmt.Errorf("%s: header is not valid UTF-8", path)
	}
	if err := h.decode(path, raw); err != nil {
		return nil, err
	}
	if err := h.checkCoverage(path, int64(len(data))-h.dataStart); err != nil {
		return nil, err
	}
	slices.SortFunc(h.infos, func(a, b TensorInfo) int { return cmp.Compare(a.Name, b.Name) })
	return h, nil
}

// syntaxError is a JSON syntax error met anywhere in the header; it is
// reported the same way wherever the decoder was.
type syntaxError struct {
	offset int64
	err    error
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("not valid JSON (near byte %d): %v", e.offset, e.err)
}

// token reads the next JSON token, marking a failure as a syntax error.
func token(dec *json.Decoder) (json.Token, error) {
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, &syntaxError{dec.InputOffset(), err}
	}
	return tok, nil
}

// skipValue skips one JSON value of any kind.
func skipValue(dec *json.Decoder) error {
	var skip json.RawMessage
	if err := dec.Decode(&skip); err != nil {
		return &syntaxError{dec.InputOffset(), err}
	}
	return nil
}

// decode walks the JSON header token by token: encoding/json's map decoding
// would silently keep the last of two equal keys, and a duplicate tensor name
// must be an error.
func (h *header) decode(path string, raw []byte) error {
	err := h.decodeTokens(path, raw)
	var se *syntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%s: header is %v", path, se)
	}
	return err
}

func (h *header) decodeTokens(path string, raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := token(dec)
	if err != nil {
		return err
	}
	if tok != json.Delim('{') {
		return fmt.Errorf("%s: header is not a JSON object (starts with %v)", path, describeToken(tok))
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := token(dec)
		if err != nil {
			return err
		}
		name, _ := tok.(string) // object keys are always strings
		if seen[name] {
			if name == metadataKey {
				return fmt.Errorf("%s: %s appears twice in the header", path, metadataKey)
			}
			return fmt.Errorf("%s: tensor %q: duplicate name: appears twice in the header", path, name)
		}
		seen[name] = true
		if name == metadataKey {
			if h.metadata, err = decodeMetadata(path, dec); err != nil {
				return err
			}
			continue
		}
		info, err := decodeTensorInfo(path, name, dec)
		if err != nil {
			return err
		}
		h.infos = append(h.infos, info)
	}
	if _, err := token(dec); err != nil { // the closing '}'
		return err
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return &syntaxError{dec.InputOffset(), err}
		}
		return fmt.Errorf("%s: header has data after its JSON object (%v); only space padding may follow", path, describeToken(tok))
	}
	return nil
}

// describeToken renders a JSON token for an error message.
func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		return fmt.Sprintf("%q", string(v))
	case string:
		return fmt.Sprintf("string %q", v)
	case json.Number:
		return "number " + string(v)
	case bool:
		return fmt.Sprintf("boolean %v", v)
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}

// decodeMetadata reads the "__metadata__" value: an object of strings, or
// null.
func decodeMetadata(path string, dec *json.Decoder) (map[string]string, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s is not a map of strings to strings: "+format, append([]any{path, metadataKey}, args...)...)
	}
	tok, err := token(dec)
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return nil, nil
	}
	if tok != json.Delim('{') {
		return nil, bad("found %s", describeToken(tok))
	}
	meta := map[string]string{}
	for dec.More() {
		tok, err := token(dec)
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		tok, err = token(dec)
		if err != nil {
			return nil, err
		}
		value, ok := tok.(string)
		if !ok {
			return nil, bad("value of %q is %s", key, describeToken(tok))
		}
		if _, dup := meta[key]; dup {
			return nil, bad("key %q appears twice", key)
		}
		meta[key] = value
	}
	if _, err := token(dec); err != nil {
		return nil, err
	}
	return meta, nil
}

// decodeTensorInfo reads one tensor entry
// {"dtype": "BF16", "shape": [512, 64], "data_offsets": [0, 65536]} and
// checks it on its own (coverage is checked once all entries are known).
// Unknown keys are skipped, as the reference implementation does.
func decodeTensorInfo(path, name string, dec *json.Decoder) (TensorInfo, error) {
	info := TensorInfo{Name: name}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: tensor %q: "+format, append([]any{path, name}, args...)...)
	}
	tok, err := token(dec)
	if err != nil {
		return info, err
	}
	if tok != json.Delim('{') {
		return info, bad("entry is %s, want an object with dtype, shape and data_offsets", describeToken(tok))
	}
	var haveDType, haveShape, haveOffsets bool
	var offsets []int64
	for dec.More() {
		tok, err := token(dec)
		if err != nil {
			return info, err
		}
		key, _ := tok.(string)
		switch key {
		case "dtype", "shape", "data_offsets":
			if (key == "dtype" && haveDType) || (key == "shape" && haveShape) || (key == "data_offsets" && haveOffsets) {
				return info, bad("key %q appears twice in the entry", key)
			}
		}
		switch key {
		case "dtype":
			haveDType = true
			tok, err := token(dec)
			if err != nil {
				return info, err
			}
			s, ok := tok.(string)
			if !ok {
				return info, bad("dtype is %s, want a string", describeToken(tok))
			}
			d, ok := ParseDType(s)
			if !ok {
				return info, bad("unknown dtype %q", s)
			}
			info.DType = d
		case "shape":
			haveShape = true
			dims, err := decodeInts(dec)
			if err != nil {
				return info, wrapUnlessSyntax(err, bad, "shape")
			}
			info.Shape = make([]int, len(dims))
			for i, d := range dims {
				if d < 0 {
					return info, bad("negative dimension %d in shape %v", d, dims)
				}
				if uint64(d) > math.MaxInt {
					return info, bad("dimension %d in shape %v does not fit in an int", d, dims)
				}
				info.Shape[i] = int(d)
			}
		case "data_offsets":
			haveOffsets = true
			if offsets, err = decodeInts(dec); err != nil {
				return info, wrapUnlessSyntax(err, bad, "data_offsets")
			}
		default:
			if err := skipValue(dec); err != nil {
				return info, err
			}
		}
	}
	if _, err := token(dec); err != nil {
		return info, err
	}
	switch {
	case !haveDType:
		return info, bad("entry is missing \"dtype\"")
	case !haveShape:
		return info, bad("entry is missing \"shape\"")
	case !haveOffsets:
		return info, bad("entry is missing \"data_offsets\"")
	case len(offsets) != 2:
		return info, bad("data_offsets has %d numbers, want [begin, end]", len(offsets))
	case offsets[0] < 0 || offsets[1] < 0:
		return info, bad("negative data_offsets %v", offsets)
	case offsets[0] > offsets[1]:
		return info, bad("data_offsets [%d, %d] are reversed (begin after end)", offsets[0], offsets[1])
	}
	info.Begin, info.End = offsets[0], offsets[1]
	size, ok := byteSize(info.DType, info.Shape)
	if !ok {
		return info, bad("shape %v of %s overflows: its byte size does not fit in 63 bits", info.Shape, info.DType)
	}
	if got := info.End - info.Begin; got != size {
		return info, bad("data_offsets [%d, %d] span %d bytes, but %s %v needs %d (size mismatch)", info.Begin, info.End, got, info.DType, info.Shape, size)
	}
	return info, nil
}

// wrapUnlessSyntax passes syntax errors through unchanged (they are reported
// once, the same way everywhere) and wraps the others with what was read.
func wrapUnlessSyntax(err error, bad func(string, ...any) error, what string) error {
	var se *syntaxError
	if errors.As(err, &se) {
		return err
	}
	return bad("%s: %v", what, err)
}

// decodeInts reads a JSON array of integers. Each element is one token, so
// the slice grows only with real header bytes.
func decodeInts(dec *json.Decoder) ([]int64, error) {
	tok, err := token(dec)
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('[') {
		return nil, fmt.Errorf("found %s, want an array of integers", describeToken(tok))
	}
	var out []int64
	for dec.More() {
		tok, err := token(dec)
		if err != nil {
			return nil, err
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, fmt.Errorf("element %d is %s, want an integer", len(out), describeToken(tok))
		}
		v, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return nil, fmt.Errorf("element %d (%s) overflows 64 bits", len(out), num)
			}
			return nil, fmt.Errorf("element %d (%s) is not an integer", len(out), num)
		}
		out = append(out, v)
	}
	if _, err := token(dec); err != nil {
		return nil, err
	}
	return out, nil
}

// byteSize returns product(shape)*ElemSize, or false when it overflows
// int64.
func byteSize(d DType, shape []int) (int64, bool) {
	size := uint64(d.ElemSize())
	for _, dim := range shape {
		hi, lo := bits.Mul64(size, uint64(dim))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, false
		}
		size = lo
	}
	return int64(size), true
}

// checkCoverage checks that the tensors tile the data area [0, dataLen)
// exactly: no tensor past the end, no two overlapping, no gap, nothing left
// over. Sorting by offsets puts each tensor next to the one it could overlap.
func (h *header) checkCoverage(path string, dataLen int64) error {
	byOffset := slices.Clone(h.infos)
	slices.SortFunc(byOffset, func(a, b TensorInfo) int {
		if a.Begin != b.Begin {
			return cmp.Compare(a.Begin, b.Begin)
		}
		if a.End != b.End {
			return cmp.Compare(a.End, b.End)
		}
		return cmp.Compare(a.Name, b.Name)
	})
	for _, t := range byOffset {
		if t.End > dataLen {
			return fmt.Errorf("%s: tensor %q: data_offsets [%d, %d] end past the data area (%d bytes)", path, t.Name, t.Begin, t.End, dataLen)
		}
	}
	var covered int64
	prev := ""
	for _, t := range byOffset {
		if t.Begin < covered {
			return fmt.Errorf("%s: tensor %q: data_offsets [%d, %d] overlap tensor %q, which ends at %d", path, t.Name, t.Begin, t.End, prev, covered)
		}
		if t.Begin > covered {
			return fmt.Errorf("%s: tensor %q: gap: bytes [%d, %d) of the data area before it belong to no tensor", path, t.Name, covered, t.Begin)
		}
		covered, prev = t.End, t.Name
	}
	if covered != dataLen {
		return fmt.Errorf("%s: data area not fully covered: its last %d bytes (from offset %d) belong to no tensor", path, dataLen-covered, covered)
	}
	return nil
}
