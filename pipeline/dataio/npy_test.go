package dataio

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"
)

// numpyNPY returns the bytes numpy.save writes for a C-order array of the
// given dtype and shape holding vals (format version 1.0, header padded so
// the data starts at a multiple of 64).
func numpyNPY(descr, shape string, vals []float64) []byte {
	dict := "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }"
	total := 10 + len(dict) + 1
	hdr := dict + strings.Repeat(" ", (64-total%64)%64) + "\n"
	b := []byte("\x93NUMPY\x01\x00")
	b = binary.LittleEndian.AppendUint16(b, uint16(len(hdr)))
	b = append(b, hdr...)
	for _, v := range vals {
		if descr == "<f8" {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		} else {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(v)))
		}
	}
	return b
}

func TestReadNPY(t *testing.T) {
	vals := []float64{1, -2.5, 3, 0.125, 5, 6e-7}
	tests := []struct {
		name    string
		data    []byte
		rows    int
		cols    int
		wantErr string
	}{
		{"float32 2x3", numpyNPY("<f4", "(2, 3)", vals), 2, 3, ""},
		{"float64 3x2", numpyNPY("<f8", "(3, 2)", vals), 3, 2, ""},
		{"empty 0x4", numpyNPY("<f4", "(0, 4)", nil), 0, 4, ""},
		{"1-D", numpyNPY("<f4", "(6,)", vals), 0, 0, "want a 2-D array"},
		{"int64", numpyNPY("<i8", "(3, 2)", vals), 0, 0, "dtype <i8 not supported"},
		{"truncated", numpyNPY("<f4", "(2, 3)", vals)[:100], 0, 0, "truncated"},
		{"not npy", []byte("hello, world, this is text\n"), 0, 0, "not a .npy file"},
		{"zero width", numpyNPY("<f4", "(3, 0)", nil), 0, 0, "zero-width"},
		{"negative shape", numpyNPY("<f4", "(-1, 2)", vals), 0, 0, "does not fit"},
		{"header length 4 GB", append([]byte("\x93NUMPY\x02\x00\xf0\xff\xff\xff{"), make([]byte, 100)...), 0, 0, "exceeds the limit"},
		{"header length past end", append([]byte("\x93NUMPY\x01\x00\x00\x10{"), make([]byte, 100)...), 0, 0, "past the end"},
		{"header not a dict", []byte("\x93NUMPY\x01\x00\x02\x00{\n"), 0, 0, "malformed header"},
		{"version 9", []byte("\x93NUMPY\x09\x00\x02\x00{}\n"), 0, 0, "version 9.0"},
		{"huge shape", numpyNPY("<f4", "(4611686018427387904, 4)", vals), 0, 0, "does not fit"},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".npy")
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := ReadNPY(p)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), p) {
					t.Fatalf("err = %v, want one naming %s and containing %q", err, p, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Rows != tc.rows || m.Cols != tc.cols || m.Stride != tc.cols {
				t.Fatalf("shape %dx%d stride %d, want %dx%d", m.Rows, m.Cols, m.Stride, tc.rows, tc.cols)
			}
			for i, v := range m.Data {
				if v != float32(vals[i]) {
					t.Errorf("Data[%d] = %v, want %v", i, v, float32(vals[i]))
				}
			}
		})
	}
}

func TestWriteNPYRoundTrip(t *testing.T) {
	dir := t.TempDir()
	// A strided view: the 3x2 left block of a 3x4 matrix.
	big := blas32.General{Rows: 3, Cols: 4, Stride: 4, Data: []float32{
		1, 2, 99, 99,
		3, 4, 99, 99,
		-5, 6.5, 99, 99,
	}}
	view := blas32.General{Rows: 3, Cols: 2, Stride: 4, Data: big.Data}
	for _, tc := range []struct {
		name string
		m    blas32.General
		want []float32
	}{
		{"strided", view, []float32{1, 2, 3, 4, -5, 6.5}},
		{"empty", blas32.General{Rows: 0, Cols: 7, Stride: 7}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".npy")
			if err := WriteNPY(p, tc.m); err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			// Byte for byte what numpy.save writes for the same array.
			vals := make([]float64, len(tc.want))
			for i, v := range tc.want {
				vals[i] = float64(v)
			}
			if golden := numpyNPY("<f4", fmt.Sprintf("(%d, %d)", tc.m.Rows, tc.m.Cols), vals); string(raw) != string(golden) {
				t.Errorf("file differs from numpy.save's:\n%q\n%q", raw, golden)
			}
			// The header numpy parses: magic, dtype, C order, shape.
			if !strings.HasPrefix(string(raw), "\x93NUMPY") {
				t.Fatalf("no NumPy magic: %q", raw[:8])
			}
			hdr := regexp.MustCompile(`\{'descr': '<f4', 'fortran_order': False, 'shape': \((\d+), (\d+)\), \}`).FindStringSubmatch(string(raw))
			if hdr == nil || hdr[1] != itoa(tc.m.Rows) || hdr[2] != itoa(tc.m.Cols) {
				t.Fatalf("header %q, want float32 shape (%d, %d)", hdr, tc.m.Rows, tc.m.Cols)
			}
			data := raw[len(raw)-4*len(tc.want):]
			for i, w := range tc.want {
				if got := math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:])); got != w {
					t.Errorf("value %d = %v, want %v", i, got, w)
				}
			}
			m, err := ReadNPY(p)
			if err != nil {
				t.Fatal(err)
			}
			if m.Rows != tc.m.Rows || m.Cols != tc.m.Cols {
				t.Fatalf("read back %dx%d", m.Rows, m.Cols)
			}
			for i, w := range tc.want {
				if m.Data[i] != w {
					t.Errorf("read back [%d] = %v, want %v", i, m.Data[i], w)
				}
			}
		})
	}
}

func TestWriteNPYUnwritable(t *testing.T) {
	p := filepath.Join(t.TempDir(), "no", "such", "dir", "e.npy")
	err := WriteNPY(p, blas32.General{Rows: 1, Cols: 1, Stride: 1, Data: []float32{1}})
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v, want one naming %s", err, p)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func ExampleWriteNPY() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "emb.npy")
	m := blas32.General{Rows: 2, Cols: 3, Stride: 3, Data: []float32{1, 2, 3, 4, 5, 6}}
	if err := WriteNPY(p, m); err != nil { // numpy.load(p) reads it
		fmt.Println(err)
		return
	}
	back, err := ReadNPY(p)
	fmt.Println(back.Rows, back.Cols, back.Data, err)
	// Output: 2 3 [1 2 3 4 5 6] <nil>
}

// BenchmarkNPY writes and reads a 20000×100 float32 matrix (8 MB).
func BenchmarkNPY(b *testing.B) {
	m := blas32.General{Rows: 20000, Cols: 100, Stride: 100, Data: make([]float32, 2000000)}
	for i := range m.Data {
		m.Data[i] = float32(i)
	}
	p := filepath.Join(b.TempDir(), "e.npy")
	b.SetBytes(int64(4 * len(m.Data)))
	for i := 0; i < b.N; i++ {
		if err := WriteNPY(p, m); err != nil {
			b.Fatal(err)
		}
		if _, err := ReadNPY(p); err != nil {
			b.Fatal(err)
		}
	}
}
