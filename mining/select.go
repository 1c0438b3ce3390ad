package mining

import "math"

// selector applies the part of mining that follows the search — the rank
// window, the filters, sampling, the counts and the score summaries — one
// query at a time. Mine and Merger both use it, so a merged sharded run
// selects exactly what a single-machine run selects.
type selector struct {
	s                    Settings
	m                    *Mined
	posScores, negScores []float64
	passed               []Hit
}

// newSelector starts a selection of nq queries over a corpus of nc rows;
// s must have its defaults filled in.
func newSelector(s Settings, nq, nc int) *selector {
	m := &Mined{Settings: s, Results: make([]QueryResult, nq)}
	m.Counts.Queries, m.Counts.Corpus = nq, nc
	return &selector{s: s, m: m}
}

// query selects the negatives of query q, whose positives are already in
// r, from row: its top RangeMax hits (exclusions applied), best first.
// zero says that the query's embedding is all zeros.
func (sel *selector) query(q int, r *QueryResult, zero bool, row []Hit) {
	s, m := &sel.s, sel.m
	if math.IsNaN(r.MinPositive) {
		r.Skipped = true
		m.Counts.QueriesWithoutPositive++
		return
	}
	if zero {
		r.Skipped = true
		m.Counts.QueriesZeroEmbedding++
		return
	}
	sel.posScores = append(sel.posScores, r.PositiveScores...)
	window := row[min(s.RangeMin, len(row)):]
	m.Counts.WindowCandidates += len(window)
	sel.passed = sel.passed[:0]
	for _, h := range window {
		if !filter(h, r.MinPositive, s, &m.Counts.Dropped) {
			sel.passed = append(sel.passed, h)
		}
	}
	m.Counts.Passed += len(sel.passed)
	r.Negatives = sample(sel.passed, *s, q)
	m.Counts.Negatives += len(r.Negatives)
	if len(r.Negatives) < s.NumNegatives {
		m.Counts.QueriesShort++
	}
	for _, h := range r.Negatives {
		sel.negScores = append(sel.negScores, h.Score)
	}
}

// finish computes the score summaries and returns the outcome.
func (sel *selector) finish() *Mined {
	sel.m.PositiveScores = summarize(sel.posScores)
	sel.m.NegativeScores = summarize(sel.negScores)
	return sel.m
}

// InternTexts maps every distinct text of queryText and corpusText to a
// small integer (equal ids for equal texts, in either slice), so that
// exclusion compares integers.
func InternTexts(queryText, corpusText []string) (qText, cText []int32) {
	ids := make(map[string]int32)
	intern := func(t string) int32 {
		id, ok := ids[t]
		if !ok {
			id = int32(len(ids))
			ids[t] = id
		}
		return id
	}
	qText = make([]int32, len(queryText))
	for i, t := range queryText {
		qText[i] = intern(t)
	}
	cText = make([]int32, len(corpusText))
	for i, t := range corpusText {
		cText[i] = intern(t)
	}
	return qText, cText
}

// pairsExclude returns the pairs-mode exclusion: a corpus row is never a
// negative of query q if its text equals q's text or (unless
// includePositives) one of q's positives' texts. Query and corpus indices
// are global.
func pairsExclude(positives [][]int, qText, cText []int32, includePositives bool) func(q, c int) bool {
	posText := make([][]int32, len(positives))
	for q, ps := range positives {
		for _, c := range ps {
			if !containsInt32(posText[q], cText[c]) {
				posText[q] = append(posText[q], cText[c])
			}
		}
	}
	return func(q, c int) bool {
		return cText[c] == qText[q] || !includePositives && containsInt32(posText[q], cText[c])
	}
}

func containsInt32(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
