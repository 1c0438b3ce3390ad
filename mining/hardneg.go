package mining

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/embfit/embfit/internal/inputerr"
	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/internal/rows"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/stat"
)

// queryChunk is how many queries Mine searches at once (a variable so that
// tests can exercise several chunks).
var queryChunk = 1 << 16

// Sampling strategies: how num_negatives are taken from the candidates
// that pass every filter.
const (
	SamplingTop    = "top"    // the best-ranked candidates
	SamplingRandom = "random" // a uniform sample, seeded per query
)

// Settings configures hard-negative mining. Every field's zero value
// means its default, so Settings{} mines 3 negatives from ranks [0, 50)
// with no score filter; a score filter is off when its pointer is nil
// (the one way to say "off"). Mine validates the settings (Validate).
type Settings struct {
	// NumNegatives is how many negatives each query gets: ≥ 1 (0: 3).
	NumNegatives int `json:"num_negatives"`
	// RangeMin and RangeMax bound the rank window [RangeMin, RangeMax):
	// 0 ≤ RangeMin < RangeMax (RangeMax 0: 50). Ranks count corpus rows by
	// descending score after the query's exclusions, from 0.
	RangeMin int `json:"range_min"`
	RangeMax int `json:"range_max"`
	// MaxScore drops candidates scoring above it; MinScore those below
	// (finite; MinScore ≤ MaxScore when both are set; nil: off).
	MaxScore *float64 `json:"max_score"`
	MinScore *float64 `json:"min_score"`
	// AbsoluteMargin a drops a candidate if s_neg > s_pos − a (finite;
	// nil: off).
	AbsoluteMargin *float64 `json:"absolute_margin"`
	// RelativeMargin r drops a candidate if s_neg > s_pos − r·|s_pos|
	// (finite, ≥ 0; nil: off).
	RelativeMargin *float64 `json:"relative_margin"`
	// Sampling is SamplingTop or SamplingRandom ("": SamplingTop).
	Sampling string `json:"sampling"`
	// Seed drives random sampling and, in labelled mode, the choice of
	// each item's output positive (any value; 0 is a seed like another).
	Seed uint64 `json:"seed"`
	// QueryBlock and CorpusBlock are the search's GEMM block shapes, ≥ 1
	// (0: DefaultQueryBlock and DefaultCorpusBlock; see SearchSettings).
	QueryBlock  int `json:"query_block"`
	CorpusBlock int `json:"corpus_block"`
	// IncludePositives keeps the query's positives (and, in labelled
	// mode, the rest of its label) among the ranked candidates, so the
	// output is a first-stage ranking of the corpus, positives included
	// (sentence-transformers' include_positives, for re-ranking
	// evaluation sets); only rows whose text equals the query's are
	// still excluded. The score filters and RangeMin apply as usual and
	// may drop positives too. Write it with an n-tuple format, which keeps
	// the ranking (CheckOutput).
	IncludePositives bool `json:"include_positives"`
}

// WithDefaults returns s with zero fields replaced by their defaults.
func (s Settings) WithDefaults() Settings {
	if s.NumNegatives == 0 {
		s.NumNegatives = 3
	}
	if s.RangeMax == 0 {
		s.RangeMax = 50
	}
	if s.Sampling == "" {
		s.Sampling = SamplingTop
	}
	if s.QueryBlock == 0 {
		s.QueryBlock = DefaultQueryBlock
	}
	if s.CorpusBlock == 0 {
		s.CorpusBlock = DefaultCorpusBlock
	}
	return s
}

// Validate reports the first invalid setting of s.WithDefaults() as an
// *inputerr.Error naming the setting by its JSON key (e.g. "range_max").
func (s Settings) Validate() error {
	s = s.WithDefaults()
	bad := inputerr.Settingf
	switch {
	case s.NumNegatives < 0:
		return bad("num_negatives", "must be ≥ 1, got %d", s.NumNegatives)
	case s.RangeMin < 0:
		return bad("range_min", "must be ≥ 0, got %d", s.RangeMin)
	case s.RangeMax <= s.RangeMin:
		return bad("range_max", "%d must be greater than range_min %d", s.RangeMax, s.RangeMin)
	case s.Sampling != SamplingTop && s.Sampling != SamplingRandom:
		return bad("sampling", "must be %q or %q, got %q", SamplingTop, SamplingRandom, s.Sampling)
	case s.QueryBlock < 0:
		return bad("query_block", "must be ≥ 1, got %d", s.QueryBlock)
	case s.CorpusBlock < 0:
		return bad("corpus_block", "must be ≥ 1, got %d", s.CorpusBlock)
	}
	for _, f := range []struct {
		name string
		v    *float64
	}{{"max_score", s.MaxScore}, {"min_score", s.MinScore}, {"absolute_margin", s.AbsoluteMargin}, {"relative_margin", s.RelativeMargin}} {
		if f.v != nil && (math.IsNaN(*f.v) || math.IsInf(*f.v, 0)) {
			return bad(f.name, "must be finite, got %v", *f.v)
		}
	}
	if s.RelativeMargin != nil && *s.RelativeMargin < 0 {
		return bad("relative_margin", "must be ≥ 0, got %v", *s.RelativeMargin)
	}
	if s.MaxScore != nil && s.MinScore != nil && *s.MinScore > *s.MaxScore {
		return bad("min_score", "%v is above max_score %v", *s.MinScore, *s.MaxScore)
	}
	return nil
}

// Problem is the input of Mine. Scores are dot products of query and
// corpus rows: pass L2-normalized rows (NormalizeRows) for cosine
// similarity. Exactly one of Positives (pairs mode) and the two label
// slices (labelled mode) is set.
type Problem struct {
	// Queries is Q×D and Corpus is C×D (the same matrix in labelled mode
	// is fine: Mine only reads them).
	Queries, Corpus blas32.General
	// QueryText (len Q) and CorpusText (len C) are the texts of the rows.
	// A candidate whose text equals the query's text or one of its
	// positives' texts is never a negative.
	QueryText, CorpusText []string
	// Positives (pairs mode) lists for each query the corpus rows of its
	// positives; every query needs at least one.
	Positives [][]int
	// QueryLabels (len Q) and CorpusLabels (len C) select labelled mode:
	// the positives of a query are the corpus rows with its label and a
	// different text, and no corpus row with its label (or with a text
	// that carries its label anywhere in the corpus) is a negative.
	QueryLabels, CorpusLabels []int
}

func (p *Problem) labelled() bool { return p.QueryLabels != nil }

func (p *Problem) check() error {
	q, c := p.Queries.Rows, p.Corpus.Rows
	switch {
	case p.Queries.Cols != p.Corpus.Cols:
		return fmt.Errorf("query dimension %d != corpus dimension %d", p.Queries.Cols, p.Corpus.Cols)
	case len(p.QueryText) != q || len(p.CorpusText) != c:
		return fmt.Errorf("%d query texts for %d query rows, %d corpus texts for %d corpus rows", len(p.QueryText), q, len(p.CorpusText), c)
	case p.labelled() && (len(p.QueryLabels) != q || len(p.CorpusLabels) != c):
		return fmt.Errorf("%d query labels for %d rows, %d corpus labels for %d rows", len(p.QueryLabels), q, len(p.CorpusLabels), c)
	case p.labelled() && p.Positives != nil:
		return errors.New("both positives and labels given")
	case !p.labelled() && len(p.Positives) != q:
		return fmt.Errorf("%d positive lists for %d queries", len(p.Positives), q)
	case q == 0:
		return errors.New("no queries")
	case c == 0:
		return errors.New("empty corpus")
	}
	for i, ps := range p.Positives {
		if len(ps) == 0 {
			return fmt.Errorf("query %d has no positive", i)
		}
		for _, c := range ps {
			if c < 0 || c >= p.Corpus.Rows {
				return fmt.Errorf("query %d: positive row %d out of range", i, c)
			}
		}
	}
	return nil
}

// QueryResult is what Mine found for one query.
type QueryResult struct {
	// Positives are the corpus rows written as the query's positives (in
	// labelled mode one row of its label, chosen with the seed) and
	// PositiveScores their scores.
	Positives      []int
	PositiveScores []float64
	// MinPositive is s_pos, the minimum score over all the query's
	// positives (in labelled mode over every row of its label with a
	// different text). NaN when the query has no positive.
	MinPositive float64
	// Skipped is set when the query was left out: it has no positive or
	// an all-zero embedding. It then has no negatives and no output rows.
	Skipped bool
	// Negatives are the chosen negatives in rank order (best first).
	Negatives []Hit
}

// Drops counts window candidates removed by each filter. A candidate is
// charged to the first filter it fails, in the order of the fields.
type Drops struct {
	MaxScore       int `json:"max_score"`
	MinScore       int `json:"min_score"`
	AbsoluteMargin int `json:"absolute_margin"`
	RelativeMargin int `json:"relative_margin"`
}

// Counts summarizes a mining run.
type Counts struct {
	Queries int `json:"queries"`
	Corpus  int `json:"corpus"`
	// QueriesWithoutPositive are labelled items alone in their label
	// (they get no negatives and no output rows).
	QueriesWithoutPositive int `json:"queries_without_positive"`
	// QueriesZeroEmbedding are queries whose embedding is all zeros (for
	// example a text the model has no token for): every score would be 0,
	// so they get no negatives and no output rows.
	QueriesZeroEmbedding int `json:"queries_zero_embedding"`
	// WindowCandidates are the hits in the rank window over all queries;
	// Passed of them passed every filter and Dropped did not.
	WindowCandidates int   `json:"window_candidates"`
	Dropped          Drops `json:"dropped"`
	Passed           int   `json:"passed"`
	// Negatives is the number chosen; QueriesShort the queries (with a
	// positive) that got fewer than NumNegatives.
	Negatives    int `json:"negatives"`
	QueriesShort int `json:"queries_short"`
}

// Summary describes a score distribution.
type Summary struct {
	Count int     `json:"count"`
	Mean  float64 `json:"mean"`
	Min   float64 `json:"min"`
	P5    float64 `json:"p5"`
	P25   float64 `json:"p25"`
	P50   float64 `json:"p50"`
	P75   float64 `json:"p75"`
	P95   float64 `json:"p95"`
	Max   float64 `json:"max"`
}

// summarize returns the count, mean, extremes and empirical percentiles
// (gonum stat.Empirical) of x, which it sorts in place. Empty x gives a
// zero Summary.
func summarize(x []float64) Summary {
	if len(x) == 0 {
		return Summary{}
	}
	slices.Sort(x)
	q := func(p float64) float64 { return stat.Quantile(p, stat.Empirical, x, nil) }
	return Summary{Count: len(x), Mean: stat.Mean(x, nil), Min: x[0], Max: x[len(x)-1],
		P5: q(0.05), P25: q(0.25), P50: q(0.5), P75: q(0.75), P95: q(0.95)}
}

// Mined is the outcome of Mine.
type Mined struct {
	// Settings are the settings used, defaults filled in.
	Settings Settings
	// Results has one entry per query, in query order.
	Results        []QueryResult
	Counts         Counts
	PositiveScores Summary
	NegativeScores Summary
}

// Mine finds hard negatives for every query of p: rank the corpus by score
// with an exact top-RangeMax search (TopK), excluding the query's
// positives, any row whose text equals the query's or a positive's text,
// and in labelled mode every row of the query's label (with
// IncludePositives only the rows equal to the query); keep the hits at
// ranks [RangeMin, RangeMax) that pass MaxScore, MinScore, AbsoluteMargin
// and RelativeMargin against s_pos (the query's minimum positive score);
// take NumNegatives of them by Sampling. Queries are searched 65,536 at a
// time, so besides the embeddings Mine needs the search buffer (see
// SearchSettings) plus 65,536 × (RangeMax + RangeMax/4 + 4) × 16 bytes of
// candidates at most. Scores are exact float64 dot
// products (see TopK), so results are identical for a seed whatever the
// worker and BLAS thread counts and block sizes. progress is passed to
// TopK.
func Mine(ctx context.Context, p Problem, s Settings, progress func(done, total int64)) (*Mined, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s = s.WithDefaults()
	if err := p.check(); err != nil {
		return nil, err
	}
	nq := p.Queries.Rows
	sel := newSelector(s, nq, p.Corpus.Rows)
	m := sel.m
	qText, cText := InternTexts(p.QueryText, p.CorpusText)

	var exclude Exclude
	if p.labelled() {
		// Texts that carry more than one label in the corpus: such a row is
		// excluded for a query of any of those labels.
		textLabels := make(map[int32][]int)
		for c, id := range cText {
			if ls := textLabels[id]; !slices.Contains(ls, p.CorpusLabels[c]) {
				textLabels[id] = append(ls, p.CorpusLabels[c])
			}
		}
		for id, ls := range textLabels {
			if len(ls) < 2 {
				delete(textLabels, id)
			}
		}
		exclude = func(q, c int) bool {
			if cText[c] == qText[q] {
				return true
			}
			if s.IncludePositives {
				return false
			}
			if p.CorpusLabels[c] == p.QueryLabels[q] {
				return true
			}
			ls, ok := textLabels[cText[c]]
			return ok && slices.Contains(ls, p.QueryLabels[q])
		}
		if err := labelledPositives(ctx, m.Results, &p, s, qText, cText); err != nil {
			return nil, err
		}
	} else {
		for q, ps := range p.Positives {
			r := &m.Results[q]
			r.Positives = ps
			r.PositiveScores = make([]float64, len(ps))
			r.MinPositive = math.Inf(1)
			for i, c := range ps {
				r.PositiveScores[i] = dot(linalg.Row(p.Queries, q), linalg.Row(p.Corpus, c))
				r.MinPositive = min(r.MinPositive, r.PositiveScores[i])
			}
		}
		exclude = pairsExclude(p.Positives, qText, cText, s.IncludePositives)
	}

	// Search the queries in chunks so that the candidate lists take at most
	// queryChunk × (RangeMax·5/4+4) × 16 bytes, however many queries.
	var hits Results
	search := SearchSettings{QueryBlock: s.QueryBlock, CorpusBlock: s.CorpusBlock}
	k := max(1, min(s.RangeMax, p.Corpus.Rows)) // no query has more ranks: size the lists from the data
	total := int64(nq) * int64(p.Corpus.Rows)
	for q0 := 0; q0 < nq; q0 += queryChunk {
		q1 := min(q0+queryChunk, nq)
		ex := func(q, c int) bool { return exclude(q0+q, c) }
		var prog func(done, _ int64)
		if progress != nil {
			prog = func(done, _ int64) { progress(int64(q0)*int64(p.Corpus.Rows)+done, total) }
		}
		if err := TopK(ctx, &hits, linalg.Slice(p.Queries, q0, q1), p.Corpus, k, search, ex, prog); err != nil {
			return nil, err
		}
		for q := q0; q < q1; q++ {
			sel.query(q, &m.Results[q], isZero(linalg.Row(p.Queries, q)), hits.Row(q-q0))
		}
	}
	return sel.finish(), nil
}

// filter reports whether h fails a filter, charging the first failing
// filter in d.
func filter(h Hit, sPos float64, s *Settings, d *Drops) bool {
	sc := float64(h.Score)
	switch {
	case s.MaxScore != nil && sc > *s.MaxScore:
		d.MaxScore++
	case s.MinScore != nil && sc < *s.MinScore:
		d.MinScore++
	case s.AbsoluteMargin != nil && sc > sPos-*s.AbsoluteMargin:
		d.AbsoluteMargin++
	case s.RelativeMargin != nil && sc > sPos-*s.RelativeMargin*math.Abs(sPos):
		d.RelativeMargin++
	default:
		return false
	}
	return true
}

// sample takes s.NumNegatives of the candidates (in rank order): the first
// ones, or a uniform sample drawn with a generator seeded by (seed, query),
// returned in rank order.
func sample(cands []Hit, s Settings, q int) []Hit {
	n := min(s.NumNegatives, len(cands))
	if s.Sampling == SamplingTop || n == len(cands) {
		return slices.Clone(cands[:n])
	}
	rng := rand.New(rand.NewPCG(s.Seed, uint64(q)))
	idx := make([]int, len(cands))
	for i := range idx {
		idx[i] = i
	}
	for i := range n {
		j := i + rng.IntN(len(idx)-i)
		idx[i], idx[j] = idx[j], idx[i]
	}
	chosen := idx[:n]
	slices.Sort(chosen)
	out := make([]Hit, n)
	for i, j := range chosen {
		out[i] = cands[j]
	}
	return out
}

// dot64 is dot with a already converted to float64 (bit-identical result,
// cheaper when one query is scored against many rows).
func dot64(a []float64, b []float32) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		x, y := a[i:i+4:i+4], b[i:i+4:i+4]
		s0 += x[0] * float64(y[0])
		s1 += x[1] * float64(y[1])
		s2 += x[2] * float64(y[2])
		s3 += x[3] * float64(y[3])
	}
	s := (s0 + s1) + (s2 + s3)
	for ; i < len(a); i++ {
		s += a[i] * float64(b[i])
	}
	return s
}

// toFloat64 converts v into dst (grown as needed) and returns it.
func toFloat64(dst []float64, v []float32) []float64 {
	dst = slices.Grow(dst[:0], len(v))[:len(v)]
	for i, x := range v {
		dst[i] = float64(x)
	}
	return dst
}

func isZero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}

// dot returns a·b accumulated in float64 in a fixed order: four
// interleaved partial sums (elements i ≡ 0, 1, 2, 3 mod 4) added as
// (s0+s1)+(s2+s3), then the tail. The order never depends on anything but
// the length, so every score is reproducible bit for bit.
func dot(a, b []float32) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		x, y := a[i:i+4:i+4], b[i:i+4:i+4]
		s0 += float64(x[0]) * float64(y[0])
		s1 += float64(x[1]) * float64(y[1])
		s2 += float64(x[2]) * float64(y[2])
		s3 += float64(x[3]) * float64(y[3])
	}
	s := (s0 + s1) + (s2 + s3)
	for ; i < len(a); i++ {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// labelledPositives fills, for every query, MinPositive (the minimum score
// over corpus rows of its label with a different text, NaN if none) and
// one output positive chosen with the seed. Candidates come from blocked
// float32 GEMMs of each label's queries against that label's corpus rows
// (memory bounded by the block sizes); every row whose float32 score is
// within twice the rounding bound of the running minimum is kept and
// re-scored in float64, so MinPositive is the exact float64 minimum
// whatever the BLAS threads or block sizes.
func labelledPositives(ctx context.Context, res []QueryResult, p *Problem, s Settings, qText, cText []int32) error {
	qByLabel := make(map[int][]int)
	for q, l := range p.QueryLabels {
		qByLabel[l] = append(qByLabel[l], q)
	}
	cByLabel := make(map[int][]int)
	for c, l := range p.CorpusLabels {
		cByLabel[l] = append(cByLabel[l], c)
	}
	d := p.Queries.Cols
	qbuf := linalg.NewMatrix(s.QueryBlock, d)
	cbuf := linalg.NewMatrix(s.CorpusBlock, d)
	sbuf := make([]float32, s.QueryBlock*s.CorpusBlock)
	labels := make([]int, 0, len(qByLabel))
	for l := range qByLabel {
		labels = append(labels, l)
	}
	slices.Sort(labels)
	for _, l := range labels {
		qs, cs := qByLabel[l], cByLabel[l]
		maxNorm := 0.0
		for _, c := range cs {
			maxNorm = max(maxNorm, rows.Norm(linalg.Row(p.Corpus, c)))
		}
		for q0 := 0; q0 < len(qs); q0 += s.QueryBlock {
			qblock := qs[q0:min(q0+s.QueryBlock, len(qs))]
			qm := linalg.Slice(qbuf, 0, len(qblock))
			linalg.Gather(qm, p.Queries, qblock)
			// Per query: the running float32 minimum low and the rows that
			// may hold the exact minimum. With ε the float32 error bound,
			// the exact argmin has float64 ≤ low+ε, hence float32 ≤ low+2ε:
			// rows are admitted below low+2ε and pruned above float64
			// low+ε. With ε = 0 (a zero vector) scores are exact.
			low := make([]float64, len(qblock))
			cands := make([][]int32, len(qblock))
			pruned := make([]int, len(qblock))
			eps := make([]float64, len(qblock))
			for i, q := range qblock {
				low[i] = math.Inf(1)
				eps[i] = dotErrorBound(d, rows.Norm(linalg.Row(p.Queries, q)), maxNorm)
			}
			for c0 := 0; c0 < len(cs); c0 += s.CorpusBlock {
				if err := ctx.Err(); err != nil {
					return err
				}
				cblock := cs[c0:min(c0+s.CorpusBlock, len(cs))]
				cm := linalg.Slice(cbuf, 0, len(cblock))
				linalg.Gather(cm, p.Corpus, cblock)
				scores := blas32.General{Rows: len(qblock), Cols: len(cblock), Stride: len(cblock), Data: sbuf[:len(qblock)*len(cblock)]}
				linalg.MulT(scores, qm, cm)
				for i, q := range qblock {
					row := scores.Data[i*scores.Stride : i*scores.Stride+scores.Cols]
					for j, c := range cblock {
						sc := float64(row[j])
						if !(sc <= low[i]+2*eps[i]) || cText[c] == qText[q] {
							continue // above the window, NaN, or the query's text
						}
						if eps[i] == 0 {
							if sc < low[i] {
								low[i], cands[i] = sc, append(cands[i][:0], int32(c))
							}
							continue
						}
						low[i] = min(low[i], sc)
						cands[i] = append(cands[i], int32(c))
						if len(cands[i]) > 2*pruned[i]+16 {
							cands[i] = keepBelow(cands[i], low[i]+eps[i], linalg.Row(qm, i), p.Corpus)
							pruned[i] = len(cands[i])
						}
					}
				}
			}
			for i, q := range qblock {
				r := &res[q]
				r.MinPositive = math.NaN()
				qv := linalg.Row(p.Queries, q)
				for k, c := range cands[i] {
					if sc := dot(qv, linalg.Row(p.Corpus, int(c))); k == 0 || sc < r.MinPositive {
						r.MinPositive = sc
					}
				}
			}
		}
		for _, q := range qs {
			r := &res[q]
			if math.IsNaN(r.MinPositive) {
				continue
			}
			// A uniform start, then the first row of the label with a
			// different text (cyclically).
			rng := rand.New(rand.NewPCG(s.Seed^0x9e3779b97f4a7c15, uint64(q)))
			start := rng.IntN(len(cs))
			for k := range cs {
				c := cs[(start+k)%len(cs)]
				if cText[c] != qText[q] {
					r.Positives = []int{c}
					r.PositiveScores = []float64{dot(linalg.Row(p.Queries, q), linalg.Row(p.Corpus, c))}
					break
				}
			}
		}
	}
	return nil
}

// keepBelow keeps the candidate rows whose float64 score is ≤ limit.
func keepBelow(cands []int32, limit float64, q []float32, corpus blas32.General) []int32 {
	out := cands[:0]
	for _, c := range cands {
		if dot(q, linalg.Row(corpus, int(c))) <= limit {
			out = append(out, c)
		}
	}
	return out
}
