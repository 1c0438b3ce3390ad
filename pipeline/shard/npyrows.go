package shard

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"math"
	"os"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/inputerr"
	"github.com/embfit/embfit/pipeline/dataio"
)

// npyFile is an open float32 C-order 2-D .npy file whose rows are read
// by index, so that a task reads only its own rows.
type npyFile struct {
	path       string
	f          *os.File
	rows, cols int
	offset     int64 // of the data
}

// openNPY opens path and checks its header: a float32 ('<f4') C-order
// 2-D array whose size matches the header.
func openNPY(path string) (*npyFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	n, err := readNPYHeader(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	return n, nil
}

func readNPYHeader(f *os.File, path string) (n *npyFile, err error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	h, err := dataio.ReadNPYHeader(bufio.NewReaderSize(f, 4096), st.Size())
	if err != nil {
		return nil, inputerr.FileError(path, 0, fmt.Errorf("not a .npy file: %w", err))
	}
	switch {
	case len(h.Shape) != 2:
		return nil, inputerr.FileError(path, 0, fmt.Errorf("want a 2-D array [N,D], got shape %v", h.Shape))
	case h.Fortran:
		return nil, inputerr.FileError(path, 0, fmt.Errorf("Fortran-order arrays are not supported"))
	case h.DType != "<f4":
		return nil, inputerr.FileError(path, 0, fmt.Errorf("dtype %s not supported by sharded mining (want float32 '<f4', as embfit embed writes)", h.DType))
	}
	off := h.Offset
	if want := off + 4*int64(h.Shape[0])*int64(h.Shape[1]); st.Size() != want {
		return nil, inputerr.FileError(path, 0, fmt.Errorf("file is %d bytes, header says %d (truncated or corrupt)", st.Size(), want))
	}
	return &npyFile{path: path, f: f, rows: h.Shape[0], cols: h.Shape[1], offset: off}, nil
}

func (n *npyFile) Close() error { return n.f.Close() }

// readRows reads the listed rows into a new matrix, feeding their raw
// bytes, in order, to h when it is not nil. Non-finite values are errors
// naming the file and row.
func (n *npyFile) readRows(rows []int, h hash.Hash) (blas32.General, error) {
	m := blas32.General{Rows: len(rows), Cols: n.cols, Stride: n.cols, Data: make([]float32, len(rows)*n.cols)}
	rowBytes := 4 * n.cols
	buf := make([]byte, 0, 1<<20)
	flush := func(first, count, dst int) error {
		buf = buf[:count*rowBytes]
		if _, err := n.f.ReadAt(buf, n.offset+int64(first)*int64(rowBytes)); err != nil {
			return inputerr.FileError(n.path, 0, err)
		}
		if h != nil {
			h.Write(buf)
		}
		for k := range count * n.cols {
			v := math.Float32frombits(binary.LittleEndian.Uint32(buf[4*k:]))
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return inputerr.FileError(n.path, 0, fmt.Errorf("row %d holds a non-finite value", first+k/n.cols))
			}
			m.Data[dst*n.cols+k] = v
		}
		return nil
	}
	// Coalesce runs of consecutive rows into one read.
	maxRun := max(1, cap(buf)/rowBytes)
	for i := 0; i < len(rows); {
		r := rows[i]
		if r < 0 || r >= n.rows {
			return m, inputerr.FileError(n.path, 0, fmt.Errorf("row %d out of range (%d rows)", r, n.rows))
		}
		j := i + 1
		for j < len(rows) && rows[j] == rows[j-1]+1 && j-i < maxRun {
			j++
		}
		if err := flush(r, j-i, i); err != nil {
			return m, err
		}
		i = j
	}
	return m, nil
}

// rowsSHA256 returns the hex sha256 of the raw bytes of the listed rows,
// in order (what readRows feeds its hash).
func (n *npyFile) rowsSHA256(rows []int) (string, error) {
	h := sha256.New()
	if _, err := n.readRows(rows, h); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// span returns the rows lo, lo+1, …, hi-1.
func span(lo, hi int) []int {
	r := make([]int, hi-lo)
	for i := range r {
		r[i] = lo + i
	}
	return r
}
