package dataio

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadNPY checks that no file makes ReadNPY panic, hang or allocate
// beyond the file's size, and that what it accepts is consistent.
func FuzzReadNPY(f *testing.F) {
	f.Add(numpyNPY("<f4", "(2, 3)", []float64{1, 2, 3, 4, 5, 6}))
	f.Add(numpyNPY("<f8", "(1, 2)", []float64{1, 2}))
	f.Add(numpyNPY("<f4", "(0, 4)", nil))
	f.Add([]byte("\x93NUMPY\x02\x00\xf0\xff\xff\xff{"))
	f.Add([]byte("\x93NUMPY\x01\x00\x02\x00{\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "f.npy")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := ReadNPY(p)
		if err != nil {
			return
		}
		if m.Rows < 0 || m.Cols < 0 || len(m.Data) != m.Rows*m.Cols || m.Stride != m.Cols {
			t.Fatalf("inconsistent matrix %dx%d stride %d, %d values", m.Rows, m.Cols, m.Stride, len(m.Data))
		}
		if int64(4*len(m.Data)) > int64(len(data)) {
			t.Fatalf("%d values from a %d-byte file", len(m.Data), len(data))
		}
	})
}
