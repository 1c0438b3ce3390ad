package shard

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"

	"github.com/embfit/embfit/internal/inputerr"
	"github.com/embfit/embfit/mining"
)

// partialMagic starts every partial file (version 1).
const partialMagic = "embfit-partial\x01\n"

// PartialHeader describes a partial: which task of which plan wrote it,
// from which inputs. The merge checks it against the plan.
type PartialHeader struct {
	Task     int `json:"task"`
	Q0       int `json:"q0"`
	Q1       int `json:"q1"`
	C0       int `json:"c0"`
	C1       int `json:"c1"`
	RangeMax int `json:"range_max"`
	// Inputs are the sha256 of the text inputs (pairs, corpus), of the
	// embedding rows the task read (its query rows, its corpus rows) and
	// of its parts of the text-ids file.
	PairsSHA256      string `json:"pairs_sha256"`
	CorpusSHA256     string `json:"corpus_sha256"`
	QueryRowsSHA256  string `json:"query_rows_sha256"`
	CorpusRowsSHA256 string `json:"corpus_rows_sha256"`
	QueryIDsSHA256   string `json:"query_ids_sha256"`
	CorpusIDsSHA256  string `json:"corpus_ids_sha256"`
}

// crc32c is the partials' checksum table (Castagnoli).
var crc32c = crc32.MakeTable(crc32.Castagnoli)

// partialWriter writes a partial: the magic, the header (length-prefixed
// JSON), one record per query of [Q0, Q1) in order, and the CRC-32C of
// everything before it. Per query: a flags byte (1 = zero embedding), the
// number of positive scores (uvarint) and each as slot (uvarint) and
// float64 bits; the number of hits (uvarint) and each as corpus row
// (uint32) and float64 bits (12 bytes a hit). Integers little-endian.
type partialWriter struct {
	w   *bufio.Writer
	crc hash.Hash32
	buf []byte
}

func newPartialWriter(w io.Writer, h PartialHeader) (*partialWriter, error) {
	pw := &partialWriter{crc: crc32.New(crc32c)}
	pw.w = bufio.NewWriterSize(io.MultiWriter(w, pw.crc), 1<<16)
	hb, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	b := append([]byte(partialMagic), binary.LittleEndian.AppendUint32(nil, uint32(len(hb)))...)
	if _, err := pw.w.Write(append(b, hb...)); err != nil {
		return nil, err
	}
	return pw, nil
}

func (pw *partialWriter) add(c *mining.Candidates) error {
	b := pw.buf[:0]
	var flags byte
	if c.Zero {
		flags = 1
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(len(c.Positives)))
	for _, p := range c.Positives {
		b = binary.AppendUvarint(b, uint64(p.Slot))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.Score))
	}
	b = binary.AppendUvarint(b, uint64(len(c.Hits)))
	for _, h := range c.Hits {
		b = binary.LittleEndian.AppendUint32(b, uint32(h.Index))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(h.Score))
	}
	pw.buf = b
	_, err := pw.w.Write(b)
	return err
}

// close flushes and appends the checksum; the caller closes the file.
func (pw *partialWriter) close(w io.Writer) error {
	if err := pw.w.Flush(); err != nil {
		return err
	}
	_, err := w.Write(binary.LittleEndian.AppendUint32(nil, pw.crc.Sum32()))
	return err
}

// PartialReader reads a partial written by RunTask, query by query,
// checking every record: hits in rank order (score descending, then
// corpus row), inside the header's corpus range, at most RangeMax of
// them, finite scores, slots in increasing order. After the last query it
// checks the checksum and that nothing follows.
type PartialReader struct {
	Header PartialHeader
	name   string
	r      *crcReader
	next   int
	buf    [12]byte
}

// maxPartialHeader bounds the header length a reader accepts.
const maxPartialHeader = 1 << 20

// NewPartialReader reads the header of the partial in r; name is used in
// errors.
func NewPartialReader(r io.Reader, name string) (*PartialReader, error) {
	pr := &PartialReader{name: name, r: &crcReader{r: bufio.NewReaderSize(r, 1<<16)}}
	head := make([]byte, len(partialMagic)+4)
	if _, err := io.ReadFull(pr.r, head); err != nil || string(head[:len(partialMagic)]) != partialMagic {
		return nil, inputerr.FileError(name, 0, fmt.Errorf("not an embfit partial"))
	}
	n := binary.LittleEndian.Uint32(head[len(partialMagic):])
	if n > maxPartialHeader {
		return nil, inputerr.FileError(name, 0, fmt.Errorf("header of %d bytes is too long", n))
	}
	hb := make([]byte, n)
	if _, err := io.ReadFull(pr.r, hb); err != nil {
		return nil, inputerr.FileError(name, 0, fmt.Errorf("truncated header"))
	}
	if err := json.Unmarshal(hb, &pr.Header); err != nil {
		return nil, inputerr.FileError(name, 0, fmt.Errorf("header: %w", err))
	}
	h := pr.Header
	if h.Q0 < 0 || h.Q1 < h.Q0 || h.C0 < 0 || h.C1 <= h.C0 || h.C1 > math.MaxInt32 || h.RangeMax <= 0 {
		return nil, inputerr.FileError(name, 0, fmt.Errorf("header has invalid ranges %+v", h))
	}
	pr.next = h.Q0
	return pr, nil
}

// Done reports whether every query of the partial has been read.
func (pr *PartialReader) Done() bool { return pr.next == pr.Header.Q1 }

// Next reads the next query's candidates into c (reusing its slices) and
// returns the query's index. After the last query it verifies the
// checksum and the end of the file and returns io.EOF.
func (pr *PartialReader) Next(c *mining.Candidates) (int, error) {
	if pr.Done() {
		return 0, pr.finish()
	}
	q := pr.next
	bad := func(format string, args ...any) (int, error) {
		return q, inputerr.FileError(pr.name, 0, fmt.Errorf("query %d: %s", q, fmt.Sprintf(format, args...)))
	}
	flags, err := pr.r.ReadByte()
	if err != nil {
		return bad("truncated")
	}
	if flags > 1 {
		return bad("bad flags %d", flags)
	}
	c.Zero = flags == 1
	np, err := binary.ReadUvarint(pr.r)
	if err != nil || np > 1<<20 {
		return bad("bad positive count")
	}
	c.Positives = c.Positives[:0]
	for i := range np {
		slot, err := binary.ReadUvarint(pr.r)
		if err != nil || slot >= 1<<31 || (i > 0 && int32(slot) <= c.Positives[i-1].Slot) {
			return bad("bad positive slot")
		}
		if _, err := io.ReadFull(pr.r, pr.buf[:8]); err != nil {
			return bad("truncated")
		}
		s := math.Float64frombits(binary.LittleEndian.Uint64(pr.buf[:8]))
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return bad("non-finite positive score")
		}
		c.Positives = append(c.Positives, mining.PositiveScore{Slot: int32(slot), Score: s})
	}
	nh, err := binary.ReadUvarint(pr.r)
	if err != nil || nh > uint64(pr.Header.RangeMax) {
		return bad("bad hit count")
	}
	c.Hits = c.Hits[:0]
	for i := range nh {
		if _, err := io.ReadFull(pr.r, pr.buf[:12]); err != nil {
			return bad("truncated")
		}
		h := mining.Hit{Index: int32(binary.LittleEndian.Uint32(pr.buf[:4])), Score: math.Float64frombits(binary.LittleEndian.Uint64(pr.buf[4:12]))}
		switch {
		case int(h.Index) < pr.Header.C0 || int(h.Index) >= pr.Header.C1:
			return bad("corpus row %d outside the shard [%d,%d)", h.Index, pr.Header.C0, pr.Header.C1)
		case math.IsNaN(h.Score) || math.IsInf(h.Score, 0):
			return bad("non-finite score")
		case i > 0 && !ranksBefore(c.Hits[i-1], h):
			return bad("hits out of rank order")
		}
		c.Hits = append(c.Hits, h)
	}
	pr.next++
	return q, nil
}

func ranksBefore(a, b mining.Hit) bool {
	return a.Score > b.Score || (a.Score == b.Score && a.Index < b.Index)
}

func (pr *PartialReader) finish() error {
	want := pr.r.crc // of everything read so far
	var b [4]byte
	if _, err := io.ReadFull(pr.r.r, b[:]); err != nil {
		return inputerr.FileError(pr.name, 0, fmt.Errorf("truncated (no checksum)"))
	}
	if binary.LittleEndian.Uint32(b[:]) != want {
		return inputerr.FileError(pr.name, 0, fmt.Errorf("checksum mismatch (corrupt partial)"))
	}
	if _, err := pr.r.r.ReadByte(); err != io.EOF {
		return inputerr.FileError(pr.name, 0, fmt.Errorf("data after the checksum"))
	}
	return io.EOF
}

// crcReader is a buffered reader that checksums the bytes its caller
// consumes (not those merely buffered ahead).
type crcReader struct {
	r   *bufio.Reader
	crc uint32
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.crc = crc32.Update(c.crc, crc32c, p[:n])
	return n, err
}

func (c *crcReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.crc = crc32.Update(c.crc, crc32c, []byte{b})
	}
	return b, err
}
