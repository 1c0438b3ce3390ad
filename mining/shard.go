package mining

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/embfit/embfit/internal/linalg"
	"gonum.org/v1/gonum/blas/blas32"
)

// Shard is the input of one mining task of a pairs-mode problem split
// into query blocks × corpus shards: the embeddings of queries
// [Q0, Q0+Queries.Rows) and of corpus rows [C0, C0+Corpus.Rows), and what
// the exclusions need of them, as text ids (InternTexts over the whole
// problem): nothing of size of the whole problem. Rows must be
// L2-normalized as for Mine.
type Shard struct {
	Queries, Corpus blas32.General
	Q0, C0          int
	// QueryText[i] is the text id of query Q0+i, CorpusText[j] that of
	// corpus row C0+j.
	QueryText, CorpusText []int32
	// Positives[i] are the (global) corpus rows of query Q0+i's
	// positives, and PositiveText[i] their text ids.
	Positives    [][]int
	PositiveText [][]int32
}

func (sh *Shard) check() error {
	nq, nc := sh.Queries.Rows, sh.Corpus.Rows
	switch {
	case sh.Queries.Cols != sh.Corpus.Cols:
		return fmt.Errorf("query dimension %d != corpus dimension %d", sh.Queries.Cols, sh.Corpus.Cols)
	case sh.Q0 < 0 || sh.C0 < 0:
		return fmt.Errorf("negative shard offsets %d, %d", sh.Q0, sh.C0)
	case len(sh.QueryText) != nq || len(sh.CorpusText) != nc:
		return fmt.Errorf("%d query text ids for %d rows, %d corpus text ids for %d rows", len(sh.QueryText), nq, len(sh.CorpusText), nc)
	case len(sh.Positives) != nq || len(sh.PositiveText) != nq:
		return fmt.Errorf("%d positive lists and %d positive text lists for %d queries", len(sh.Positives), len(sh.PositiveText), nq)
	case nq == 0 || nc == 0:
		return errors.New("empty shard")
	}
	for i, ps := range sh.Positives {
		if len(ps) == 0 || len(sh.PositiveText[i]) != len(ps) {
			return fmt.Errorf("query %d: %d positives, %d positive text ids", sh.Q0+i, len(ps), len(sh.PositiveText[i]))
		}
		for _, c := range ps {
			if c < 0 {
				return fmt.Errorf("query %d: positive row %d out of range", sh.Q0+i, c)
			}
		}
	}
	return nil
}

// PositiveScore is the score of one of a query's positives: Slot indexes
// the query's Positives list.
type PositiveScore struct {
	Slot  int32
	Score float64
}

// Candidates is what one task found for one query in its corpus shard:
// everything the final selection needs from that shard.
type Candidates struct {
	// Zero reports that the query's embedding is all zeros.
	Zero bool
	// Positives are the scores of the query's positives that lie in the
	// shard, by increasing slot.
	Positives []PositiveScore
	// Hits are the shard's exact top RangeMax rows for the query after
	// its exclusions, best first, with global corpus indices and float64
	// scores. Since the filters only apply inside the rank window, the
	// global top RangeMax (which the window and filters read) is always
	// among the union of the shards' top RangeMax.
	Hits []Hit
}

// SearchShard runs one mining task: for every query of sh, in order, it
// calls emit with the query's global index and its Candidates (valid only
// during the call). Scores are the same float64 values Mine computes, and
// ties rank the lower global corpus row first, so merging the Candidates
// of all corpus shards with a Merger reproduces Mine exactly. Memory is
// bounded by the shard's embeddings, the search buffer (s.QueryBlock ×
// s.CorpusBlock float32) and candidates for at most 65,536 queries.
func SearchShard(ctx context.Context, sh Shard, s Settings, emit func(q int, c *Candidates) error) error {
	if err := s.Validate(); err != nil {
		return err
	}
	s = s.WithDefaults()
	if err := sh.check(); err != nil {
		return err
	}
	exclude := func(q, c int) bool { // shard-local q and c
		t := sh.CorpusText[c]
		return t == sh.QueryText[q] || !s.IncludePositives && containsInt32(sh.PositiveText[q], t)
	}
	search := SearchSettings{QueryBlock: s.QueryBlock, CorpusBlock: s.CorpusBlock}
	var hits Results
	var cand Candidates
	nq, c1 := sh.Queries.Rows, sh.C0+sh.Corpus.Rows
	for q0 := 0; q0 < nq; q0 += queryChunk {
		q1 := min(q0+queryChunk, nq)
		ex := func(q, c int) bool { return exclude(q0+q, c) }
		if err := TopK(ctx, &hits, linalg.Slice(sh.Queries, q0, q1), sh.Corpus, s.RangeMax, search, ex, nil); err != nil {
			return err
		}
		for q := q0; q < q1; q++ {
			g := sh.Q0 + q
			qv := linalg.Row(sh.Queries, q)
			cand.Zero = isZero(qv)
			cand.Positives = cand.Positives[:0]
			for i, c := range sh.Positives[q] {
				if c >= sh.C0 && c < c1 {
					cand.Positives = append(cand.Positives, PositiveScore{Slot: int32(i), Score: dot(qv, linalg.Row(sh.Corpus, c-sh.C0))})
				}
			}
			cand.Hits = append(cand.Hits[:0], hits.Row(q-q0)...)
			for i := range cand.Hits {
				cand.Hits[i].Index += int32(sh.C0)
			}
			if err := emit(g, &cand); err != nil {
				return err
			}
		}
	}
	return nil
}

// Merger combines the Candidates of every corpus shard, query by query,
// and applies the rank window, filters and sampling exactly as Mine does
// (the same code). Its memory is the results (Mine's) plus one query's
// candidates.
type Merger struct {
	sel       *selector
	positives [][]int
	next      int
	heads     hitHeap
	row       []Hit
}

// NewMerger starts merging a pairs-mode problem of len(positives) queries
// over a corpus of corpusRows rows, with settings s.
func NewMerger(positives [][]int, corpusRows int, s Settings) (*Merger, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s = s.WithDefaults()
	return &Merger{sel: newSelector(s, len(positives), corpusRows), positives: positives}, nil
}

// Add merges the Candidates parts (one per corpus shard, in any order) of
// query q. Queries must be added in increasing order, each exactly once;
// every positive of q must be scored by exactly one part.
func (m *Merger) Add(q int, parts []*Candidates) error {
	if q != m.next {
		return fmt.Errorf("merge: query %d added, want %d", q, m.next)
	}
	m.next++
	r := &m.sel.m.Results[q]
	r.Positives = m.positives[q]
	r.PositiveScores = make([]float64, len(r.Positives))
	seen := make([]bool, len(r.Positives))
	zero := false
	m.heads = m.heads[:0]
	for _, p := range parts {
		zero = zero || p.Zero
		for _, ps := range p.Positives {
			if ps.Slot < 0 || int(ps.Slot) >= len(seen) || seen[ps.Slot] {
				return fmt.Errorf("merge: query %d: positive %d scored twice or out of range", q, ps.Slot)
			}
			seen[ps.Slot] = true
			r.PositiveScores[ps.Slot] = ps.Score
		}
		if len(p.Hits) > 0 {
			m.heads = append(m.heads, p.Hits)
		}
	}
	r.MinPositive = math.Inf(1)
	for i, ok := range seen {
		if !ok {
			return fmt.Errorf("merge: query %d: no part scored positive %d (a corpus shard is missing)", q, i)
		}
		r.MinPositive = min(r.MinPositive, r.PositiveScores[i])
	}
	// k-way merge of the parts' sorted hit lists, best first.
	k := m.sel.s.RangeMax
	m.row = m.row[:0]
	heap.Init(&m.heads)
	for len(m.heads) > 0 && len(m.row) < k {
		h := m.heads[0]
		m.row = append(m.row, h[0])
		if len(h) == 1 {
			heap.Pop(&m.heads)
		} else {
			m.heads[0] = h[1:]
			heap.Fix(&m.heads, 0)
		}
	}
	m.sel.query(q, r, zero, m.row)
	return nil
}

// Mined returns the outcome once every query has been added.
func (m *Merger) Mined() (*Mined, error) {
	if m.next != len(m.positives) {
		return nil, fmt.Errorf("merge: %d of %d queries added", m.next, len(m.positives))
	}
	return m.sel.finish(), nil
}

// hitHeap is a heap of non-empty sorted hit lists ordered by their heads.
type hitHeap [][]Hit

func (h hitHeap) Len() int           { return len(h) }
func (h hitHeap) Less(i, j int) bool { return better(h[i][0], h[j][0]) }
func (h hitHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *hitHeap) Push(x any)        { *h = append(*h, x.([]Hit)) }
func (h *hitHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
