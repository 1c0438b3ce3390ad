package topk

import (
	"math/rand/v2"
	"slices"
	"testing"
)

type item struct {
	score float64
	idx   int
}

func better(a, b item) bool { return a.score > b.score || (a.score == b.score && a.idx < b.idx) }

func TestPushKeepsTheKBest(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name   string
		n, k   int
		levels int // distinct scores: small values make ties
	}{
		{"k larger than n", 5, 10, 100},
		{"k of n", 200, 7, 1000},
		{"many ties", 300, 20, 3},
		{"k one", 50, 1, 10},
		{"k zero", 50, 0, 10},
	} {
		items := make([]item, tc.n)
		for i := range items {
			items[i] = item{float64(rng.IntN(tc.levels)), i}
		}
		h := make([]item, 0, tc.k)
		for _, it := range items {
			h = Push(h, it, better)
		}
		got := Sort(h, better)
		want := Sort(slices.Clone(items), better)[:min(tc.k, tc.n)]
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, want)
		}
	}
}

// A full heap keeps its worst item at h[0].
func TestWorstAtRoot(t *testing.T) {
	h := make([]item, 0, 4)
	for i, s := range []float64{5, 1, 9, 3, 7, 2, 8} {
		h = Push(h, item{s, i}, better)
		for _, it := range h[1:] {
			if better(h[0], it) {
				t.Fatalf("after %d pushes the root %v is better than %v", i+1, h[0], it)
			}
		}
	}
	if h[0].score != 5 {
		t.Fatalf("root %v, want the 4th best (5)", h[0])
	}
}
