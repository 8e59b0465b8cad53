package interop

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// NumPy .npy format version 1.0 (numpy/lib/format.py): the magic
// "\x93NUMPY", version bytes 1 0, a little-endian uint16 header length,
// then an ASCII Python dict literal padded with spaces and ended by '\n' so
// that the data starts on a multiple of 64 bytes, then the raw data.
const (
	npyMagic       = "\x93NUMPY\x01\x00"
	npyAlign       = 64
	npyGrowthSpace = 21 // numpy's GROWTH_AXIS_MAX_DIGITS: spare room to rewrite shape[0] in place
)

// MarshalNPY encodes a [rows, cols] float64 matrix exactly as NumPy 1.24+
// np.save writes a C-order '<f8' array: the same header bytes (keys
// sorted, numpy's growth padding, 64-byte alignment, including numpy's
// full 64 spaces when the header is already aligned) and the values
// little-endian. Every row must have cols entries.
func MarshalNPY(m [][]float64) ([]byte, error) {
	rows, cols := len(m), 0
	if rows > 0 {
		cols = len(m[0])
	}
	for i, r := range m {
		if len(r) != cols {
			return nil, fmt.Errorf("npy: row %d has %d values, row 0 has %d", i, len(r), cols)
		}
	}
	header := fmt.Sprintf("{'descr': '<f8', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols)
	header += strings.Repeat(" ", max(0, npyGrowthSpace-len(strconv.Itoa(rows))))
	hlen := len(header) + 1 // the final '\n'
	pad := npyAlign - (len(npyMagic)+2+hlen)%npyAlign
	if hlen+pad > math.MaxUint16 {
		return nil, fmt.Errorf("npy: header of %d bytes does not fit format 1.0", hlen+pad)
	}
	var b bytes.Buffer
	b.WriteString(npyMagic)
	_ = binary.Write(&b, binary.LittleEndian, uint16(hlen+pad))
	b.WriteString(header)
	b.WriteString(strings.Repeat(" ", pad))
	b.WriteByte('\n')
	for _, r := range m {
		for _, v := range r {
			_ = binary.Write(&b, binary.LittleEndian, math.Float64bits(v))
		}
	}
	return b.Bytes(), nil
}

var (
	npyDescr   = regexp.MustCompile(`'descr':\s*'([<>|=]?)([fi])(\d)'`)
	npyFortran = regexp.MustCompile(`'fortran_order':\s*(True|False)`)
	npyShape   = regexp.MustCompile(`'shape':\s*\(\s*(\d+)\s*,\s*(\d+)\s*,?\s*\)`)
)

// UnmarshalNPY decodes a 2-D .npy array of float64, float32 or int
// (little-endian, C or Fortran order; format 1.0, 2.0 or 3.0) read from
// the file called name, into [rows][cols] float64.
func UnmarshalNPY(data []byte, name string) ([][]float64, error) {
	if len(data) < 10 || string(data[:6]) != npyMagic[:6] {
		return nil, fmt.Errorf("%s: not a NumPy .npy file (no \\x93NUMPY magic)", name)
	}
	var hlen, start int
	switch data[6] {
	case 1:
		hlen, start = int(binary.LittleEndian.Uint16(data[8:10])), 10
	case 2, 3:
		if len(data) < 12 {
			return nil, fmt.Errorf("%s: truncated .npy header", name)
		}
		hlen, start = int(binary.LittleEndian.Uint32(data[8:12])), 12
	default:
		return nil, fmt.Errorf("%s: .npy format version %d.%d is not supported", name, data[6], data[7])
	}
	if start+hlen > len(data) {
		return nil, fmt.Errorf("%s: truncated .npy header (%d bytes announced, %d in the file)", name, hlen, len(data)-start)
	}
	header := string(data[start : start+hlen])
	d := npyDescr.FindStringSubmatch(header)
	f := npyFortran.FindStringSubmatch(header)
	s := npyShape.FindStringSubmatch(header)
	if d == nil || f == nil || s == nil {
		return nil, fmt.Errorf("%s: .npy header %q: want a 2-D array of floats or ints", name, strings.TrimSpace(header))
	}
	if d[1] == ">" {
		return nil, fmt.Errorf("%s: big-endian .npy arrays are not supported", name)
	}
	size, _ := strconv.Atoi(d[3])
	kind := d[2]
	if !(kind == "f" && (size == 4 || size == 8)) && !(kind == "i" && (size == 4 || size == 8)) {
		return nil, fmt.Errorf("%s: .npy dtype %s%d: want float64, float32, int64 or int32", name, kind, size)
	}
	rows, err1 := strconv.Atoi(s[1])
	cols, err2 := strconv.Atoi(s[2])
	if err1 != nil || err2 != nil || rows > 1<<20 || cols > 1<<20 {
		return nil, fmt.Errorf("%s: .npy shape (%s, %s) is not a plausible head pattern", name, s[1], s[2])
	}
	body := data[start+hlen:]
	if len(body) != rows*cols*size {
		return nil, fmt.Errorf("%s: .npy data is %d bytes, shape (%d, %d) of %d-byte values needs %d", name, len(body), rows, cols, size, rows*cols*size)
	}
	out := make([][]float64, rows)
	for i := range out {
		out[i] = make([]float64, cols)
	}
	for k := range rows * cols {
		raw := body[k*size : k*size+size]
		var v float64
		switch {
		case kind == "f" && size == 8:
			v = math.Float64frombits(binary.LittleEndian.Uint64(raw))
		case kind == "f":
			v = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw)))
		case size == 8:
			v = float64(int64(binary.LittleEndian.Uint64(raw)))
		default:
			v = float64(int32(binary.LittleEndian.Uint32(raw)))
		}
		i, j := k/cols, k%cols
		if f[1] == "True" {
			i, j = k%rows, k/rows
		}
		out[i][j] = v
	}
	return out, nil
}
