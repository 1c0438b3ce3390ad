package retrieval

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
)

// bruteScores are every query's candidates (score, index, relevance),
// computed one dot product at a time in float64 from normalized rows.
type bruteCand struct {
	s   float64
	idx int
	rel bool
}

func bruteNormalize(x blas32.General) [][]float64 {
	out := make([][]float64, x.Rows)
	for i := range out {
		r := linalg.Row(x, i)
		var ss float64
		for _, v := range r {
			ss += float64(v) * float64(v)
		}
		out[i] = make([]float64, len(r))
		for k, v := range r {
			if ss > 0 {
				// same rounding as the code under test: float32 unit rows
				out[i][k] = float64(float32(float64(v) / math.Sqrt(ss)))
			}
		}
	}
	return out
}

func dot(a, b []float64) float64 {
	var s float64
	for k := range a {
		s += a[k] * b[k]
	}
	return s
}

// bruteMetrics ranks every candidate of each query and applies the
// textbook definitions. It returns the metrics and the ROC-AUC computed over
// all positive×negative pairs of pairs (ties half).
func bruteMetrics(cands [][]bruteCand, r []int, recallK []int, pairs [][2][]float64) (Metrics, []QueryMetrics) {
	var agg Metrics
	agg.Recall = make([]RecallAt, len(recallK))
	per := make([]QueryMetrics, len(cands))
	for q, c := range cands {
		sort.Slice(c, func(a, b int) bool {
			if c[a].s != c[b].s {
				return c[a].s > c[b].s
			}
			return c[a].idx < c[b].idx
		})
		R := r[q]
		m := QueryMetrics{R: R, Recall: make([]float64, len(recallK))}
		above := 0
		for _, x := range c {
			if x.rel {
				above++
			} else if len(m.TopNegatives) < 3 {
				m.TopNegatives = append(m.TopNegatives, Neighbour{Index: x.idx, Score: float32(x.s), RelevantAbove: above})
			}
		}
		per[q] = m
		if R == 0 {
			agg.Skipped++
			continue
		}
		agg.Queries++
		prec := func(i int) float64 { // precision of the first i
			n := 0
			for _, x := range c[:i] {
				if x.rel {
					n++
				}
			}
			return float64(n) / float64(i)
		}
		if c[0].rel {
			m.PrecisionAt1 = 1
		}
		m.RPrecision = prec(R)
		for i := 1; i <= R; i++ {
			if c[i-1].rel {
				m.APAtR += prec(i)
			}
		}
		m.APAtR /= float64(R)
		for i := 1; i <= 10 && i <= len(c); i++ {
			if c[i-1].rel {
				if m.MRRAt10 == 0 {
					m.MRRAt10 = 1 / float64(i)
				}
				m.NDCGAt10 += 1 / math.Log2(float64(i+1))
			}
		}
		var ideal float64
		for i := 1; i <= min(R, 10); i++ {
			ideal += 1 / math.Log2(float64(i+1))
		}
		m.NDCGAt10 /= ideal
		for ki, k := range recallK {
			for _, x := range c[:min(k, len(c))] {
				if x.rel {
					m.Recall[ki] = 1
				}
			}
		}
		per[q] = m
		agg.PrecisionAt1 += m.PrecisionAt1
		agg.RPrecision += m.RPrecision
		agg.MAPAtR += m.APAtR
		agg.MRRAt10 += m.MRRAt10
		agg.NDCGAt10 += m.NDCGAt10
		for ki := range recallK {
			agg.Recall[ki].K = recallK[ki]
			agg.Recall[ki].Recall += m.Recall[ki]
		}
	}
	n := float64(agg.Queries)
	agg.PrecisionAt1 /= n
	agg.RPrecision /= n
	agg.MAPAtR /= n
	agg.MRRAt10 /= n
	agg.NDCGAt10 /= n
	for ki := range agg.Recall {
		agg.Recall[ki].Recall /= n
	}
	return agg, per
}

// bruteAUC compares every positive with every negative similarity.
func bruteAUC(pos, neg []float64) float64 {
	var s float64
	for _, p := range pos {
		for _, q := range neg {
			switch {
			case p > q:
				s++
			case p == q:
				s += 0.5
			}
		}
	}
	return s / float64(len(pos)*len(neg))
}

func randMatrix(rng *rand.Rand, n, d int, tied bool) blas32.General {
	x := linalg.NewMatrix(n, d)
	for i := range n {
		r := linalg.Row(x, i)
		if tied {
			// four entries ±0.5 (unit norm): dot products are exact
			// multiples of 0.25, so many exact ties.
			for _, k := range rng.Perm(d)[:4] {
				r[k] = 0.5
				if rng.IntN(2) == 0 {
					r[k] = -0.5
				}
			}
			continue
		}
		for k := range r {
			r[k] = float32(rng.NormFloat64())
		}
	}
	return x
}

func assertMetricsClose(t *testing.T, got, want Metrics) {
	t.Helper()
	if got.Queries != want.Queries || got.Skipped != want.Skipped {
		t.Fatalf("queries/skipped = %d/%d, want %d/%d", got.Queries, got.Skipped, want.Queries, want.Skipped)
	}
	pairs := []struct {
		name string
		g, w float64
	}{
		{"precision@1", got.PrecisionAt1, want.PrecisionAt1},
		{"R-precision", got.RPrecision, want.RPrecision},
		{"MAP@R", got.MAPAtR, want.MAPAtR},
		{"MRR@10", got.MRRAt10, want.MRRAt10},
		{"NDCG@10", got.NDCGAt10, want.NDCGAt10},
	}
	for i := range want.Recall {
		pairs = append(pairs, struct {
			name string
			g, w float64
		}{fmt.Sprintf("recall@%d", want.Recall[i].K), got.Recall[i].Recall, want.Recall[i].Recall})
	}
	for _, p := range pairs {
		if math.Abs(p.g-p.w) > 1e-12 {
			t.Errorf("%s = %.15g, brute force %.15g", p.name, p.g, p.w)
		}
	}
}

func TestEvaluateLabelledBruteForce(t *testing.T) {
	cases := []struct {
		name           string
		n, d, classes  int
		tied           bool
		qBlock, cBlock int
		workers        int
	}{
		{"gaussian/default-blocks", 90, 8, 6, false, 0, 0, 0},
		{"gaussian/tiny-blocks", 90, 8, 6, false, 7, 5, 3},
		{"ties/tiny-blocks", 80, 8, 5, true, 9, 4, 2},
		{"ties/one-worker", 80, 8, 5, true, 256, 4096, 1},
		{"many-classes-singletons", 40, 4, 30, false, 3, 11, 2},
		{"one-class", 12, 3, 1, false, 5, 5, 2},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ci), 7))
			x := randMatrix(rng, tc.n, tc.d, tc.tied)
			labels := make([]int, tc.n)
			counts := map[int]int{}
			for i := range labels {
				labels[i] = rng.IntN(tc.classes)
				counts[labels[i]]++
			}
			u := bruteNormalize(x)
			cands := make([][]bruteCand, tc.n)
			r := make([]int, tc.n)
			var pos, neg []float64
			for i := range tc.n {
				r[i] = counts[labels[i]] - 1
				for j := range tc.n {
					if j == i {
						continue
					}
					s := float64(float32(dot(u[i], u[j])))
					rel := labels[i] == labels[j]
					cands[i] = append(cands[i], bruteCand{s, j, rel})
					if j > i {
						if rel {
							pos = append(pos, s)
						} else {
							neg = append(neg, s)
						}
					}
				}
			}
			want, wantPer := bruteMetrics(cands, r, []int{1, 5, 10}, nil)
			res, err := EvaluateLabelled(context.Background(), x, labels, Settings{
				QueryBlock: tc.qBlock, CorpusBlock: tc.cBlock, Workers: tc.workers, PerQuery: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			assertMetricsClose(t, res.Metrics, want)
			for q := range wantPer {
				g, w := res.PerQuery[q], wantPer[q]
				if g.R != w.R || math.Abs(g.APAtR-w.APAtR) > 1e-12 || len(g.TopNegatives) != len(w.TopNegatives) {
					t.Fatalf("query %d: got %+v, want %+v", q, g, w)
				}
				for k := range w.TopNegatives {
					if g.TopNegatives[k].Index != w.TopNegatives[k].Index || g.TopNegatives[k].RelevantAbove != w.TopNegatives[k].RelevantAbove {
						t.Fatalf("query %d top negatives %v, want %v", q, g.TopNegatives, w.TopNegatives)
					}
				}
			}
			p, n := res.Hist.Counts()
			if int(p) != len(pos) || int(n) != len(neg) {
				t.Fatalf("histogram counts %d/%d, want %d/%d", p, n, len(pos), len(neg))
			}
			if len(pos) > 0 && len(neg) > 0 {
				wantAUC := bruteAUC(pos, neg)
				if d := math.Abs(res.Metrics.ROCAUC - wantAUC); d > res.AUCMaxError+1e-12 || (!tc.tied && res.AUCMaxError > 1e-3) {
					t.Errorf("ROC-AUC %.12f, brute force %.12f (|diff| %.3g, bound %.3g)", res.Metrics.ROCAUC, wantAUC, d, res.AUCMaxError)
				}
			} else if !math.IsNaN(res.Metrics.ROCAUC) {
				t.Errorf("ROC-AUC without both pair kinds = %v, want NaN", res.Metrics.ROCAUC)
			}
		})
	}
}

func TestEvaluatePairsBruteForce(t *testing.T) {
	cases := []struct {
		name     string
		q, c, d  int
		tied     bool
		withSelf bool
		qBlock   int
		cBlock   int
	}{
		{"gaussian", 30, 70, 6, false, false, 0, 0},
		{"gaussian/self/blocks", 30, 70, 6, false, true, 4, 9},
		{"ties/blocks", 25, 60, 8, true, true, 6, 7},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ci), 11))
			qs := randMatrix(rng, tc.q, tc.d, tc.tied)
			cs := randMatrix(rng, tc.c, tc.d, tc.tied)
			positives := make([][]int, tc.q)
			var self []int
			if tc.withSelf {
				self = make([]int, tc.q)
			}
			for i := range positives {
				for range rng.IntN(4) { // 0..3 positives, maybe repeated
					positives[i] = append(positives[i], rng.IntN(tc.c))
				}
				if self != nil {
					self[i] = -1
					if i%3 == 0 {
						self[i] = rng.IntN(tc.c)
					}
				}
			}
			uq, uc := bruteNormalize(qs), bruteNormalize(cs)
			cands := make([][]bruteCand, tc.q)
			r := make([]int, tc.q)
			var pos, neg []float64
			for i := range tc.q {
				isPos := map[int]bool{}
				for _, p := range positives[i] {
					if self == nil || p != self[i] {
						isPos[p] = true
					}
				}
				r[i] = len(isPos)
				for j := range tc.c {
					if self != nil && self[i] == j {
						continue
					}
					s := float64(float32(dot(uq[i], uc[j])))
					cands[i] = append(cands[i], bruteCand{s, j, isPos[j]})
					if isPos[j] {
						pos = append(pos, s)
					} else {
						neg = append(neg, s)
					}
				}
			}
			want, _ := bruteMetrics(cands, r, []int{1, 3, 10}, nil)
			res, err := EvaluatePairs(context.Background(), qs, cs, positives, self, Settings{
				RecallK: []int{1, 3, 10}, QueryBlock: tc.qBlock, CorpusBlock: tc.cBlock,
			})
			if err != nil {
				t.Fatal(err)
			}
			assertMetricsClose(t, res.Metrics, want)
			wantAUC := bruteAUC(pos, neg)
			if d := math.Abs(res.Metrics.ROCAUC - wantAUC); d > res.AUCMaxError+1e-12 {
				t.Errorf("ROC-AUC %.12f, brute force %.12f", res.Metrics.ROCAUC, wantAUC)
			}
		})
	}
}

// Workers never change a result. Block sizes change which BLAS tile
// computes a score, so scores may differ in the last bit; the metrics on
// data without near-ties stay the same.
func TestEvaluateDeterministicAcrossWorkers(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	x := randMatrix(rng, 300, 16, false)
	labels := make([]int, 300)
	for i := range labels {
		labels[i] = rng.IntN(12)
	}
	for _, blocks := range [][2]int{{0, 0}, {13, 17}} {
		var first *Result
		for _, workers := range []int{1, 2, 5} {
			s := Settings{PerQuery: true, QueryBlock: blocks[0], CorpusBlock: blocks[1], Workers: workers}
			res, err := EvaluateLabelled(context.Background(), x, labels, s)
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = res
				continue
			}
			if !reflect.DeepEqual(res.Metrics, first.Metrics) || !reflect.DeepEqual(res.PerQuery, first.PerQuery) {
				t.Fatalf("workers=%d changed the result:\n%+v\nvs\n%+v", workers, res.Metrics, first.Metrics)
			}
			if !reflect.DeepEqual(res.Hist.Pos, first.Hist.Pos) || !reflect.DeepEqual(res.Hist.Neg, first.Hist.Neg) {
				t.Fatal("histograms differ between worker counts")
			}
		}
	}
	a, _ := EvaluateLabelled(context.Background(), x, labels, Settings{})
	b, _ := EvaluateLabelled(context.Background(), x, labels, Settings{QueryBlock: 13, CorpusBlock: 17})
	if !reflect.DeepEqual(a.Metrics, b.Metrics) {
		t.Errorf("block sizes changed the metrics:\n%+v\nvs\n%+v", a.Metrics, b.Metrics)
	}
}

func TestEvaluateErrors(t *testing.T) {
	x := linalg.NewMatrix(3, 2)
	x.Data[0] = float32(math.NaN())
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name string
		run  func() error
	}{
		{"label count", func() error { _, err := EvaluateLabelled(ctx, x, []int{1}, Settings{}); return err }},
		{"nan", func() error { _, err := EvaluateLabelled(ctx, x, []int{1, 1, 2}, Settings{}); return err }},
		{"recall order", func() error {
			_, err := EvaluateLabelled(ctx, linalg.NewMatrix(3, 2), []int{1, 1, 2}, Settings{RecallK: []int{5, 1}})
			return err
		}},
		{"positive out of range", func() error {
			_, err := EvaluatePairs(ctx, linalg.NewMatrix(1, 2), linalg.NewMatrix(2, 2), [][]int{{2}}, nil, Settings{})
			return err
		}},
		{"dimension", func() error {
			_, err := EvaluatePairs(ctx, linalg.NewMatrix(1, 2), linalg.NewMatrix(2, 3), [][]int{{0}}, nil, Settings{})
			return err
		}},
		{"cancelled", func() error {
			_, err := EvaluateLabelled(cancelled, linalg.NewMatrix(3, 2), []int{1, 1, 2}, Settings{})
			return err
		}},
	}
	for _, tc := range tests {
		if err := tc.run(); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestSimilarityHistogram(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	h := NewSimilarityHistogram()
	var pos, neg []float64
	for range 400 {
		p := float32(math.Tanh(rng.NormFloat64()*0.3 + 0.5))
		n := float32(math.Tanh(rng.NormFloat64() * 0.3))
		h.Add(p, true)
		h.Add(n, false)
		pos, neg = append(pos, float64(p)), append(neg, float64(n))
	}
	// Best threshold against a brute-force scan of every observed value.
	bestAcc := 0.0
	for _, t0 := range append(append([]float64{}, pos...), neg...) {
		var ok int
		for _, p := range pos {
			if p >= t0 {
				ok++
			}
		}
		for _, n := range neg {
			if n < t0 {
				ok++
			}
		}
		bestAcc = math.Max(bestAcc, float64(ok)/800)
	}
	bt := h.BestThreshold(false)
	if math.Abs(bt.Accuracy-bestAcc) > 1.0/800+1e-12 { // a bin may merge two values
		t.Errorf("best accuracy %v, brute force %v", bt.Accuracy, bestAcc)
	}
	if bt.Threshold < 0 || bt.Threshold > 0.5 {
		t.Errorf("threshold %v outside the gap between the classes", bt.Threshold)
	}
	sort.Float64s(pos)
	if q := h.Quantile(true, 0.5); math.Abs(q-pos[199]) > 1e-5 {
		t.Errorf("median positive %v, want %v", q, pos[199])
	}
	edges, cp, cn := h.Coarse(64)
	if len(edges) != 65 || edges[0] != -1 || edges[64] != 1 {
		t.Errorf("edges %v", edges)
	}
	var sp, sn uint64
	for i := range cp {
		sp, sn = sp+cp[i], sn+cn[i]
	}
	if sp != 400 || sn != 400 {
		t.Errorf("coarse counts %d/%d", sp, sn)
	}
	if o := h.Overlap(64); !(o > 0 && o < 1) {
		t.Errorf("overlap %v not in (0,1)", o)
	}
	same := NewSimilarityHistogram()
	for _, v := range []float32{0.1, 0.2, 0.3} {
		same.Add(v, true)
		same.Add(v, false)
	}
	if o := same.Overlap(64); math.Abs(o-1) > 1e-12 {
		t.Errorf("identical distributions overlap %v, want 1", o)
	}
	if auc, _ := same.ROCAUC(); math.Abs(auc-0.5) > 1e-12 {
		t.Errorf("identical distributions AUC %v, want 0.5", auc)
	}
}

func TestPerClassMetricsWorstFirst(t *testing.T) {
	per := []QueryMetrics{
		{R: 1, APAtR: 1, PrecisionAt1: 1, Recall: []float64{1}},
		{R: 1, APAtR: 0.5, Recall: []float64{0}},
		{R: 2, APAtR: 0.2, Recall: []float64{0}},
		{R: 0}, // singleton: skipped
		{R: 2, APAtR: 0.4, Recall: []float64{1}},
	}
	labels := []int{7, 7, 3, 9, 3}
	got := PerClassMetrics(per, labels, []int{1})
	if len(got) != 2 || got[0].Label != 3 || got[1].Label != 7 {
		t.Fatalf("order %+v", got)
	}
	b, err := json.Marshal(got[0].Metrics)
	if err != nil || !strings.Contains(string(b), `"roc_auc":null`) || !strings.Contains(string(b), `"map_at_r":0.3`) {
		t.Errorf("JSON %s, %v", b, err)
	}
	if math.Abs(got[0].Metrics.MAPAtR-0.3) > 1e-12 || got[0].Metrics.RecallAtK(1) != 0.5 || got[1].Metrics.PrecisionAt1 != 0.5 {
		t.Errorf("class metrics %+v", got)
	}
}

func BenchmarkEvaluateLabelled(b *testing.B) {
	for _, n := range []int{4096, 16384} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			x := randMatrix(rng, n, 128, false)
			labels := make([]int, n)
			for i := range labels {
				labels[i] = rng.IntN(45)
			}
			for b.Loop() {
				if _, err := EvaluateLabelled(context.Background(), x, labels, Settings{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Evaluate a labelled embedding set: each row queries the others and
// same-label rows are the relevant ones.
func ExampleEvaluateLabelled() {
	x := linalg.NewMatrix(4, 2)
	copy(x.Data, []float32{
		1, 0.1, // class 0
		1, 0.2, // class 0
		0.1, 1, // class 1
		0.3, 1, // class 1
	})
	res, err := EvaluateLabelled(context.Background(), x, []int{0, 0, 1, 1}, Settings{})
	if err != nil {
		panic(err)
	}
	m := res.Metrics
	fmt.Printf("P@1 %.2f  MAP@R %.2f  recall@1 %.2f  ROC-AUC %.2f\n", m.PrecisionAt1, m.MAPAtR, m.RecallAtK(1), m.ROCAUC)
	// Output: P@1 1.00  MAP@R 1.00  recall@1 1.00  ROC-AUC 1.00
}
