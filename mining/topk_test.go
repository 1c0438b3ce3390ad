package mining

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/embfit/embfit/internal/linalg"
	"gonum.org/v1/gonum/blas/blas32"
)

// intMatrix returns a rows×cols matrix of small integers in [-lim, lim], so
// that every dot product is exact in float32 and ties are frequent.
func intMatrix(r *rand.Rand, rows, cols, lim int) blas32.General {
	m := linalg.NewMatrix(rows, cols)
	for i := range m.Data {
		m.Data[i] = float32(r.IntN(2*lim+1) - lim)
	}
	return m
}

// bruteTopK ranks every corpus row for every query by the float64 dot
// product (dot, whose summation order TopK's scores must reproduce), ties
// by lower row, skipping excluded rows.
func bruteTopK(queries, corpus blas32.General, k int, exclude Exclude) [][]Hit {
	out := make([][]Hit, queries.Rows)
	for q := range queries.Rows {
		var all []Hit
		for c := range corpus.Rows {
			if exclude != nil && exclude(q, c) {
				continue
			}
			s := dot(linalg.Row(queries, q), linalg.Row(corpus, c))
			all = append(all, Hit{Index: int32(c), Score: s})
		}
		slices.SortStableFunc(all, func(a, b Hit) int {
			switch {
			case a.Score > b.Score:
				return -1
			case a.Score < b.Score:
				return 1
			}
			return int(a.Index - b.Index)
		})
		out[q] = all[:min(k, len(all))]
	}
	return out
}

func TestTopKMatchesBruteForce(t *testing.T) {
	for _, tc := range []struct {
		name               string
		q, c, d, k, qb, cb int
		lim, workers       int
		exclude            bool
	}{
		{"ties/one-block", 7, 40, 3, 5, 0, 0, 1, 0, false},
		{"ties/uneven-blocks", 23, 101, 4, 9, 5, 17, 1, 3, false},
		{"ties/k>corpus", 6, 8, 3, 20, 4, 3, 2, 2, false},
		{"wide/exclude", 31, 257, 16, 12, 8, 32, 3, 2, true},
		{"wide/k=1", 19, 300, 8, 1, 7, 64, 4, 5, true},
		{"exclude-most", 10, 50, 2, 30, 3, 7, 1, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(tc.q), uint64(tc.c)))
			queries := intMatrix(r, tc.q, tc.d, tc.lim)
			corpus := intMatrix(r, tc.c, tc.d, tc.lim)
			var ex Exclude
			if tc.exclude {
				ex = func(q, c int) bool { return (q*7+c)%3 == 0 }
			}
			want := bruteTopK(queries, corpus, tc.k, ex)
			var got Results
			s := SearchSettings{QueryBlock: tc.qb, CorpusBlock: tc.cb, Workers: tc.workers}
			if err := TopK(context.Background(), &got, queries, corpus, tc.k, s, ex, nil); err != nil {
				t.Fatal(err)
			}
			for q := range tc.q {
				if !slices.Equal(got.Row(q), want[q]) {
					t.Fatalf("query %d:\n got %v\nwant %v", q, got.Row(q), want[q])
				}
			}
		})
	}
}

// TestTopKFloatData checks real-valued data against the float64 brute
// force: the float32 GEMM only proposes candidates, so the result must be
// the exact float64 ranking, bit for bit.
func TestTopKFloatData(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	queries, corpus := linalg.NewMatrix(40, 24), linalg.NewMatrix(500, 24)
	for _, m := range []blas32.General{queries, corpus} {
		for i := range m.Data {
			m.Data[i] = float32(r.NormFloat64())
		}
	}
	NormalizeRows(queries)
	NormalizeRows(corpus)
	// Near-ties at the boundary: corpus rows 100..139 are copies of row 7
	// nudged by one float32 ulp in one coordinate.
	for i := 100; i < 140; i++ {
		row := linalg.Row(corpus, i)
		copy(row, linalg.Row(corpus, 7))
		row[i%24] = math.Nextafter32(row[i%24], 2)
	}
	for _, k := range []int{1, 10, 45} {
		want := bruteTopK(queries, corpus, k, nil)
		var got Results
		if err := TopK(context.Background(), &got, queries, corpus, k, SearchSettings{QueryBlock: 16, CorpusBlock: 128}, nil, nil); err != nil {
			t.Fatal(err)
		}
		for q := range queries.Rows {
			if !slices.Equal(got.Row(q), want[q]) {
				t.Fatalf("k=%d query %d:\n got %v\nwant %v", k, q, got.Row(q), want[q])
			}
		}
		t.Logf("k=%d: %d queries rescanned", k, got.Rescanned)
	}
}

// TestTopKDeterministic runs the same search with different worker counts
// and block shapes (hence different GEMM shapes and float32 roundings) and
// requires identical results bit for bit.
func TestTopKDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 1))
	queries, corpus := linalg.NewMatrix(64, 96), linalg.NewMatrix(700, 96)
	for _, m := range []blas32.General{queries, corpus} {
		for i := range m.Data {
			m.Data[i] = float32(r.NormFloat64())
		}
	}
	var ref Results
	for i, s := range []SearchSettings{{Workers: 1}, {Workers: 2, QueryBlock: 7, CorpusBlock: 33}, {Workers: 3, QueryBlock: 64, CorpusBlock: 700}, {Workers: 8, QueryBlock: 1, CorpusBlock: 1}} {
		var got Results
		if err := TopK(context.Background(), &got, queries, corpus, 17, s, nil, nil); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			ref = got
			continue
		}
		for q := range queries.Rows {
			if !slices.Equal(got.Row(q), ref.Row(q)) {
				t.Fatalf("settings %+v: query %d differs", s, q)
			}
		}
	}
}

// TestTopKRescan: with many exact ties at rank K the float32 pass cannot
// prove the order and the second pass must run; results still match.
func TestTopKRescan(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	queries := intMatrix(r, 12, 3, 1)
	corpus := intMatrix(r, 400, 3, 1)
	ex := func(q, c int) bool { return c%5 == q%5 }
	want := bruteTopK(queries, corpus, 6, ex)
	var got Results
	if err := TopK(context.Background(), &got, queries, corpus, 6, SearchSettings{QueryBlock: 5, CorpusBlock: 64}, ex, nil); err != nil {
		t.Fatal(err)
	}
	if got.Rescanned == 0 {
		t.Fatal("no query was rescanned: the test does not exercise the second pass")
	}
	for q := range queries.Rows {
		if !slices.Equal(got.Row(q), want[q]) {
			t.Fatalf("query %d:\n got %v\nwant %v", q, got.Row(q), want[q])
		}
	}
}

func TestTopKCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	q, c := linalg.NewMatrix(4, 3), linalg.NewMatrix(5, 3)
	var res Results
	if err := TopK(ctx, &res, q, c, 2, SearchSettings{}, nil, nil); err != context.Canceled {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestSearchSettingsValidate(t *testing.T) {
	for _, tc := range []struct {
		s  SearchSettings
		ok bool
	}{
		{SearchSettings{}, true},
		{SearchSettings{QueryBlock: -1}, false},
		{SearchSettings{Workers: -2}, false},
	} {
		if err := tc.s.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: err = %v", tc.s, err)
		}
	}
	// What is searched for is not a setting: k must be ≥ 1.
	q, c := linalg.NewMatrix(2, 3), linalg.NewMatrix(4, 3)
	var res Results
	for _, k := range []int{0, -1} {
		if err := TopK(context.Background(), &res, q, c, k, SearchSettings{}, nil, nil); err == nil {
			t.Errorf("k=%d: no error", k)
		}
	}
}

func ExampleTopK() {
	corpus := blas32.General{Rows: 4, Cols: 2, Stride: 2, Data: []float32{
		1, 0,
		0, 1,
		0.6, 0.8,
		0.8, 0.6,
	}}
	queries := blas32.General{Rows: 1, Cols: 2, Stride: 2, Data: []float32{1, 0}}
	var res Results
	// Skip corpus row 0 (say, the query's own positive).
	skip := func(q, c int) bool { return c == 0 }
	if err := TopK(context.Background(), &res, queries, corpus, 2, SearchSettings{}, skip, nil); err != nil {
		panic(err)
	}
	for _, h := range res.Row(0) {
		fmt.Printf("row %d score %.1f\n", h.Index, h.Score)
	}
	// Output:
	// row 3 score 0.8
	// row 2 score 0.6
}

// TestDot checks the fixed-order float64 dot product against a plain sum
// (close, as the order differs) for lengths around the unrolling.
func TestDot(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	for n := range 11 {
		a, b := make([]float32, n), make([]float32, n)
		want := 0.0
		for i := range a {
			a[i], b[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
			want += float64(a[i]) * float64(b[i])
		}
		if got := dot(a, b); math.Abs(got-want) > 1e-12 {
			t.Errorf("n=%d: dot %v, want %v", n, got, want)
		}
		if got, want := dot64(toFloat64(nil, a), b), dot(a, b); got != want {
			t.Errorf("n=%d: dot64 %v != dot %v", n, got, want)
		}
	}
}
