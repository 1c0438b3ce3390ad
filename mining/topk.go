package mining

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/internal/par"
	"github.com/embfit/embfit/internal/rows"
	"github.com/embfit/embfit/internal/topk"
	"gonum.org/v1/gonum/blas/blas32"
)

// Default block sizes of the exact search. With them the score buffer is
// DefaultQueryBlock×DefaultCorpusBlock float32 = 32 MiB.
const (
	DefaultQueryBlock  = 1024
	DefaultCorpusBlock = 8192
)

// Hit is one search result: a corpus row and its score, the dot product
// of the query row and the corpus row accumulated in float64.
type Hit struct {
	Index int32
	Score float64
}

// better reports whether a ranks before b: higher score first, then the
// lower corpus row.
func better(a, b Hit) bool {
	return a.Score > b.Score || (a.Score == b.Score && a.Index < b.Index)
}

func compareHits(a, b Hit) int {
	if better(a, b) {
		return -1
	}
	if better(b, a) {
		return 1
	}
	return 0
}

// SearchSettings configures how TopK searches; every field's zero value
// means its default (what is searched for, k, is an argument of TopK).
type SearchSettings struct {
	// QueryBlock and CorpusBlock are the GEMM block shapes (rows of queries
	// and of corpus scored at once); 0 means DefaultQueryBlock and
	// DefaultCorpusBlock; negative sizes are invalid. The search's working memory is one
	// QueryBlock×CorpusBlock float32 score buffer plus the results
	// (queries × (k + k/4 + 4) hits of 16 bytes); it never depends on
	// queries×corpus.
	QueryBlock, CorpusBlock int
	// Workers is the number of goroutines selecting the top k from a score
	// block and rescoring, ≥ 1 (0: runtime.GOMAXPROCS(0)). Results do not
	// depend on it.
	Workers int
}

func (s SearchSettings) withDefaults() SearchSettings {
	if s.QueryBlock == 0 {
		s.QueryBlock = DefaultQueryBlock
	}
	if s.CorpusBlock == 0 {
		s.CorpusBlock = DefaultCorpusBlock
	}
	if s.Workers == 0 {
		s.Workers = runtime.GOMAXPROCS(0)
	}
	return s
}

// Validate reports the first invalid setting.
func (s SearchSettings) Validate() error {
	switch {
	case s.QueryBlock < 0 || s.CorpusBlock < 0:
		return fmt.Errorf("search: block sizes must be positive, got %d×%d", s.QueryBlock, s.CorpusBlock)
	case s.Workers < 0:
		return fmt.Errorf("search: workers must be positive, got %d", s.Workers)
	}
	return nil
}

// WorkingMemory returns the bytes TopK allocates besides its results for
// these settings: the score buffer of one query block × one corpus block.
func (s SearchSettings) WorkingMemory() int64 {
	s = s.withDefaults()
	return int64(s.QueryBlock) * int64(s.CorpusBlock) * 4
}

// slack is how many extra candidates per query the float32 pass keeps so
// that the exact float64 re-ranking rarely needs a second pass.
func slack(k int) int { return k/4 + 4 }

// Results holds the top k hits of each query, best first.
type Results struct {
	// K is the number of hits asked per query.
	K int
	// Hits holds the hits; query q's are Row(q).
	Hits   []Hit
	stride int
	// Len[q] is the number of hits of query q: K, or fewer when the corpus
	// minus excluded rows has fewer than K rows.
	Len []int
	// Rescanned counts the queries whose float32 candidates could not
	// prove the exact order (near-ties at rank K) and were searched again
	// with a threshold. It does not change the results.
	Rescanned int
}

// Row returns the hits of query q, best first.
func (r *Results) Row(q int) []Hit { return r.Hits[q*r.stride : q*r.stride+r.Len[q]] }

// reset sizes r for queries×stride hits, reusing its storage.
func (r *Results) reset(queries, k, stride int) {
	r.K, r.stride, r.Rescanned = k, stride, 0
	if cap(r.Hits) < queries*stride {
		r.Hits = make([]Hit, queries*stride)
	}
	r.Hits = r.Hits[:queries*stride]
	if cap(r.Len) < queries {
		r.Len = make([]int, queries)
	}
	r.Len = r.Len[:queries]
	clear(r.Len)
}

// Exclude reports whether corpus row c must not be a hit of query q. It is
// called concurrently and only for rows that could enter q's top k, so it
// must be safe for concurrent use and should be cheap. Excluded rows do not
// count toward k.
type Exclude func(q, c int) bool

// dotErrorBound bounds |float32 BLAS dot − exact dot| for vectors of length
// d with norms na and nb: 2·d·2⁻²⁴·na·nb (twice the classical γ_d bound,
// whatever the summation order or FMA use).
func dotErrorBound(d int, na, nb float64) float64 {
	return 2 * float64(d) * 0x1p-24 * na * nb
}

// TopK fills dst with the exact top k corpus rows of every query by dot
// product (pass L2-normalized rows for cosine similarity); k must be ≥ 1.
// queries is Q×D, corpus is C×D.
//
// Candidates are found block by block with one float32 GEMM per query
// block × corpus block through internal/linalg into a reused buffer, so
// memory is bounded by s.WorkingMemory() plus dst, never Q×C; a bounded
// heap per query keeps the best k + k/4 + 4. They are then re-scored with
// float64 dot products and ranked by (score descending, corpus row
// ascending). Using a bound on the float32 rounding error, TopK checks
// that no row outside the candidates can enter the top k; for the rare
// queries where it cannot prove this (near-ties), it scans the corpus again
// keeping every row that might. The result is therefore the exact float64
// ranking, identical across runs, worker counts, BLAS thread counts and
// block sizes. Rows with a NaN score are skipped. exclude may be nil.
//
// progress, if not nil, is called after each block with the number of
// query×corpus scores done and the total. TopK returns ctx.Err() if ctx is
// cancelled (dst is then incomplete).
func TopK(ctx context.Context, dst *Results, queries, corpus blas32.General, k int, s SearchSettings, exclude Exclude, progress func(done, total int64)) error {
	if k < 1 {
		return fmt.Errorf("search: k must be ≥ 1, got %d", k)
	}
	if err := s.Validate(); err != nil {
		return err
	}
	if queries.Cols != corpus.Cols {
		panic(fmt.Sprintf("mining: query dimension %d != corpus dimension %d", queries.Cols, corpus.Cols))
	}
	s = s.withDefaults()
	kk := k + slack(k)
	dst.reset(queries.Rows, k, kk)
	total := int64(queries.Rows) * int64(corpus.Rows)
	var done int64
	prog := func(n int64) {
		done += n
		if progress != nil {
			progress(min(done, total), total)
		}
	}
	err := scanBlocks(ctx, queries, corpus, s, prog, func(q, c0 int, row []float32) {
		h := dst.Hits[q*kk : q*kk+dst.Len[q] : (q+1)*kk]
		dst.Len[q] = len(pushRow(h, row, q, c0, exclude))
	})
	if err != nil {
		return err
	}

	// Exact re-ranking, and the threshold each unproven query needs.
	maxNorm := 0.0
	for c := range corpus.Rows {
		maxNorm = max(maxNorm, rows.Norm(linalg.Row(corpus, c)))
	}
	thresholds := make([]float64, queries.Rows) // NaN: proven
	parallelRange(queries.Rows, s.Workers, func(q0, q1 int) {
		var q64 []float64
		for q := q0; q < q1; q++ {
			thresholds[q] = math.NaN()
			h := dst.Hits[q*kk : q*kk+dst.Len[q]]
			if len(h) == 0 {
				continue
			}
			worst := h[0].Score // the heap root: lowest float32 score kept
			qv := linalg.Row(queries, q)
			q64 = toFloat64(q64, qv)
			for i := range h {
				h[i].Score = dot64(q64, linalg.Row(corpus, int(h[i].Index)))
			}
			slices.SortFunc(h, compareHits)
			n := min(k, len(h))
			eps := dotErrorBound(queries.Cols, rows.Norm(qv), maxNorm)
			if len(h) == kk && eps > 0 && !(h[n-1].Score > worst+eps) {
				// A row left out (float32 score ≤ worst) might score up
				// to worst+eps: keep every row with float32 score ≥
				// kth−eps in a second pass.
				thresholds[q] = h[n-1].Score - eps
			}
			dst.Len[q] = n
		}
	})
	var redo []int
	for q, t := range thresholds {
		if !math.IsNaN(t) {
			redo = append(redo, q)
		}
	}
	dst.Rescanned = len(redo)
	if len(redo) == 0 {
		return nil
	}
	sub := linalg.NewMatrix(len(redo), queries.Cols)
	for i, q := range redo {
		copy(linalg.Row(sub, i), linalg.Row(queries, q))
	}
	found := make([][]Hit, len(redo))
	err = scanBlocks(ctx, sub, corpus, s, nil, func(i, c0 int, row []float32) {
		q, t := redo[i], float32Below(thresholds[redo[i]])
		for j, sc := range row {
			if sc >= t && (exclude == nil || !exclude(q, c0+j)) {
				found[i] = append(found[i], Hit{Index: int32(c0 + j)})
			}
		}
	})
	if err != nil {
		return err
	}
	parallelRange(len(redo), s.Workers, func(i0, i1 int) {
		var q64 []float64
		for i := i0; i < i1; i++ {
			q := redo[i]
			q64 = toFloat64(q64, linalg.Row(queries, q))
			f := found[i]
			for j := range f {
				f[j].Score = dot64(q64, linalg.Row(corpus, int(f[j].Index)))
			}
			slices.SortFunc(f, compareHits)
			dst.Len[q] = copy(dst.Hits[q*kk:q*kk+k], f)
			found[i] = nil
		}
	})
	return nil
}

// float32Below returns the largest float32 not above x.
func float32Below(x float64) float32 {
	f := float32(x)
	if float64(f) > x {
		f = math.Nextafter32(f, float32(math.Inf(-1)))
	}
	return f
}

// scanBlocks computes queries×corpusᵀ one QueryBlock×CorpusBlock GEMM at a
// time into one reused buffer (internal/linalg spreads each GEMM over the
// cores) and calls fn for every query row of each block (query index,
// first corpus row of the block, scores), from s.Workers goroutines that
// each own a contiguous range of the block's queries. For a given query,
// blocks arrive in increasing corpus order. done, if not nil, gets the
// number of scores of each finished block. (Overlapping one query block's
// GEMM with another's scan measured no faster on 2 cores.)
func scanBlocks(ctx context.Context, queries, corpus blas32.General, s SearchSettings, done func(int64), fn func(q, c0 int, row []float32)) error {
	qb := min(s.QueryBlock, max(queries.Rows, 1))
	cb := min(s.CorpusBlock, max(corpus.Rows, 1))
	buf := make([]float32, qb*cb)
	for q0 := 0; q0 < queries.Rows; q0 += qb {
		q1 := min(q0+qb, queries.Rows)
		qm := linalg.Slice(queries, q0, q1)
		for c0 := 0; c0 < corpus.Rows; c0 += cb {
			if err := ctx.Err(); err != nil {
				return err
			}
			c1 := min(c0+cb, corpus.Rows)
			scores := blas32.General{Rows: q1 - q0, Cols: c1 - c0, Stride: c1 - c0, Data: buf[:(q1-q0)*(c1-c0)]}
			linalg.MulT(scores, qm, linalg.Slice(corpus, c0, c1))
			parallelRange(q1-q0, s.Workers, func(r0, r1 int) {
				for r := r0; r < r1; r++ {
					fn(q0+r, c0, scores.Data[r*scores.Stride:r*scores.Stride+scores.Cols])
				}
			})
			if done != nil {
				done(int64(q1-q0) * int64(c1-c0))
			}
		}
	}
	return nil
}

// parallelRange splits [0, n) into at most workers contiguous ranges and
// runs fn on each concurrently (par.Ranges), returning when all are done.
func parallelRange(n, workers int, fn func(lo, hi int)) {
	par.Ranges(workers, workers, n, func(_, lo, hi int) { fn(lo, hi) })
}

// pushRow offers the scores of corpus rows c0, c0+1, ... to the heap h
// (worst at h[0], at most cap(h) hits; see internal/topk) and returns it.
// Rows arrive in increasing order, so a score equal to the worst kept one
// never displaces it (the kept row is lower).
func pushRow(h []Hit, row []float32, q, c0 int, exclude Exclude) []Hit {
	for j := 0; j < len(row); j++ {
		if len(h) == cap(h) {
			j = skipBelow(row, j, float32(h[0].Score))
			if j == len(row) {
				break
			}
		}
		sc := row[j]
		if sc != sc { // NaN
			continue
		}
		c := c0 + j
		if exclude != nil && exclude(q, c) {
			continue
		}
		h = topk.Push(h, Hit{Index: int32(c), Score: float64(sc)}, better)
	}
	return h
}

// skipBelow returns the first index i >= j with row[i] > thr, or len(row).
// It is the hot loop of the search: most scores fall below the k-th best.
func skipBelow(row []float32, j int, thr float32) int {
	for ; j+8 <= len(row); j += 8 {
		r := row[j : j+8 : j+8]
		if r[0] > thr || r[1] > thr || r[2] > thr || r[3] > thr || r[4] > thr || r[5] > thr || r[6] > thr || r[7] > thr {
			break
		}
	}
	for ; j < len(row); j++ {
		if row[j] > thr {
			return j
		}
	}
	return j
}
