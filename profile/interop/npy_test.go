package interop

import (
	"bytes"
	"encoding/binary"
	"math"
	"reflect"
	"strings"
	"testing"
)

// TestMarshalNPYBytes checks the bytes np.save (NumPy >= 1.24) writes for
// np.array([[0.5, -1.0, 2.0], [0.0, 1e-300, 3.25]]), spelled out by hand:
// magic, version 1.0, header length 118 (10 + 118 = 128 = 2 x 64), the
// dict, 21 - len("2") = 20 growth spaces, padding to 127, '\n', then six
// little-endian float64s.
func TestMarshalNPYBytes(t *testing.T) {
	m := [][]float64{{0.5, -1, 2}, {0, 1e-300, 3.25}}
	got, err := MarshalNPY(m)
	if err != nil {
		t.Fatal(err)
	}
	dict := "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }"
	if len(dict) != 59 {
		t.Fatalf("hand count of the dict is off: %d", len(dict))
	}
	var want bytes.Buffer
	want.WriteString("\x93NUMPY\x01\x00\x76\x00")
	want.WriteString(dict)
	want.WriteString(strings.Repeat(" ", 128-10-59-1))
	want.WriteString("\n")
	for _, v := range []uint64{0x3FE0000000000000, 0xBFF0000000000000, 0x4000000000000000, 0, math.Float64bits(1e-300), 0x400A000000000000} {
		_ = binary.Write(&want, binary.LittleEndian, v)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("got\n%q\nwant\n%q", got, want.Bytes())
	}
	back, err := UnmarshalNPY(got, "x.npy")
	if err != nil || !reflect.DeepEqual(back, m) {
		t.Fatalf("read back %v, %v", back, err)
	}
}

// A header that lands exactly on 64 bytes still gets numpy's full extra 64
// spaces; shape (1000000, 8) has 7 digits, so 14 growth spaces.
func TestMarshalNPYAlignment(t *testing.T) {
	for _, rows := range []int{1, 32, 100, 1000000} {
		m := make([][]float64, rows)
		for i := range m {
			m[i] = make([]float64, 8)
		}
		got, err := MarshalNPY(m)
		if err != nil {
			t.Fatal(err)
		}
		hlen := int(binary.LittleEndian.Uint16(got[8:10]))
		if (10+hlen)%64 != 0 || got[10+hlen-1] != '\n' || len(got) != 10+hlen+rows*64 {
			t.Errorf("rows %d: header length %d, not aligned or not ended by a newline", rows, hlen)
		}
	}
}

func TestUnmarshalNPYOtherLayouts(t *testing.T) {
	// float32, Fortran order, shape (2, 2): column-major data.
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	h := "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }"
	h += strings.Repeat(" ", 128-10-len(h)-1) + "\n"
	_ = binary.Write(&b, binary.LittleEndian, uint16(len(h)))
	b.WriteString(h)
	for _, v := range []float32{1, 3, 2, 4} {
		_ = binary.Write(&b, binary.LittleEndian, v)
	}
	got, err := UnmarshalNPY(b.Bytes(), "f.npy")
	if err != nil || !reflect.DeepEqual(got, [][]float64{{1, 2}, {3, 4}}) {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, tc := range []struct{ data, want string }{
		{"not numpy", "not a NumPy .npy file"},
		{"\x93NUMPY\x01\x00\xff\x00{", "truncated .npy header"},
		{"\x93NUMPY\x01\x00\x10\x00{'shape': (3,)}  ", "want a 2-D array"},
	} {
		if _, err := UnmarshalNPY([]byte(tc.data), "bad.npy"); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "bad.npy: ") {
			t.Errorf("%q: got %v, want %q", tc.data, err, tc.want)
		}
	}
	short, _ := MarshalNPY([][]float64{{1, 2}})
	if _, err := UnmarshalNPY(short[:len(short)-1], "short.npy"); err == nil || !strings.Contains(err.Error(), "data is 15 bytes") {
		t.Errorf("truncated data: %v", err)
	}
}

func FuzzUnmarshalNPY(f *testing.F) {
	good, _ := MarshalNPY([][]float64{{1, 2}, {3, 4}})
	f.Add(good)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = UnmarshalNPY(data, "fuzz.npy")
	})
}
