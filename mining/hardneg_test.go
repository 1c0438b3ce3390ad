package mining

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/embfit/embfit/internal/inputerr"
	"github.com/embfit/embfit/internal/linalg"
	"gonum.org/v1/gonum/blas/blas32"
)

func ptr(v float64) *float64 { return &v }

// randomProblem builds integer-valued embeddings (exact scores, many ties)
// with texts drawn from a small vocabulary (so corpus texts repeat and
// equal query or positive texts) and 1–3 positives per query, or labels.
func randomProblem(r *rand.Rand, nq, nc, d int, labelled bool) Problem {
	p := Problem{Queries: intMatrix(r, nq, d, 2), Corpus: intMatrix(r, nc, d, 2)}
	vocab := nc * 3 / 4
	for range nc {
		p.CorpusText = append(p.CorpusText, "t"+strconv.Itoa(r.IntN(vocab)))
	}
	for range nq {
		p.QueryText = append(p.QueryText, "t"+strconv.Itoa(r.IntN(vocab*2)))
	}
	if labelled {
		for range nq {
			p.QueryLabels = append(p.QueryLabels, r.IntN(4))
		}
		for range nc {
			p.CorpusLabels = append(p.CorpusLabels, r.IntN(4))
		}
		return p
	}
	for range nq {
		ps := []int{r.IntN(nc)}
		for r.IntN(2) == 0 && len(ps) < 3 {
			ps = append(ps, r.IntN(nc))
		}
		p.Positives = append(p.Positives, ps)
	}
	return p
}

// bruteMine is an independent, quadratic implementation of DESIGN.md's
// hard-negative semantics for top sampling, working on texts and labels
// directly.
func bruteMine(p Problem, s Settings) (negs [][]Hit, sPos []float64, c Counts) {
	s = s.WithDefaults()
	score := func(q, k int) float64 { return dot(linalg.Row(p.Queries, q), linalg.Row(p.Corpus, k)) }
	for q := range p.Queries.Rows {
		var posTexts []string
		sp := math.Inf(1)
		if p.labelled() {
			for k := range p.Corpus.Rows {
				if p.CorpusLabels[k] == p.QueryLabels[q] {
					posTexts = append(posTexts, p.CorpusText[k])
					if p.CorpusText[k] != p.QueryText[q] {
						sp = min(sp, score(q, k))
					}
				}
			}
		} else {
			for _, k := range p.Positives[q] {
				posTexts = append(posTexts, p.CorpusText[k])
				sp = min(sp, score(q, k))
			}
		}
		if math.IsInf(sp, 1) {
			sPos = append(sPos, math.NaN())
			negs = append(negs, nil)
			c.QueriesWithoutPositive++
			continue
		}
		sPos = append(sPos, sp)
		if slices.Equal(linalg.Row(p.Queries, q), make([]float32, p.Queries.Cols)) {
			c.QueriesZeroEmbedding++
			negs = append(negs, nil)
			continue
		}
		var ranked []Hit
		for k := range p.Corpus.Rows {
			t := p.CorpusText[k]
			if t == p.QueryText[q] || !s.IncludePositives && (slices.Contains(posTexts, t) || (p.labelled() && p.CorpusLabels[k] == p.QueryLabels[q])) {
				continue
			}
			ranked = append(ranked, Hit{Index: int32(k), Score: score(q, k)})
		}
		slices.SortStableFunc(ranked, func(a, b Hit) int {
			if a.Score != b.Score {
				if a.Score > b.Score {
					return -1
				}
				return 1
			}
			return int(a.Index - b.Index)
		})
		var kept []Hit
		for rank, h := range ranked {
			if rank < s.RangeMin || rank >= s.RangeMax {
				continue
			}
			c.WindowCandidates++
			x := float64(h.Score)
			switch {
			case s.MaxScore != nil && x > *s.MaxScore:
				c.Dropped.MaxScore++
			case s.MinScore != nil && x < *s.MinScore:
				c.Dropped.MinScore++
			case s.AbsoluteMargin != nil && x > sp-*s.AbsoluteMargin:
				c.Dropped.AbsoluteMargin++
			case s.RelativeMargin != nil && x > sp-*s.RelativeMargin*math.Abs(sp):
				c.Dropped.RelativeMargin++
			default:
				kept = append(kept, h)
			}
		}
		c.Passed += len(kept)
		kept = kept[:min(len(kept), s.NumNegatives)]
		c.Negatives += len(kept)
		if len(kept) < s.NumNegatives {
			c.QueriesShort++
		}
		negs = append(negs, kept)
	}
	c.Queries, c.Corpus = p.Queries.Rows, p.Corpus.Rows
	return negs, sPos, c
}

func TestMineMatchesBruteForce(t *testing.T) {
	for _, tc := range []struct {
		name     string
		labelled bool
		s        Settings
		mutate   func(*Problem, *rand.Rand)
	}{
		{"defaults", false, Settings{}, nil},
		{"window", false, Settings{NumNegatives: 4, RangeMin: 3, RangeMax: 9, QueryBlock: 5, CorpusBlock: 16}, nil},
		{"max-score", false, Settings{MaxScore: ptr(2)}, nil},
		{"min-score", false, Settings{NumNegatives: 10, MinScore: ptr(1)}, nil},
		{"absolute-margin", false, Settings{NumNegatives: 5, AbsoluteMargin: ptr(1)}, nil},
		{"negative-absolute-margin", false, Settings{NumNegatives: 5, AbsoluteMargin: ptr(-2)}, nil},
		{"relative-margin", false, Settings{NumNegatives: 5, RelativeMargin: ptr(0.3)}, nil},
		{"all-filters", false, Settings{NumNegatives: 6, RangeMin: 1, RangeMax: 60, MaxScore: ptr(6), MinScore: ptr(1), AbsoluteMargin: ptr(-1), RelativeMargin: ptr(0.2), CorpusBlock: 7}, nil},
		{"labelled", true, Settings{}, nil},
		{"labelled/filters", true, Settings{NumNegatives: 5, RangeMin: 2, RangeMax: 40, MaxScore: ptr(10), MinScore: ptr(-3), AbsoluteMargin: ptr(-14), QueryBlock: 4, CorpusBlock: 9}, nil},
		{"zero-queries", false, Settings{}, func(p *Problem, r *rand.Rand) {
			for q := 0; q < p.Queries.Rows; q += 3 {
				clear(linalg.Row(p.Queries, q))
			}
		}},
		{"include-positives", false, Settings{NumNegatives: 5, IncludePositives: true}, nil},
		{"include-positives/filters", false, Settings{NumNegatives: 4, RangeMin: 1, MaxScore: ptr(6), IncludePositives: true}, nil},
		{"labelled/include-positives", true, Settings{NumNegatives: 8, IncludePositives: true}, nil},
		{"labelled/singletons", true, Settings{NumNegatives: 2}, func(p *Problem, r *rand.Rand) {
			// Odd queries carry a label no corpus row has.
			for i := 1; i < len(p.QueryLabels); i += 2 {
				p.QueryLabels[i] = 1000 + i
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(42, uint64(len(tc.name))))
			p := randomProblem(r, 40, 120, 6, tc.labelled)
			if tc.mutate != nil {
				tc.mutate(&p, r)
			}
			m, err := Mine(context.Background(), p, tc.s, nil)
			if err != nil {
				t.Fatal(err)
			}
			wantNegs, wantSPos, wantCounts := bruteMine(p, tc.s)
			t.Logf("%+v", m.Counts)
			// Every filter that is on must have dropped something, and
			// something must pass, or the comparison proves little.
			d := m.Counts.Dropped
			for _, f := range []struct {
				on      bool
				dropped int
			}{{tc.s.MaxScore != nil, d.MaxScore}, {tc.s.MinScore != nil, d.MinScore}, {tc.s.AbsoluteMargin != nil, d.AbsoluteMargin}, {tc.s.RelativeMargin != nil, d.RelativeMargin}, {true, m.Counts.Passed}, {strings.Contains(tc.name, "singletons"), m.Counts.QueriesWithoutPositive}, {strings.Contains(tc.name, "zero"), m.Counts.QueriesZeroEmbedding}} {
				if f.on && f.dropped == 0 {
					t.Errorf("a filter dropped nothing or nothing passed: %+v", m.Counts)
				}
			}
			if m.Counts != wantCounts {
				t.Errorf("counts:\n got %+v\nwant %+v", m.Counts, wantCounts)
			}
			negSPos, ranked := 0, 0
			for q, r := range m.Results {
				if tc.s.IncludePositives {
					// Positives are ranked among the candidates: count them.
					for _, h := range r.Negatives {
						if tc.labelled && p.CorpusLabels[h.Index] == p.QueryLabels[q] || !tc.labelled && slices.Contains(p.Positives[q], int(h.Index)) {
							ranked++
						}
					}
				}
				if !slices.Equal(r.Negatives, wantNegs[q]) {
					t.Fatalf("query %d negatives:\n got %v\nwant %v", q, r.Negatives, wantNegs[q])
				}
				if !(r.MinPositive == wantSPos[q] || math.IsNaN(r.MinPositive) && math.IsNaN(wantSPos[q])) {
					t.Fatalf("query %d: s_pos %v, want %v", q, r.MinPositive, wantSPos[q])
				}
				if r.MinPositive < 0 {
					negSPos++
				}
				// Never a negative: a positive's or the query's text, or
				// (labelled) the query's label.
				for _, h := range r.Negatives {
					if p.CorpusText[h.Index] == p.QueryText[q] {
						t.Fatalf("query %d: negative %d has the query's text", q, h.Index)
					}
					if tc.s.IncludePositives {
						continue
					}
					if tc.labelled && p.CorpusLabels[h.Index] == p.QueryLabels[q] {
						t.Fatalf("query %d: negative %d has the query's label", q, h.Index)
					}
					if !tc.labelled {
						for _, k := range p.Positives[q] {
							if p.CorpusText[k] == p.CorpusText[h.Index] {
								t.Fatalf("query %d: negative %d has a positive's text", q, h.Index)
							}
						}
					}
				}
				if tc.labelled && len(r.Positives) == 1 && p.CorpusLabels[r.Positives[0]] != p.QueryLabels[q] {
					t.Fatalf("query %d: output positive %d has another label", q, r.Positives[0])
				}
			}
			if tc.s.IncludePositives && ranked == 0 {
				t.Errorf("include_positives: no positive was ranked among the candidates")
			}
			if negSPos == 0 {
				t.Errorf("no query has a negative s_pos: the sign-safe relative margin is untested")
			}
		})
	}
}

// TestRelativeMarginSignSafe pins the formula s_neg > s_pos − r·|s_pos| on
// hand-made scores, including a negative s_pos where the naive
// s_pos·(1−r) would keep the candidate.
func TestRelativeMarginSignSafe(t *testing.T) {
	for _, tc := range []struct {
		sPos, sNeg, r float64
		drop          bool
	}{
		{0.8, 0.7, 0.1, false}, // threshold 0.72
		{0.8, 0.73, 0.1, true},
		// s_pos < 0: threshold −0.5 − 0.2·0.5 = −0.6. The naive
		// s_pos·(1−r) = −0.4 would keep −0.55 and −0.45.
		{-0.5, -0.55, 0.2, true},
		{-0.5, -0.45, 0.2, true},
		{-0.5, -0.65, 0.2, false},
		{0, 0, 0.5, false},
		{0, 0.01, 0.5, true},
	} {
		s := Settings{RelativeMargin: ptr(tc.r)}
		var d Drops
		got := filter(Hit{Score: tc.sNeg}, tc.sPos, &s, &d)
		if got != tc.drop || (d.RelativeMargin == 1) != tc.drop {
			t.Errorf("s_pos %v s_neg %v r %v: drop %v, want %v", tc.sPos, tc.sNeg, tc.r, got, tc.drop)
		}
	}
}

// TestMineCorpusTextEqualToPositive: a corpus row that duplicates the
// positive's text (a different row, even a different vector) is never a
// negative, and does not take a rank.
func TestMineCorpusTextEqualToPositive(t *testing.T) {
	p := Problem{
		Queries:    blas32.General{Rows: 1, Cols: 2, Stride: 2, Data: []float32{1, 0}},
		Corpus:     blas32.General{Rows: 4, Cols: 2, Stride: 2, Data: []float32{0.9, 0.1, 0.95, 0, 0.5, 0.5, 0, 1}},
		QueryText:  []string{"q"},
		CorpusText: []string{"pos", "pos", "other", "far"},
		Positives:  [][]int{{0}},
	}
	m, err := Mine(context.Background(), p, Settings{NumNegatives: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Results[0].Negatives; len(got) != 1 || got[0].Index != 2 {
		t.Fatalf("negatives = %v, want row 2", got)
	}
}

func TestMineRandomSampling(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	p := randomProblem(r, 30, 100, 6, false)
	s := Settings{NumNegatives: 4, RangeMax: 20, Sampling: SamplingRandom, Seed: 7}
	a, err := Mine(context.Background(), p, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	top, _ := Mine(context.Background(), p, Settings{NumNegatives: 20, RangeMax: 20}, nil)
	differs := false
	for q, res := range a.Results {
		pool := top.Results[q].Negatives
		if len(res.Negatives) != min(4, len(pool)) {
			t.Fatalf("query %d: %d negatives, want %d", q, len(res.Negatives), min(4, len(pool)))
		}
		last := -1
		for _, h := range res.Negatives {
			i := slices.Index(pool, h)
			if i < 0 {
				t.Fatalf("query %d: sampled %v is not a passing candidate", q, h)
			}
			if i <= last {
				t.Fatalf("query %d: sample not in rank order", q)
			}
			last = i
		}
		if !slices.Equal(res.Negatives, pool[:len(res.Negatives)]) {
			differs = true
		}
	}
	if !differs {
		t.Error("random sampling always picked the top candidates")
	}
	for _, w := range []int{1, 3} {
		s2 := s
		s2.QueryBlock, s2.CorpusBlock = w*7, w*13
		b, err := Mine(context.Background(), p, s2, nil)
		if err != nil {
			t.Fatal(err)
		}
		for q := range a.Results {
			if !slices.Equal(a.Results[q].Negatives, b.Results[q].Negatives) {
				t.Fatalf("query %d: same seed, different sample", q)
			}
		}
	}
	s.Seed = 8
	c, _ := Mine(context.Background(), p, s, nil)
	same := true
	for q := range a.Results {
		same = same && slices.Equal(a.Results[q].Negatives, c.Results[q].Negatives)
	}
	if same {
		t.Error("seeds 7 and 8 gave the same samples")
	}
}

func TestSettingsValidate(t *testing.T) {
	for _, tc := range []struct {
		s   Settings
		bad string
	}{
		{Settings{}, ""},
		{Settings{RangeMin: 50}, "range_max"},
		{Settings{RangeMin: 10, RangeMax: 10}, "range_max"},
		{Settings{RangeMin: -1}, "range_min"},
		{Settings{NumNegatives: -1}, "num_negatives"},
		{Settings{Sampling: "best"}, "sampling"},
		{Settings{MaxScore: ptr(0.1), MinScore: ptr(0.2)}, "min_score"},
		{Settings{RelativeMargin: ptr(-0.1)}, "relative_margin"},
		{Settings{AbsoluteMargin: ptr(math.NaN())}, "absolute_margin"},
		{Settings{MaxScore: ptr(math.Inf(1))}, "max_score"},
		{Settings{QueryBlock: -1}, "query_block"},
		{Settings{CorpusBlock: -1}, "corpus_block"},
	} {
		err := tc.s.Validate()
		if (err == nil) != (tc.bad == "") || err != nil && !strings.Contains(err.Error(), tc.bad) {
			t.Errorf("%+v: err = %v, want mention of %q", tc.s, err, tc.bad)
		}
		// The setting is named as in the manifest's JSON, for the caller.
		if e, ok := inputerr.As(err); err != nil && (!ok || e.Setting != tc.bad) {
			t.Errorf("%+v: err = %#v, want an input error for the setting %q", tc.s, err, tc.bad)
		}
	}
}

func ExampleMine() {
	// Two queries, each with one positive, over a five-row corpus.
	p := Problem{
		Queries: blas32.General{Rows: 2, Cols: 2, Stride: 2, Data: []float32{1, 0, 0, 1}},
		Corpus: blas32.General{Rows: 5, Cols: 2, Stride: 2, Data: []float32{
			1, 0, // "cat"
			0, 1, // "car"
			0.8, 0.6, // "kitten"
			0.6, 0.8, // "truck"
			-1, 0, // "tax"
		}},
		QueryText:  []string{"a cat", "a car"},
		CorpusText: []string{"cat", "car", "kitten", "truck", "tax"},
		Positives:  [][]int{{0}, {1}},
	}
	m, err := Mine(context.Background(), p, Settings{NumNegatives: 1, AbsoluteMargin: ptr(0.1)}, nil)
	if err != nil {
		panic(err)
	}
	for q, r := range m.Results {
		for _, h := range r.Negatives {
			fmt.Printf("%s -> %s (%.1f)\n", p.QueryText[q], p.CorpusText[h.Index], h.Score)
		}
	}
	// Output:
	// a cat -> kitten (0.8)
	// a car -> truck (0.8)
}

// TestMineFloatExact: on real-valued unit vectors the results equal the
// float64 brute force bit for bit, for several block shapes.
func TestMineFloatExact(t *testing.T) {
	for _, labelled := range []bool{false, true} {
		r := rand.New(rand.NewPCG(21, 22))
		p := randomProblem(r, 50, 300, 16, labelled)
		for _, m := range []blas32.General{p.Queries, p.Corpus} {
			for i := range m.Data {
				m.Data[i] = float32(r.NormFloat64())
			}
			NormalizeRows(m)
		}
		for _, s := range []Settings{
			{NumNegatives: 4, RangeMin: 2, RangeMax: 30, RelativeMargin: ptr(0.05)},
			{NumNegatives: 4, RangeMin: 2, RangeMax: 30, RelativeMargin: ptr(0.05), QueryBlock: 3, CorpusBlock: 17},
			{NumNegatives: 4, RangeMin: 2, RangeMax: 30, RelativeMargin: ptr(0.05), QueryBlock: 50, CorpusBlock: 300},
		} {
			m, err := Mine(context.Background(), p, s, nil)
			if err != nil {
				t.Fatal(err)
			}
			negs, sPos, counts := bruteMine(p, s)
			if m.Counts != counts {
				t.Fatalf("labelled=%v %+v: counts %+v, want %+v", labelled, s, m.Counts, counts)
			}
			for q, res := range m.Results {
				if !slices.Equal(res.Negatives, negs[q]) || res.MinPositive != sPos[q] && !math.IsNaN(sPos[q]) {
					t.Fatalf("labelled=%v %+v query %d: got %v s_pos %v, want %v %v", labelled, s, q, res.Negatives, res.MinPositive, negs[q], sPos[q])
				}
			}
		}
	}
}

// TestMineChunks: searching the queries in several chunks changes nothing,
// and progress counts every score once, ending at the total.
func TestMineChunks(t *testing.T) {
	for _, labelled := range []bool{false, true} {
		r := rand.New(rand.NewPCG(31, 32))
		p := randomProblem(r, 45, 150, 6, labelled)
		s := Settings{NumNegatives: 4, RangeMin: 1, RangeMax: 12, Sampling: SamplingRandom, Seed: 3}
		ref, err := Mine(context.Background(), p, s, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func(c int) { queryChunk = c }(queryChunk)
		queryChunk = 7
		var last, total int64
		got, err := Mine(context.Background(), p, s, func(done, tot int64) {
			if done < last {
				t.Fatalf("progress went back from %d to %d", last, done)
			}
			last, total = done, tot
		})
		if err != nil {
			t.Fatal(err)
		}
		if last != 45*150 || total != 45*150 {
			t.Errorf("progress ended at %d/%d, want %d", last, total, 45*150)
		}
		if got.Counts != ref.Counts {
			t.Fatalf("counts %+v, want %+v", got.Counts, ref.Counts)
		}
		for q := range ref.Results {
			if !slices.Equal(got.Results[q].Negatives, ref.Results[q].Negatives) {
				t.Fatalf("labelled=%v query %d: chunked %v, want %v", labelled, q, got.Results[q].Negatives, ref.Results[q].Negatives)
			}
		}
		queryChunk = 1 << 16
	}
}
