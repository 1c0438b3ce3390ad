package dataio

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"codeberg.org/sbinet/npyio"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/atomicfile"
	"github.com/embfit/embfit/internal/inputerr"
)

// ReadNPY reads a 2-D NumPy array of float32 ('<f4', or float64 '<f8',
// converted) in C order from path into a new matrix with Stride == Cols.
// Other dtypes, other ranks and Fortran order are errors naming the file.
func ReadNPY(path string) (blas32.General, error) {
	m, _, err := readNPY(path, false)
	return m, err
}

// ReadNPYTensor reads a NumPy array of rank ≥ 2 [N, item shape…]
// (float32 or float64, C order) from path: one item per row of the
// returned matrix (Cols = the product of the item shape), and the item
// shape.
func ReadNPYTensor(path string) (blas32.General, []int64, error) {
	return readNPY(path, true)
}

func readNPY(path string, tensor bool) (blas32.General, []int64, error) {
	var itemShape []int64
	f, err := os.Open(path)
	if err != nil {
		return blas32.General{}, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return blas32.General{}, nil, err
	}
	cr := &countingReader{r: bufio.NewReaderSize(f, 1<<20)}
	pre, err := readNPYPreamble(cr, st.Size())
	if err != nil {
		return blas32.General{}, nil, inputerr.FileError(path, 0, fmt.Errorf("not a .npy file: %w", err))
	}
	r, err := newNPYReader(bytes.NewReader(pre))
	if err != nil {
		return blas32.General{}, nil, inputerr.FileError(path, 0, fmt.Errorf("not a .npy file: %w", err))
	}
	h := r.Header.Descr
	switch {
	case tensor && len(h.Shape) < 2:
		return blas32.General{}, nil, inputerr.FileError(path, 0, fmt.Errorf("want an array [N, item shape…] of rank ≥ 2, got shape %v", h.Shape))
	case !tensor && len(h.Shape) != 2:
		return blas32.General{}, nil, inputerr.FileError(path, 0, fmt.Errorf("want a 2-D array [N,D], got shape %v", h.Shape))
	}
	if h.Fortran {
		return blas32.General{}, nil, inputerr.FileError(path, 0, fmt.Errorf("Fortran-order arrays are not supported (save with numpy.ascontiguousarray)"))
	}
	rows, cols := h.Shape[0], 1
	fits := rows >= 0
	for _, d := range h.Shape[1:] {
		// Each factor is checked against the file size first: no overflow.
		if d < 0 || (d > 0 && int64(cols) > st.Size()/int64(d)) {
			fits = false
			break
		}
		cols *= d
		itemShape = append(itemShape, int64(d))
	}
	dtype := strings.Trim(h.Type, `'"`)
	var item int64
	switch dtype {
	case "<f4":
		item = 4
	case "<f8":
		item = 8
	default:
		return blas32.General{}, nil, inputerr.FileError(path, 0, fmt.Errorf("dtype %s not supported (want float32 '<f4' or float64 '<f8')", dtype))
	}
	if !fits || (rows > 0 && int64(cols) > st.Size()/int64(rows)) {
		return blas32.General{}, nil, inputerr.FileError(path, 0, fmt.Errorf("shape %v does not fit the %d-byte file (truncated or corrupt)", h.Shape, st.Size()))
	}
	if rows > 0 && cols == 0 {
		return blas32.General{}, nil, inputerr.FileError(path, 0, fmt.Errorf("shape %v: zero-width rows (want at least one column)", h.Shape))
	}
	// npyio stops quietly at end of file: check the size first.
	if want := cr.n + item*int64(rows)*int64(cols); st.Size() != want {
		return blas32.General{}, nil, inputerr.FileError(path, 0, fmt.Errorf("file is %d bytes, header says %d (truncated or corrupt)", st.Size(), want))
	}
	m := blas32.General{Rows: rows, Cols: cols, Stride: cols, Data: make([]float32, rows*cols)}
	if rows*cols == 0 {
		return m, itemShape, nil
	}
	// npyio decodes element by element through reflection; read the
	// (already size-checked) data in bulk instead.
	buf := make([]byte, 1<<16)
	for i := 0; i < len(m.Data); {
		n := min(len(buf)/int(item), len(m.Data)-i)
		chunk := buf[:n*int(item)]
		if _, err := io.ReadFull(cr, chunk); err != nil {
			return blas32.General{}, nil, inputerr.FileError(path, 0, err)
		}
		if item == 4 {
			for k := 0; k < n; k++ {
				m.Data[i+k] = math.Float32frombits(binary.LittleEndian.Uint32(chunk[4*k:]))
			}
		} else {
			for k := 0; k < n; k++ {
				m.Data[i+k] = float32(math.Float64frombits(binary.LittleEndian.Uint64(chunk[8*k:])))
			}
		}
		i += n
	}
	return m, itemShape, nil
}

// WriteNPY writes m as a float32 ('<f4') C-order NumPy array of shape
// [m.Rows, m.Cols] to path, atomically (temporary file, then rename).
// numpy.load reads it.
func WriteNPY(path string, m blas32.General) error {
	f, err := atomicfile.Create(path, false)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := EncodeNPY(f, m); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Commit()
}

// EncodeNPY writes m as a .npy stream (float32, C order, the bytes of
// numpy.save) to w.
func EncodeNPY(w io.Writer, m blas32.General) error {
	if err := WriteNPYHeader(w, m.Rows, m.Cols); err != nil {
		return err
	}
	// npyio's writer reflects on every element (1.4 s for 2M floats
	// measured); the data part of the format is plain little-endian floats.
	buf := make([]byte, 0, 1<<16)
	for i := 0; i < m.Rows; i++ {
		for _, v := range m.Data[i*m.Stride : i*m.Stride+m.Cols] {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) == cap(buf) {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
	}
	_, err := w.Write(buf)
	return err
}

// countingReader counts the bytes its reader has handed out.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// WriteNPYHeader writes a NumPy format 1.0 header for a C-order float32
// array of shape (rows, cols), exactly as numpy.save does: the data starts
// at a multiple of 64 bytes.
func WriteNPYHeader(w io.Writer, rows, cols int) error {
	dict := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols)
	// magic(6) + version(2) + header length(2) + dict + padding + '\n' ≡ 0 mod 64
	total := 10 + len(dict) + 1
	pad := (64 - total%64) % 64
	hdr := dict + strings.Repeat(" ", pad) + "\n"
	var buf []byte
	buf = append(buf, "\x93NUMPY\x01\x00"...)
	if len(hdr) > math.MaxUint16 {
		return fmt.Errorf("npy header too long")
	}
	buf = binary.LittleEndian.AppendUint16(buf, uint16(len(hdr)))
	buf = append(buf, hdr...)
	_, err := w.Write(buf)
	return err
}

// NPYHeader is what the header of a .npy file says.
type NPYHeader struct {
	Shape   []int
	DType   string // e.g. "<f4"
	Fortran bool   // column-major data
	Offset  int64  // of the first data byte
}

// ReadNPYHeader reads and checks the header at the start of r, a .npy
// file of size bytes: the magic string, a header length within bounds and
// within the file, and a parsable dictionary. It reads no data.
func ReadNPYHeader(r io.Reader, size int64) (NPYHeader, error) {
	pre, err := readNPYPreamble(r, size)
	if err != nil {
		return NPYHeader{}, err
	}
	nr, err := newNPYReader(bytes.NewReader(pre))
	if err != nil {
		return NPYHeader{}, err
	}
	h := nr.Header.Descr
	return NPYHeader{Shape: h.Shape, DType: strings.Trim(h.Type, `'"`), Fortran: h.Fortran, Offset: int64(len(pre))}, nil
}

// maxNPYHeader bounds the header dictionary's length, as numpy.load's
// max_header_size (10,000 by default) does; numpy.save writes about 128
// bytes for a 2-D array.
const maxNPYHeader = 1 << 16

// readNPYPreamble reads the magic string, version, header length and
// header of a .npy file of size bytes, checking the length against
// maxNPYHeader and the file size before reading, and returns all of it.
func readNPYPreamble(r io.Reader, size int64) ([]byte, error) {
	pre := make([]byte, 12)
	if _, err := io.ReadFull(r, pre[:8]); err != nil {
		return nil, errors.New("shorter than the magic string and version")
	}
	if string(pre[:6]) != "\x93NUMPY" {
		return nil, errors.New("no \\x93NUMPY magic string")
	}
	var hlen, lenBytes int64
	switch pre[6] {
	case 1:
		lenBytes = 2
	case 2, 3:
		lenBytes = 4
	default:
		return nil, fmt.Errorf("format version %d.%d not supported", pre[6], pre[7])
	}
	if _, err := io.ReadFull(r, pre[8:8+lenBytes]); err != nil {
		return nil, errors.New("truncated header length")
	}
	pre = pre[:8+lenBytes]
	if lenBytes == 2 {
		hlen = int64(binary.LittleEndian.Uint16(pre[8:]))
	} else {
		hlen = int64(binary.LittleEndian.Uint32(pre[8:]))
	}
	switch {
	case hlen > maxNPYHeader:
		return nil, fmt.Errorf("header length %d exceeds the limit of %d bytes", hlen, maxNPYHeader)
	case 8+lenBytes+hlen > size:
		return nil, fmt.Errorf("header length %d runs past the end of the %d-byte file", hlen, size)
	case hlen < 2:
		return nil, fmt.Errorf("header length %d is too short for a header", hlen)
	}
	hdr := make([]byte, len(pre)+int(hlen))
	copy(hdr, pre)
	if _, err := io.ReadFull(r, hdr[len(pre):]); err != nil {
		return nil, fmt.Errorf("truncated header: %w", err)
	}
	d := bytes.TrimRight(hdr[len(pre):], " \x00\n")
	if len(d) < 2 || d[0] != '{' || d[len(d)-1] != '}' || hdr[len(hdr)-1] != '\n' {
		return nil, errors.New("malformed header: want a {...} dictionary ending in a newline")
	}
	return hdr, nil
}

// newNPYReader is npyio.NewReader turning the panic npyio raises on some
// malformed headers into an error.
func newNPYReader(r io.Reader) (nr *npyio.Reader, err error) {
	defer func() {
		if p := recover(); p != nil {
			nr, err = nil, fmt.Errorf("malformed header: %v", p)
		}
	}()
	return npyio.NewReader(r)
}
