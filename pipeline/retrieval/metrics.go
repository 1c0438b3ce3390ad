// Package retrieval computes retrieval metrics of embeddings: precision@1,
// R-precision, MAP@R, recall@k, MRR@10 and NDCG@10, overall, per query and
// per class, and similarity histograms with ROC-AUC and thresholds.
//
// Two settings are supported:
//
//   - labelled (EvaluateLabelled): every item queries all the others;
//     an item is relevant to a query when it has the query's label;
//   - pairs (EvaluatePairs): query i searches a separate corpus; the
//     relevant corpus rows are its positives.
//
// Scores are cosine similarities (rows are L2-normalized first; a zero row
// scores 0 against everything). The corpus is ranked by score, descending,
// ties broken by the lower corpus index. A query is never its own neighbour.
// Queries with no relevant item (a singleton class, a query without
// positives) are skipped and counted in Metrics.Skipped.
//
// Per query q with R relevant items and ranked list r_1, r_2, … (rel(i)=1
// when r_i is relevant, P(i) = precision of the first i):
//
//	precision@1  = rel(1)
//	R-precision  = (1/R) Σ_{i≤R} rel(i)
//	MAP@R        = (1/R) Σ_{i≤R} P(i)·rel(i)    (Musgrave et al. 2020)
//	recall@k     = 1 if some r_i, i≤k, is relevant, else 0
//	               (the metric-learning "Recall@K" of Song et al. 2016; with
//	               one positive per query it equals the IR recall)
//	MRR@10       = 1/i for the first relevant i ≤ 10, else 0
//	NDCG@10      = Σ_{i≤10} rel(i)/log2(i+1) / Σ_{i≤min(R,10)} 1/log2(i+1)
//
// each averaged over the non-skipped queries. Pair-verification ROC-AUC is
// P(s_pos > s_neg) + ½·P(s_pos = s_neg) over all positive and negative
// pairs (labelled: unordered pairs i<j; pairs setting: every query×corpus
// pair except a query's own row), computed from a histogram of
// NumSimilarityBins equal bins over [-1, 1]; pairs that share a bin count
// as ties, and SimilarityHistogram.ROCAUC reports the largest error this can
// cause (below 1e-5 in practice, the size of float32 rounding in the dot
// products themselves).
//
// Memory: scores are computed block by block (QueryBlock × CorpusBlock
// through internal/linalg) and each query of the current block keeps only a
// bounded top-K list (K = max(R, 10, largest recall k)), so memory is
// O(QueryBlock·(CorpusBlock + K_max) + N·D) plus a 16 MiB histogram per
// worker, never O(N²).
//
// Determinism: results do not depend on Workers. Scores come from float32
// GEMMs, so changing the block sizes can change a score in its last bit
// (a different BLAS tile computes it), which only matters for exact ties.
package retrieval

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/internal/par"
	"github.com/embfit/embfit/internal/rows"
	"github.com/embfit/embfit/internal/topk"
)

// NumSimilarityBins is the number of equal-width bins over [-1, 1] of a
// SimilarityHistogram (bin width 2⁻¹⁹ ≈ 1.9e-6).
const NumSimilarityBins = 1 << 20

// Settings configures EvaluateLabelled and EvaluatePairs. The zero
// value means the defaults documented on each field.
type Settings struct {
	// RecallK lists the k of recall@k, ascending, each ≥ 1.
	// Default [1, 5, 10].
	RecallK []int `json:"recall_k"`
	// QueryBlock is how many queries are scored at once. Default 512.
	QueryBlock int `json:"query_block"`
	// CorpusBlock is how many corpus rows are scored at once. Default 8192.
	CorpusBlock int `json:"corpus_block"`
	// Negatives is how many of the highest-scoring non-relevant items are
	// kept per query in QueryMetrics.TopNegatives (for label-noise and
	// false-negative reports). Default 3; negative means none.
	Negatives int `json:"negatives"`
	// Workers is the number of goroutines ranking rows in parallel.
	// Default runtime.GOMAXPROCS(0). Results do not depend on it.
	Workers int `json:"-"`
	// PerQuery keeps Result.PerQuery (one entry per query).
	PerQuery bool `json:"per_query"`
	// Progress, when non-nil, is called after each query block with the
	// number of queries done and the total.
	Progress func(done, total int) `json:"-"`
}

func (s Settings) withDefaults() (Settings, error) {
	if s.RecallK == nil {
		s.RecallK = []int{1, 5, 10}
	}
	for i, k := range s.RecallK {
		if k < 1 || (i > 0 && k <= s.RecallK[i-1]) {
			return s, fmt.Errorf("recall k must be ascending and ≥ 1, got %v", s.RecallK)
		}
	}
	if s.QueryBlock == 0 {
		s.QueryBlock = 512
	}
	if s.CorpusBlock == 0 {
		s.CorpusBlock = 8192
	}
	if s.QueryBlock < 0 || s.CorpusBlock < 0 {
		return s, fmt.Errorf("block sizes must be positive, got query %d corpus %d", s.QueryBlock, s.CorpusBlock)
	}
	if s.Negatives == 0 {
		s.Negatives = 3
	}
	if s.Negatives < 0 {
		s.Negatives = 0
	}
	if s.Workers <= 0 {
		s.Workers = runtime.GOMAXPROCS(0)
	}
	return s, nil
}

// RecallAt is recall@K averaged over queries.
type RecallAt struct {
	K      int     `json:"k"`
	Recall float64 `json:"recall"`
}

// Metrics are retrieval metrics averaged over the non-skipped
// queries; every value is in [0, 1]. See the package comment for the
// definitions.
type Metrics struct {
	// Queries is the number of queries averaged over.
	Queries int `json:"queries"`
	// Skipped is the number of queries with no relevant item.
	Skipped      int        `json:"skipped"`
	PrecisionAt1 float64    `json:"precision_at_1"`
	RPrecision   float64    `json:"r_precision"`
	MAPAtR       float64    `json:"map_at_r"`
	MRRAt10      float64    `json:"mrr_at_10"`
	NDCGAt10     float64    `json:"ndcg_at_10"`
	Recall       []RecallAt `json:"recall"`
	// ROCAUC is the pair-verification ROC-AUC (ties count half); NaN when
	// there are no positive or no negative pairs.
	ROCAUC float64 `json:"roc_auc"`
}

// MarshalJSON writes m with a NaN ROCAUC as null.
func (m Metrics) MarshalJSON() ([]byte, error) {
	type plain Metrics
	return json.Marshal(struct {
		plain
		ROCAUC *float64 `json:"roc_auc"`
	}{plain(m), finiteOrNil(m.ROCAUC)})
}

// finiteOrNil returns &v, or nil (JSON null) when v is NaN or infinite.
func finiteOrNil(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// RecallAtK returns recall@k, or NaN when k was not computed.
func (m Metrics) RecallAtK(k int) float64 {
	for _, r := range m.Recall {
		if r.K == k {
			return r.Recall
		}
	}
	return math.NaN()
}

// Neighbour is a ranked corpus row and its cosine similarity to a query.
type Neighbour struct {
	Index int     `json:"index"`
	Score float32 `json:"score"`
	// RelevantAbove is the number of relevant items ranked above it.
	RelevantAbove int `json:"relevant_above"`
}

// QueryMetrics holds one query's metrics. Recall is parallel to
// Settings.RecallK.
type QueryMetrics struct {
	// R is the number of relevant items; 0 means the query was skipped and
	// every metric is zero.
	R            int       `json:"r"`
	PrecisionAt1 float64   `json:"precision_at_1"`
	RPrecision   float64   `json:"r_precision"`
	APAtR        float64   `json:"ap_at_r"`
	MRRAt10      float64   `json:"mrr_at_10"`
	NDCGAt10     float64   `json:"ndcg_at_10"`
	Recall       []float64 `json:"recall"`
	// FirstRelevant is the 1-based rank of the first relevant item, 0 when
	// none is within the kept top-K list.
	FirstRelevant int `json:"first_relevant"`
	// TopNegatives are the highest-scoring non-relevant items, best first
	// (at most Settings.Negatives, only from the top-K list).
	TopNegatives []Neighbour `json:"top_negatives"`
}

// Result is what EvaluateLabelled and EvaluatePairs return.
type Result struct {
	Settings Settings `json:"settings"`
	Metrics  Metrics  `json:"metrics"`
	// AUCMaxError bounds |Metrics.ROCAUC − exact ROC-AUC| (see
	// SimilarityHistogram.ROCAUC).
	AUCMaxError float64 `json:"roc_auc_max_error"`
	// Hist counts the similarities of every positive and negative pair.
	Hist *SimilarityHistogram `json:"-"`
	// PerQuery has one entry per query when Settings.PerQuery is set.
	PerQuery []QueryMetrics `json:"-"`
}

// EvaluateLabelled computes retrieval metrics in the labelled setting: each
// row of x (N×D) queries the N−1 others; relevant = same label
// (labels has length N).
func EvaluateLabelled(ctx context.Context, x blas32.General, labels []int, s Settings) (*Result, error) {
	if len(labels) != x.Rows {
		return nil, fmt.Errorf("metrics: %d labels for %d rows", len(labels), x.Rows)
	}
	counts := map[int]int{}
	for _, l := range labels {
		counts[l]++
	}
	r := make([]int, len(labels))
	for i, l := range labels {
		r[i] = counts[l] - 1
	}
	u, err := normalized(x)
	if err != nil {
		return nil, err
	}
	job := search{
		q: u, c: u, r: r, labels: labels,
		self: func(qi int) int { return qi },
	}
	return job.run(ctx, s)
}

// EvaluatePairs computes retrieval metrics in the pairs setting: row i of
// queries (Q×D) searches corpus (C×D); positives[i] lists the corpus rows
// relevant to query i (duplicates ignored). self, when non-nil, gives for
// each query the corpus row that is the query itself (−1 for none); that
// row is never ranked nor counted as a pair.
func EvaluatePairs(ctx context.Context, queries, corpus blas32.General, positives [][]int, self []int, s Settings) (*Result, error) {
	if len(positives) != queries.Rows {
		return nil, fmt.Errorf("metrics: positives for %d queries, have %d queries", len(positives), queries.Rows)
	}
	if self != nil && len(self) != queries.Rows {
		return nil, fmt.Errorf("metrics: self has %d entries for %d queries", len(self), queries.Rows)
	}
	if queries.Cols != corpus.Cols {
		return nil, fmt.Errorf("metrics: queries have dimension %d, corpus %d", queries.Cols, corpus.Cols)
	}
	pos := make([][]int, len(positives))
	r := make([]int, len(positives))
	for i, p := range positives {
		q := slices.Clone(p)
		slices.Sort(q)
		q = slices.Compact(q)
		for _, j := range q {
			if j < 0 || j >= corpus.Rows {
				return nil, fmt.Errorf("metrics: query %d: positive %d outside corpus of %d rows", i, j, corpus.Rows)
			}
		}
		if self != nil && self[i] >= 0 {
			q = slices.DeleteFunc(q, func(j int) bool { return j == self[i] })
		}
		pos[i] = q
		r[i] = len(q)
	}
	uq, err := normalized(queries)
	if err != nil {
		return nil, fmt.Errorf("queries: %w", err)
	}
	uc, err := normalized(corpus)
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	job := search{
		q: uq, c: uc, r: r,
		relevant: func(qi, j int) bool {
			for _, p := range pos[qi] {
				if p == j {
					return true
				}
			}
			return false
		},
		self: func(qi int) int {
			if self == nil {
				return -1
			}
			return self[qi]
		},
	}
	return job.run(ctx, s)
}

// normalized returns a copy of x with unit rows (zero rows stay zero).
// Non-finite values are an error.
func normalized(x blas32.General) (blas32.General, error) {
	for i := 0; i < x.Rows; i++ {
		for _, v := range linalg.Row(x, i) {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return blas32.General{}, fmt.Errorf("row %d: non-finite value %v", i, v)
			}
		}
	}
	u := linalg.NewMatrix(x.Rows, x.Cols)
	rows.Normalize(u, x)
	return u, nil
}

// search is one evaluation: normalized queries and corpus, R per query, the
// relevance test and the self row to exclude.
type search struct {
	q, c blas32.General
	r    []int
	// labels, in the labelled setting, defines relevance (same label); each
	// unordered pair is then counted once (j > qi) in the histogram.
	labels []int
	// relevant is the relevance test of the pairs setting.
	relevant func(qi, j int) bool
	self     func(qi int) int
}

// item is a candidate in a bounded top-K list.
type item struct {
	score float32
	idx   int32
	rel   bool
}

// better is the ranking order: higher score first, then lower index.
func better(a, b item) bool {
	return a.score > b.score || (a.score == b.score && a.idx < b.idx)
}

func (j *search) run(ctx context.Context, s Settings) (*Result, error) {
	s, err := s.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	nq, nc := j.q.Rows, j.c.Rows
	baseK := 10
	if kk := s.RecallK[len(s.RecallK)-1]; kk > baseK {
		baseK = kk
	}
	if s.Negatives > baseK {
		baseK = s.Negatives
	}
	res := &Result{Settings: s}
	if s.PerQuery {
		res.PerQuery = make([]QueryMetrics, nq)
	}
	workers := s.Workers
	hists := make([]*SimilarityHistogram, workers)
	for w := range hists {
		hists[w] = NewSimilarityHistogram()
	}
	var totals totals
	totals.recall = make([]float64, len(s.RecallK))
	heaps := make([][]item, s.QueryBlock) // bounded top-k per query (internal/topk)
	qm := make([]QueryMetrics, s.QueryBlock)
	block := linalg.NewMatrix(s.QueryBlock, min(s.CorpusBlock, max(nc, 1)))

	for q0 := 0; q0 < nq; q0 += s.QueryBlock {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		q1 := min(q0+s.QueryBlock, nq)
		for i := q0; i < q1; i++ {
			k := max(baseK, j.r[i])
			k = min(k, nc)
			if cap(heaps[i-q0]) < k {
				heaps[i-q0] = make([]item, 0, k)
			}
			heaps[i-q0] = heaps[i-q0][:0:k]
		}
		for c0 := 0; c0 < nc; c0 += s.CorpusBlock {
			c1 := min(c0+s.CorpusBlock, nc)
			sc := blas32.General{Rows: q1 - q0, Cols: c1 - c0, Stride: block.Stride, Data: block.Data}
			linalg.MulT(sc, linalg.Slice(j.q, q0, q1), linalg.Slice(j.c, c0, c1))
			j.parallelRows(workers, q0, q1, func(w, i int) {
				row := linalg.Row(sc, i-q0)
				hist := hists[w]
				self := j.self(i)
				var ql int
				if j.labels != nil {
					ql = j.labels[i]
				}
				for jj, v := range row {
					c := c0 + jj
					if c == self {
						continue
					}
					var rel bool
					if j.labels != nil {
						rel = j.labels[c] == ql
					} else {
						rel = j.relevant(i, c)
					}
					if j.labels == nil || c > i {
						hist.Add(v, rel)
					}
					heaps[i-q0] = topk.Push(heaps[i-q0], item{score: v, idx: int32(c), rel: rel}, better)
				}
			})
		}
		j.parallelRows(workers, q0, q1, func(_, i int) {
			qm[i-q0] = queryMetrics(topk.Sort(heaps[i-q0], better), j.r[i], s.RecallK, s.Negatives)
		})
		for i := q0; i < q1; i++ { // fixed order: deterministic totals
			m := qm[i-q0]
			if res.PerQuery != nil {
				res.PerQuery[i] = m
			}
			totals.add(m)
		}
		if s.Progress != nil {
			s.Progress(q1, nq)
		}
	}
	hist := hists[0]
	for _, h := range hists[1:] {
		hist.Merge(h)
	}
	res.Hist = hist
	res.Metrics = totals.metrics(s.RecallK)
	res.Metrics.ROCAUC, res.AUCMaxError = hist.ROCAUC()
	return res, nil
}

// parallelRows calls f(part, i) for i in [q0, q1), split into workers
// contiguous ranges (par.Ranges: per-part state sees the same rows
// whatever goroutine runs them).
func (j *search) parallelRows(workers, q0, q1 int, f func(w, i int)) {
	par.Ranges(workers, workers, q1-q0, func(p, lo, hi int) {
		for i := q0 + lo; i < q0+hi; i++ {
			f(p, i)
		}
	})
}

// queryMetrics scores one ranked list (best first) with R relevant items.
func queryMetrics(ranked []item, r int, recallK []int, negatives int) QueryMetrics {
	m := QueryMetrics{R: r, Recall: make([]float64, len(recallK))}
	above := 0
	for _, it := range ranked {
		if it.rel {
			above++
		} else if len(m.TopNegatives) < negatives {
			m.TopNegatives = append(m.TopNegatives, Neighbour{Index: int(it.idx), Score: it.score, RelevantAbove: above})
		}
	}
	if r == 0 {
		return m
	}
	var hits int
	var ap, dcg, idcg float64
	for i, it := range ranked {
		rank := i + 1
		if it.rel {
			hits++
			if m.FirstRelevant == 0 {
				m.FirstRelevant = rank
			}
			if rank <= r {
				ap += float64(hits) / float64(rank)
			}
			if rank <= 10 {
				dcg += 1 / math.Log2(float64(rank)+1)
			}
		}
		if rank == r {
			m.RPrecision = float64(hits) / float64(r)
		}
	}
	if len(ranked) < r { // corpus smaller than R cannot happen, but stay safe
		m.RPrecision = float64(hits) / float64(r)
	}
	for i := 1; i <= min(r, 10); i++ {
		idcg += 1 / math.Log2(float64(i)+1)
	}
	m.APAtR = ap / float64(r)
	m.NDCGAt10 = dcg / idcg
	if m.FirstRelevant == 1 {
		m.PrecisionAt1 = 1
	}
	if m.FirstRelevant > 0 && m.FirstRelevant <= 10 {
		m.MRRAt10 = 1 / float64(m.FirstRelevant)
	}
	for i, k := range recallK {
		if m.FirstRelevant > 0 && m.FirstRelevant <= k {
			m.Recall[i] = 1
		}
	}
	return m
}

// totals accumulates per-query metrics in query order.
type totals struct {
	n, skipped            int
	p1, rp, ap, mrr, ndcg float64
	recall                []float64
}

func (s *totals) add(m QueryMetrics) {
	if m.R == 0 {
		s.skipped++
		return
	}
	s.n++
	s.p1 += m.PrecisionAt1
	s.rp += m.RPrecision
	s.ap += m.APAtR
	s.mrr += m.MRRAt10
	s.ndcg += m.NDCGAt10
	for i, v := range m.Recall {
		s.recall[i] += v
	}
}

func (s *totals) metrics(recallK []int) Metrics {
	m := Metrics{Queries: s.n, Skipped: s.skipped, Recall: make([]RecallAt, len(recallK))}
	for i, k := range recallK {
		m.Recall[i].K = k
	}
	if s.n == 0 {
		return m
	}
	n := float64(s.n)
	m.PrecisionAt1, m.RPrecision, m.MAPAtR = s.p1/n, s.rp/n, s.ap/n
	m.MRRAt10, m.NDCGAt10 = s.mrr/n, s.ndcg/n
	for i := range recallK {
		m.Recall[i].Recall = s.recall[i] / n
	}
	return m
}

// AverageQueryMetrics averages the non-skipped entries of perQuery (all of
// them, or only those whose index is in rows when rows is non-nil), for
// example one class's queries. ROCAUC is left NaN.
func AverageQueryMetrics(perQuery []QueryMetrics, rows []int, recallK []int) Metrics {
	var s totals
	s.recall = make([]float64, len(recallK))
	if rows == nil {
		for _, m := range perQuery {
			s.add(m)
		}
	} else {
		for _, i := range rows {
			s.add(perQuery[i])
		}
	}
	m := s.metrics(recallK)
	m.ROCAUC = math.NaN()
	return m
}

// ClassMetrics are the retrieval metrics of one class's queries.
type ClassMetrics struct {
	Label   int     `json:"label"`
	Size    int     `json:"size"`
	Metrics Metrics `json:"metrics"`
}

// PerClassMetrics groups per-query metrics (from EvaluateLabelled with
// PerQuery set) by label and returns one entry per label with at least one
// non-skipped query, worst MAP@R first (ties: lower label first).
func PerClassMetrics(perQuery []QueryMetrics, labels []int, recallK []int) []ClassMetrics {
	if len(perQuery) != len(labels) {
		panic("pipeline: PerClassMetrics: perQuery and labels differ in length")
	}
	rows := map[int][]int{}
	for i, l := range labels {
		rows[l] = append(rows[l], i)
	}
	var out []ClassMetrics
	for l, rs := range rows {
		m := AverageQueryMetrics(perQuery, rs, recallK)
		if m.Queries == 0 {
			continue
		}
		out = append(out, ClassMetrics{Label: l, Size: len(rs), Metrics: m})
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Metrics.MAPAtR != out[b].Metrics.MAPAtR {
			return out[a].Metrics.MAPAtR < out[b].Metrics.MAPAtR
		}
		return out[a].Label < out[b].Label
	})
	return out
}

// SimilarityHistogram counts the cosine similarities of positive and
// negative pairs in NumSimilarityBins equal-width bins over [-1, 1]
// (values outside are clamped into the end bins).
type SimilarityHistogram struct {
	Pos, Neg []uint64
}

// NewSimilarityHistogram returns an empty histogram.
func NewSimilarityHistogram() *SimilarityHistogram {
	return &SimilarityHistogram{Pos: make([]uint64, NumSimilarityBins), Neg: make([]uint64, NumSimilarityBins)}
}

// SimilarityBin returns the bin of similarity s.
func SimilarityBin(s float32) int {
	b := int((float64(s) + 1) * (NumSimilarityBins / 2))
	return min(max(b, 0), NumSimilarityBins-1)
}

// Add counts one pair with similarity s; positive selects the histogram.
func (h *SimilarityHistogram) Add(s float32, positive bool) {
	if positive {
		h.Pos[SimilarityBin(s)]++
	} else {
		h.Neg[SimilarityBin(s)]++
	}
}

// Merge adds o's counts into h.
func (h *SimilarityHistogram) Merge(o *SimilarityHistogram) {
	for i := range h.Pos {
		h.Pos[i] += o.Pos[i]
		h.Neg[i] += o.Neg[i]
	}
}

// Counts returns the number of positive and negative pairs.
func (h *SimilarityHistogram) Counts() (pos, neg uint64) {
	for i := range h.Pos {
		pos += h.Pos[i]
		neg += h.Neg[i]
	}
	return pos, neg
}

// ROCAUC returns P(s_pos > s_neg) + ½·P(s_pos = s_neg), treating pairs in
// the same bin as ties, and maxErr, the largest difference this can make
// to the exact value: Σ_b pos_b·neg_b / (2·P·N). Both are NaN without
// positive or negative pairs.
func (h *SimilarityHistogram) ROCAUC() (auc, maxErr float64) {
	p, n := h.Counts()
	if p == 0 || n == 0 {
		return math.NaN(), math.NaN()
	}
	var below, sum, same float64
	for b := range h.Pos {
		pb, nb := float64(h.Pos[b]), float64(h.Neg[b])
		sum += pb * (below + nb/2)
		same += pb * nb
		below += nb
	}
	d := float64(p) * float64(n)
	return sum / d, same / (2 * d)
}

// binLow is the lower edge of fine bin b.
func binLow(b int) float64 { return -1 + 2*float64(b)/NumSimilarityBins }

// Quantile returns the similarity below which a fraction q of the positive
// (positive=true) or negative pairs lie, to bin resolution (the bin's upper
// edge); NaN when there are none.
func (h *SimilarityHistogram) Quantile(positive bool, q float64) float64 {
	c := h.Neg
	if positive {
		c = h.Pos
	}
	var total uint64
	for _, v := range c {
		total += v
	}
	if total == 0 {
		return math.NaN()
	}
	target := q * float64(total)
	var cum uint64
	for b, v := range c {
		cum += v
		if v > 0 && float64(cum) >= target {
			return binLow(b + 1)
		}
	}
	return 1
}

// ThresholdResult is the best similarity threshold for pair verification:
// a pair is predicted positive when its similarity is ≥ Threshold.
type ThresholdResult struct {
	Threshold float64 `json:"threshold"`
	// Accuracy is (TP+TN)/(P+N) at Threshold.
	Accuracy float64 `json:"accuracy"`
	// BalancedAccuracy is (TP/P + TN/N)/2 at Threshold.
	BalancedAccuracy float64 `json:"balanced_accuracy"`
}

// MarshalJSON writes t with NaN or infinite values as null.
func (t ThresholdResult) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Threshold        *float64 `json:"threshold"`
		Accuracy         *float64 `json:"accuracy"`
		BalancedAccuracy *float64 `json:"balanced_accuracy"`
	}{finiteOrNil(t.Threshold), finiteOrNil(t.Accuracy), finiteOrNil(t.BalancedAccuracy)})
}

// BestThreshold returns the bin edge that maximizes accuracy (balanced=false)
// or balanced accuracy (balanced=true), the lowest such edge on ties.
func (h *SimilarityHistogram) BestThreshold(balanced bool) ThresholdResult {
	p, n := h.Counts()
	if p+n == 0 {
		return ThresholdResult{Threshold: math.NaN(), Accuracy: math.NaN(), BalancedAccuracy: math.NaN()}
	}
	// threshold at edge b: TP = pos in bins ≥ b, TN = neg in bins < b.
	tp, tn := float64(p), 0.0
	best := ThresholdResult{Threshold: math.Inf(-1)}
	bestScore := math.Inf(-1)
	fp, fn := float64(p), float64(n)
	for b := 0; b <= NumSimilarityBins; b++ {
		if b > 0 {
			tp -= float64(h.Pos[b-1])
			tn += float64(h.Neg[b-1])
			if h.Pos[b-1] == 0 && h.Neg[b-1] == 0 {
				continue
			}
		}
		acc := (tp + tn) / (fp + fn)
		bal := 0.0
		if p > 0 {
			bal += tp / fp / 2
		}
		if n > 0 {
			bal += tn / fn / 2
		}
		if p == 0 || n == 0 {
			bal *= 2
		}
		score := acc
		if balanced {
			score = bal
		}
		if score > bestScore {
			bestScore = score
			best = ThresholdResult{Threshold: binLow(b), Accuracy: acc, BalancedAccuracy: bal}
		}
	}
	return best
}

// Coarse returns the histogram in bins equal-width bins over [-1, 1]:
// edges has bins+1 entries; pos and neg the counts. bins must divide
// NumSimilarityBins.
func (h *SimilarityHistogram) Coarse(bins int) (edges []float64, pos, neg []uint64) {
	if bins <= 0 || NumSimilarityBins%bins != 0 {
		panic(fmt.Sprintf("pipeline: Coarse: %d does not divide %d", bins, NumSimilarityBins))
	}
	f := NumSimilarityBins / bins
	edges = make([]float64, bins+1)
	for i := range edges {
		edges[i] = binLow(i * f)
	}
	pos, neg = make([]uint64, bins), make([]uint64, bins)
	for b := range h.Pos {
		pos[b/f] += h.Pos[b]
		neg[b/f] += h.Neg[b]
	}
	return edges, pos, neg
}

// Overlap returns the overlap coefficient Σ_b min(pos_b/P, neg_b/N) of the
// positive and negative similarity distributions at the given coarse
// binning: 0 = perfectly separated, 1 = identical. NaN without pairs.
func (h *SimilarityHistogram) Overlap(bins int) float64 {
	_, pos, neg := h.Coarse(bins)
	p, n := h.Counts()
	if p == 0 || n == 0 {
		return math.NaN()
	}
	var o float64
	for b := range pos {
		o += math.Min(float64(pos[b])/float64(p), float64(neg[b])/float64(n))
	}
	return o
}
