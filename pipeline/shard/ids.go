package shard

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"os"

	"github.com/embfit/embfit/internal/inputerr"
	"github.com/embfit/embfit/mining"
)

// The text-ids file (written beside the partials by Plan.Write) holds what
// the exclusions need, as integers, so that a task reads only its query
// block's and corpus shard's part instead of every text. Little-endian,
// with Q queries, C corpus rows and P positives in all:
//
//	corpus text id   [C]int32
//	query text id    [Q]int32
//	query embedding row (first pair of the query) [Q]int32
//	positive offsets [Q+1]int64 (query q's positives are [off[q], off[q+1]))
//	positive corpus rows [P]int32
//	positive text ids    [P]int32
//
// Equal ids mean equal texts (mining.InternTexts over queries and corpus).
type idsLayout struct{ q, c, p int64 }

func (l idsLayout) corpusText() int64 { return 0 }
func (l idsLayout) queryText() int64  { return 4 * l.c }
func (l idsLayout) firstPair() int64  { return 4*l.c + 4*l.q }
func (l idsLayout) posOff() int64     { return 4*l.c + 8*l.q }
func (l idsLayout) posRow() int64     { return 4*l.c + 8*l.q + 8*(l.q+1) }
func (l idsLayout) posText() int64    { return l.posRow() + 4*l.p }
func (l idsLayout) size() int64       { return l.posText() + 4*l.p }

// buildIDs encodes the text-ids file of t.
func buildIDs(t *texts) ([]byte, idsLayout) {
	qText, cText := mining.InternTexts(t.queryText, t.corpusText)
	l := idsLayout{q: int64(len(qText)), c: int64(len(cText))}
	for _, ps := range t.positives {
		l.p += int64(len(ps))
	}
	b := make([]byte, 0, l.size())
	for _, v := range cText {
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	for _, v := range qText {
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	for _, v := range t.firstPair {
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	off := uint64(0)
	for _, ps := range t.positives {
		b = binary.LittleEndian.AppendUint64(b, off)
		off += uint64(len(ps))
	}
	b = binary.LittleEndian.AppendUint64(b, off)
	for _, ps := range t.positives {
		for _, c := range ps {
			b = binary.LittleEndian.AppendUint32(b, uint32(c))
		}
	}
	for _, ps := range t.positives {
		for _, c := range ps {
			b = binary.LittleEndian.AppendUint32(b, uint32(cText[c]))
		}
	}
	return b, l
}

// idsReader reads parts of a text-ids file, from a file or from memory.
type idsReader struct {
	name string
	r    interface {
		ReadAt(p []byte, off int64) (int, error)
	}
	l idsLayout
}

func (r *idsReader) read(off, n int64, h hash.Hash) ([]byte, error) {
	b := make([]byte, n)
	if _, err := r.r.ReadAt(b, off); err != nil {
		return nil, inputerr.FileError(r.name, 0, err)
	}
	if h != nil {
		h.Write(b)
	}
	return b, nil
}

func int32s(b []byte) []int32 {
	v := make([]int32, len(b)/4)
	for i := range v {
		v[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// queryBlock is what a task needs of queries [q0, q1).
type queryBlock struct {
	text         []int32
	rows         []int // rows in the query embeddings
	positives    [][]int
	positiveText [][]int32
}

// queryBlock reads queries [q0, q1), feeding the bytes it reads to h.
func (r *idsReader) queryBlock(q0, q1 int, h hash.Hash) (*queryBlock, error) {
	n := int64(q1 - q0)
	tb, err := r.read(r.l.queryText()+4*int64(q0), 4*n, h)
	if err != nil {
		return nil, err
	}
	fb, err := r.read(r.l.firstPair()+4*int64(q0), 4*n, h)
	if err != nil {
		return nil, err
	}
	ob, err := r.read(r.l.posOff()+8*int64(q0), 8*(n+1), h)
	if err != nil {
		return nil, err
	}
	off := make([]int64, n+1)
	for i := range off {
		off[i] = int64(binary.LittleEndian.Uint64(ob[8*i:]))
		if off[i] < 0 || off[i] > r.l.p || (i > 0 && off[i] < off[i-1]) {
			return nil, inputerr.FileError(r.name, 0, fmt.Errorf("corrupt positive offsets"))
		}
	}
	pb, err := r.read(r.l.posRow()+4*off[0], 4*(off[n]-off[0]), h)
	if err != nil {
		return nil, err
	}
	xb, err := r.read(r.l.posText()+4*off[0], 4*(off[n]-off[0]), h)
	if err != nil {
		return nil, err
	}
	qb := &queryBlock{text: int32s(tb), positives: make([][]int, n), positiveText: make([][]int32, n)}
	for _, v := range int32s(fb) {
		qb.rows = append(qb.rows, int(v))
	}
	rows, texts := int32s(pb), int32s(xb)
	for i := range n {
		a, b := off[i]-off[0], off[i+1]-off[0]
		for _, c := range rows[a:b] {
			if c < 0 || int64(c) >= r.l.c {
				return nil, inputerr.FileError(r.name, 0, fmt.Errorf("corrupt positive row %d", c))
			}
			qb.positives[i] = append(qb.positives[i], int(c))
		}
		qb.positiveText[i] = texts[a:b]
	}
	return qb, nil
}

// corpusText reads the text ids of corpus rows [c0, c1).
func (r *idsReader) corpusText(c0, c1 int, h hash.Hash) ([]int32, error) {
	b, err := r.read(r.l.corpusText()+4*int64(c0), 4*int64(c1-c0), h)
	if err != nil {
		return nil, err
	}
	return int32s(b), nil
}

// queryBlockSHA256 and corpusTextSHA256 are the hashes a task checks.
func (r *idsReader) queryBlockSHA256(q0, q1 int) (string, error) {
	h := sha256.New()
	_, err := r.queryBlock(q0, q1, h)
	return hex.EncodeToString(h.Sum(nil)), err
}

func (r *idsReader) corpusTextSHA256(c0, c1 int) (string, error) {
	h := sha256.New()
	_, err := r.corpusText(c0, c1, h)
	return hex.EncodeToString(h.Sum(nil)), err
}

// openIDs opens a plan's text-ids file and checks its size.
func openIDs(path string, l idsLayout) (*idsReader, *os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if st.Size() != l.size() {
		f.Close()
		return nil, nil, inputerr.FileError(path, 0, fmt.Errorf("%d bytes, the plan wants %d (truncated or from another plan)", st.Size(), l.size()))
	}
	return &idsReader{name: path, r: f, l: l}, f, nil
}
