package mining

// PairSet is a list of (anchor, positive) pairs grouped by anchor: a query
// may have several positives.
type PairSet struct {
	// Queries are the distinct anchors in order of first appearance.
	Queries []string
	// FirstPair[q] is the index of query q's first pair (its row in a file
	// of per-pair embeddings).
	FirstPair []int
	// Positives[q] are query q's distinct positive texts in order of
	// appearance, and PositivePair[q][i] the index of the pair that first
	// gave Positives[q][i].
	Positives    [][]string
	PositivePair [][]int
	// Pairs is the number of input pairs.
	Pairs int
}

// GroupPairs groups pairs (anchors[i], positives[i]) by exact anchor text.
// The slices must have equal lengths.
func GroupPairs(anchors, positives []string) PairSet {
	if len(anchors) != len(positives) {
		panic("mining: GroupPairs needs as many anchors as positives")
	}
	s := PairSet{Pairs: len(anchors)}
	index := make(map[string]int)
	for i, a := range anchors {
		q, ok := index[a]
		if !ok {
			q = len(s.Queries)
			index[a] = q
			s.Queries = append(s.Queries, a)
			s.FirstPair = append(s.FirstPair, i)
			s.Positives = append(s.Positives, nil)
			s.PositivePair = append(s.PositivePair, nil)
		}
		dup := false
		for _, p := range s.Positives[q] {
			if p == positives[i] {
				dup = true
				break
			}
		}
		if !dup {
			s.Positives[q] = append(s.Positives[q], positives[i])
			s.PositivePair[q] = append(s.PositivePair[q], i)
		}
	}
	return s
}

// DefaultCorpus returns the distinct positive texts of s in order of first
// appearance: the corpus when none is given.
func (s *PairSet) DefaultCorpus() []string {
	seen := make(map[string]bool)
	var out []string
	for _, ps := range s.Positives {
		for _, p := range ps {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// CorpusRows maps every positive to the first corpus row with exactly its
// text, giving Problem.Positives. If a positive is not in the corpus it
// returns nil and the index of the first pair whose positive is missing;
// otherwise missing is -1.
func (s *PairSet) CorpusRows(corpus []string) (rows [][]int, missing int) {
	first := make(map[string]int, len(corpus))
	for i, t := range corpus {
		if _, ok := first[t]; !ok {
			first[t] = i
		}
	}
	rows = make([][]int, len(s.Queries))
	missing = -1
	for q, ps := range s.Positives {
		rows[q] = make([]int, len(ps))
		for i, p := range ps {
			c, ok := first[p]
			if !ok {
				if pair := s.PositivePair[q][i]; missing < 0 || pair < missing {
					missing = pair
				}
				continue
			}
			rows[q][i] = c
		}
	}
	if missing >= 0 {
		return nil, missing
	}
	return rows, -1
}
