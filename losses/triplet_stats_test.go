package losses

import (
	"context"
	"errors"
	"testing"
)

// CountTriplets over several margins equals one TripletStats per margin,
// on the sorted path (classes of several rows) and on the direct path
// (the pair form: one positive per anchor), for every distance.
func TestCountTripletsMatchesPerMargin(t *testing.T) {
	x64, labels := randomBatch(3, 60, 6, 4)
	x := mat32(x64)
	pairs := batchLabels(x.Rows, nil, x.Rows/2)
	margins := []float64{0, 0.05, 0.2, 1, 3}
	for _, lab := range [][]int{labels, pairs} {
		for _, d := range []Distance{Euclidean, SquaredEuclidean, Cosine} {
			for _, norm := range []bool{true, false} {
				got, err := CountTriplets(context.Background(), x, lab, d, norm, margins, nil)
				if err != nil {
					t.Fatal(err)
				}
				for k, m := range margins {
					if want := TripletStats(x, lab, d, m, norm); got[k] != want {
						t.Errorf("%v normalize=%v margin %v: %+v, TripletStats %+v", d, norm, m, got[k], want)
					}
					if g := got[k]; g.Total != got[0].Total || g.Easy+g.Semihard+g.Hard != g.Total {
						t.Errorf("%v margin %v: totals %+v vs %+v", d, m, g, got[0])
					}
				}
				if k := len(margins) - 1; got[k].Easy > got[0].Easy {
					t.Errorf("%v: more easy triplets at a larger margin: %+v", d, got)
				}
			}
		}
	}
}

func TestCountTripletsProgressAndCancel(t *testing.T) {
	x64, labels := randomBatch(4, 30, 5, 3)
	x := mat32(x64)
	var done []int
	if _, err := CountTriplets(context.Background(), x, labels, Euclidean, true, []float64{0.2}, func(n int) { done = append(done, n) }); err != nil {
		t.Fatal(err)
	}
	if len(done) == 0 || done[len(done)-1] != x.Rows {
		t.Errorf("progress %v, want ending at %d", done, x.Rows)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := CountTriplets(ctx, x, labels, Euclidean, true, []float64{0.2}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err %v", err)
	}
	// No rows, no margins: nothing to count, no panic.
	if c, err := CountTriplets(context.Background(), mat32(newMatrix64(0, 3)), nil, Cosine, true, []float64{0.1}, nil); err != nil || c[0].Total != 0 {
		t.Errorf("empty batch: %+v %v", c, err)
	}
}
