package train

import (
	"context"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/pipeline/head"
	"github.com/embfit/embfit/pipeline/retrieval"
	"gonum.org/v1/gonum/blas/blas32"
)

// EvalSet is an evaluation split as frozen-encoder embeddings (one row per
// distinct text). Labelled: every row with a label queries all others.
// Pairs: Queries (rows of Emb) search Corpus (rows of Emb); Positives[i]
// are the indices into Corpus relevant to query i.
type EvalSet struct {
	Emb       blas32.General
	Labels    []int
	Queries   []int
	Corpus    []int
	Positives [][]int
	// Self gives for each query the corpus index holding the query's own
	// text (−1: none); that row is never ranked for it.
	Self []int
}

// NewPairEvalSet builds a pairs EvalSet from pair rows over emb: each
// distinct anchor is one query; the corpus is every distinct positive.
func NewPairEvalSet(emb blas32.General, rows []PairRow) *EvalSet {
	e := &EvalSet{Emb: emb}
	qIndex, cIndex := map[int]int{}, map[int]int{}
	for _, r := range rows {
		qi, ok := qIndex[r.Anchor]
		if !ok {
			qi = len(e.Queries)
			qIndex[r.Anchor] = qi
			e.Queries = append(e.Queries, r.Anchor)
			e.Positives = append(e.Positives, nil)
		}
		ci, ok := cIndex[r.Positive]
		if !ok {
			ci = len(e.Corpus)
			cIndex[r.Positive] = ci
			e.Corpus = append(e.Corpus, r.Positive)
		}
		e.Positives[qi] = append(e.Positives[qi], ci)
	}
	for _, q := range e.Queries {
		ci, ok := cIndex[q]
		if !ok {
			ci = -1
		}
		e.Self = append(e.Self, ci)
	}
	return e
}

// Evaluate computes retrieval metrics of head(Emb) (head nil: the frozen
// encoder itself).
func (e *EvalSet) Evaluate(ctx context.Context, hd head.Head) (retrieval.Metrics, error) {
	apply := func(x blas32.General) blas32.General {
		if hd == nil {
			return x
		}
		y := linalg.NewMatrix(x.Rows, hd.Settings().Out)
		head.Apply(hd, y, x)
		return y
	}
	s := retrieval.Settings{Negatives: -1}
	var res *retrieval.Result
	var err error
	if e.Labels != nil {
		res, err = retrieval.EvaluateLabelled(ctx, apply(e.Emb), e.Labels, s)
	} else {
		res, err = retrieval.EvaluatePairs(ctx, apply(linalg.GatherRows(e.Emb, e.Queries)), apply(linalg.GatherRows(e.Emb, e.Corpus)), e.Positives, e.Self, s)
	}
	if err != nil {
		return retrieval.Metrics{}, err
	}
	return res.Metrics, nil
}
