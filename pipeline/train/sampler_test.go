package train

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestMPerClassSamplerInvariants(t *testing.T) {
	// Class 0: 10 rows, class 1: 3 rows (fewer than K), class 2: 1 row
	// (never usable), classes 3..5: 6 rows each.
	var labels []int
	for c, n := range []int{10, 3, 1, 6, 6, 6} {
		for range n {
			labels = append(labels, c)
		}
	}
	s, err := NewMPerClassSampler(labels, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.BatchesPerEpoch(), (len(labels)-1+11)/12; got != want {
		t.Errorf("batches per epoch %d, want %d", got, want)
	}
	seenSmall := false
	for epoch := range 50 {
		for _, b := range s.Epoch(rand.New(rand.NewPCG(9, uint64(epoch)))) {
			if len(b) != 12 {
				t.Fatalf("batch of %d rows, want 12", len(b))
			}
			count := map[int]int{}
			distinct := map[int]map[int]bool{}
			for _, i := range b {
				y := labels[i]
				count[y]++
				if distinct[y] == nil {
					distinct[y] = map[int]bool{}
				}
				distinct[y][i] = true
			}
			if len(count) != 3 {
				t.Fatalf("batch has %d classes, want 3: %v", len(count), b)
			}
			for y, n := range count {
				if n != 4 {
					t.Fatalf("class %d has %d rows, want 4", y, n)
				}
				if y == 2 {
					t.Fatalf("singleton class drawn")
				}
				if y == 1 {
					seenSmall = true
					if len(distinct[y]) != 3 {
						t.Fatalf("small class used %d of its 3 rows", len(distinct[y]))
					}
				} else if len(distinct[y]) != 4 {
					t.Fatalf("class %d repeated a row within a batch: %v", y, b)
				}
			}
		}
	}
	if !seenSmall {
		t.Error("class with 3 rows never drawn in 50 epochs")
	}
	a := s.Epoch(rand.New(rand.NewPCG(1, 2)))
	b := s.Epoch(rand.New(rand.NewPCG(1, 2)))
	if !reflect.DeepEqual(a, b) {
		t.Error("same seed gave different epochs")
	}
	if _, err := NewMPerClassSampler(labels, 6, 2); err == nil {
		t.Error("6 classes per batch accepted with only 5 usable classes")
	}
}

func TestPairBatchesNoDuplicates(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	// Few distinct texts so that collisions are frequent.
	var rows []PairRow
	for i := range 300 {
		row := PairRow{Anchor: 1000 + i, Positive: r.IntN(60)}
		for range 3 {
			row.Negatives = append(row.Negatives, r.IntN(80))
		}
		rows = append(rows, row)
	}
	rows = append(rows, PairRow{Anchor: 7, Positive: 7}) // degenerate, dropped
	batches := PairBatches(rows, 16, 2, rand.New(rand.NewPCG(1, 1)))
	used := map[int]int{}
	for _, b := range batches {
		if len(b.Rows) < 2 || len(b.Rows) > 16 {
			t.Fatalf("batch of %d rows", len(b.Rows))
		}
		texts := map[int]bool{}
		for _, lst := range [][]int{b.Anchors, b.Positives, b.Negatives} {
			for _, x := range lst {
				if texts[x] {
					t.Fatalf("text %d twice in a batch", x)
				}
				texts[x] = true
			}
		}
		for k, ri := range b.Rows {
			used[ri]++
			if b.Anchors[k] != rows[ri].Anchor || b.Positives[k] != rows[ri].Positive {
				t.Fatal("anchor/positive not aligned with row")
			}
		}
		if len(b.Negatives) > 2*len(b.Rows) {
			t.Fatalf("%d negatives for %d rows with at most 2 each", len(b.Negatives), len(b.Rows))
		}
	}
	// Every row once, except the degenerate one and possibly a lone
	// leftover at the very end.
	missing := 0
	for i := range 300 {
		if used[i] > 1 {
			t.Fatalf("row %d used %d times", i, used[i])
		}
		if used[i] == 0 {
			missing++
		}
	}
	if missing > 1 || used[300] != 0 {
		t.Errorf("%d rows unused; degenerate row used %d times", missing, used[300])
	}
	again := PairBatches(rows, 16, 2, rand.New(rand.NewPCG(1, 1)))
	if !reflect.DeepEqual(batches, again) {
		t.Error("same seed gave different batches")
	}
}
