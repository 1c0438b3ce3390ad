package mining

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/losses"
	"gonum.org/v1/gonum/blas/blas32"
)

// intBatch returns integer embeddings (exact squared distances, many ties),
// their squared Euclidean distance matrix and labels in [0, classes).
func intBatch(r *rand.Rand, n, d, classes int) (x, dist blas32.General, labels []int) {
	x = intMatrix(r, n, d, 2)
	dist = linalg.NewMatrix(n, n)
	losses.Distances(dist, x, losses.SquaredEuclidean)
	for range n {
		labels = append(labels, r.IntN(classes))
	}
	return x, dist, labels
}

type triplet struct{ a, p, n int32 }

func tripletList(t *Triplets) []triplet {
	var out []triplet
	for i := range t.Len() {
		out = append(out, triplet{t.Anchors[i], t.Positives[i], t.Negatives[i]})
	}
	return out
}

func TestTripletMinerMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, margin := range []float64{0, 1, 3.5} {
		for _, cat := range []Category{CategoryAll, CategoryEasy, CategorySemihard, CategoryHard} {
			t.Run(fmt.Sprintf("margin=%g/%v", margin, cat), func(t *testing.T) {
				x, dist, labels := intBatch(r, 24, 3, 4)
				labels[0] = 99 // a singleton: no positive
				var got Triplets
				counts := TripletMiner{Margin: margin, Category: cat}.Mine(&got, dist, labels)
				var want []triplet
				var wc CategoryCounts
				n := len(labels)
				for a := range n {
					for p := range n {
						for q := range n {
							if a == p || labels[a] != labels[p] || labels[q] == labels[a] {
								continue
							}
							m := float64(dist.Data[a*n+q]) - float64(dist.Data[a*n+p])
							var c Category
							switch {
							case m > margin:
								c, wc.Easy = CategoryEasy, wc.Easy+1
							case m > 0:
								c, wc.Semihard = CategorySemihard, wc.Semihard+1
							default:
								c, wc.Hard = CategoryHard, wc.Hard+1
							}
							wc.Total++
							if cat == CategoryAll || c == cat {
								want = append(want, triplet{int32(a), int32(p), int32(q)})
							}
						}
					}
				}
				if counts != wc {
					t.Errorf("counts %+v, want %+v", counts, wc)
				}
				if !slices.Equal(tripletList(&got), want) {
					t.Fatalf("triplets differ: got %d, want %d", got.Len(), len(want))
				}
				// Independent implementation in losses (binary search over
				// sorted negatives); exact on integer data.
				st := losses.TripletStats(x, labels, losses.SquaredEuclidean, margin, false)
				if st.Easy != wc.Easy || st.Semihard != wc.Semihard || st.Hard != wc.Hard {
					t.Errorf("losses.TripletStats %+v, want %+v", st, wc)
				}
			})
		}
	}
}

func TestTripletMinerMaxTriplets(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 12))
	_, dist, labels := intBatch(r, 20, 3, 3)
	var all Triplets
	TripletMiner{Margin: 1, Category: CategoryHard}.Mine(&all, dist, labels)
	full := tripletList(&all)
	if len(full) < 50 {
		t.Fatalf("only %d hard triplets; the test needs more", len(full))
	}
	sample := func(seed uint64) []triplet {
		var s Triplets
		TripletMiner{Margin: 1, Category: CategoryHard, MaxTriplets: 25, Seed: seed}.Mine(&s, dist, labels)
		return tripletList(&s)
	}
	a := sample(3)
	if len(a) != 25 {
		t.Fatalf("%d triplets, want 25", len(a))
	}
	last := -1
	for _, tr := range a {
		i := slices.Index(full, tr)
		if i <= last {
			t.Fatalf("%v: not a selected triplet or out of order", tr)
		}
		last = i
	}
	if !slices.Equal(a, sample(3)) {
		t.Fatal("same seed, different sample")
	}
	if slices.Equal(a, sample(4)) {
		t.Fatal("seeds 3 and 4 gave the same sample")
	}
	// Reservoir sampling is uniform: each quarter of the enumeration gets
	// about a quarter of the picks over many seeds (a biased reservoir
	// favours the start or the end).
	var quarter [4]int
	const seeds = 400
	for s := range uint64(seeds) {
		for _, tr := range sample(100 + s) {
			quarter[4*slices.Index(full, tr)/len(full)]++
		}
	}
	for i, q := range quarter {
		if f := float64(q) / (25 * seeds); f < 0.22 || f > 0.28 {
			t.Fatalf("quarter %d of the triplets got %.3f of the picks, want about 0.25", i, f)
		}
	}
}

func TestBatchHardMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 3))
	for trial := range 5 {
		_, dist, labels := intBatch(r, 16+trial, 2, 3) // d=2: many ties
		labels[trial] = 50 + trial                     // a singleton anchor
		var got Triplets
		counts := BatchHard(&got, dist, labels, 1)
		var want []triplet
		var wc CategoryCounts
		n := len(labels)
		for a := range n {
			p, q := -1, -1
			for j := range n {
				if j == a {
					continue
				}
				d := dist.Data[a*n+j]
				if labels[j] == labels[a] && (p < 0 || d > dist.Data[a*n+p]) {
					p = j
				}
				if labels[j] != labels[a] && (q < 0 || d < dist.Data[a*n+q]) {
					q = j
				}
			}
			if p >= 0 && q >= 0 {
				want = append(want, triplet{int32(a), int32(p), int32(q)})
				wc.add(categorize(float64(dist.Data[a*n+q])-float64(dist.Data[a*n+p]), 1))
			}
		}
		if !slices.Equal(tripletList(&got), want) || counts != wc {
			t.Fatalf("trial %d: got %v %+v, want %v %+v", trial, tripletList(&got), counts, want, wc)
		}
		for _, tr := range want {
			if tr.a == int32(trial) {
				t.Fatalf("singleton anchor %d mined", trial)
			}
		}
	}
}

func TestPairMinerMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	_, dist, labels := intBatch(r, 30, 3, 4)
	for _, m := range []PairMiner{{}, {PosMargin: 4, NegMargin: 8}, {PosMargin: 100, NegMargin: 100}} {
		var got Pairs
		c := m.Mine(&got, dist, labels)
		var want Pairs
		var wc PairCounts
		n := len(labels)
		for i := range n {
			for j := range n {
				if i >= j {
					continue
				}
				d := float64(dist.Data[i*n+j])
				if labels[i] == labels[j] {
					wc.Positive++
					if d > m.PosMargin {
						wc.PositiveMined++
						want.PosA, want.PosB = append(want.PosA, int32(i)), append(want.PosB, int32(j))
					}
				} else {
					wc.Negative++
					if d < m.NegMargin {
						wc.NegativeMined++
						want.NegA, want.NegB = append(want.NegA, int32(i)), append(want.NegB, int32(j))
					}
				}
			}
		}
		if c != wc || !slices.Equal(got.PosA, want.PosA) || !slices.Equal(got.PosB, want.PosB) ||
			!slices.Equal(got.NegA, want.NegA) || !slices.Equal(got.NegB, want.NegB) {
			t.Fatalf("%+v: counts %+v, want %+v", m, c, wc)
		}
	}
}

func TestParseCategory(t *testing.T) {
	for _, c := range []Category{CategoryAll, CategoryEasy, CategorySemihard, CategoryHard} {
		back, err := ParseCategory(c.String())
		if err != nil || back != c {
			t.Errorf("%v: round trip gave %v, %v", c, back, err)
		}
	}
	if _, err := ParseCategory("medium"); err == nil {
		t.Error("unknown category accepted")
	}
}

func ExampleTripletMiner() {
	// Four points on a line, two classes.
	x := blas32.General{Rows: 4, Cols: 1, Stride: 1, Data: []float32{0, 1, 1.5, 3}}
	labels := []int{0, 0, 1, 1}
	dist := linalg.NewMatrix(4, 4)
	losses.Distances(dist, x, losses.Euclidean)
	var hard Triplets
	counts := TripletMiner{Margin: 1, Category: CategoryHard}.Mine(&hard, dist, labels)
	fmt.Printf("%+v\n", counts)
	for i := range hard.Len() {
		fmt.Println(hard.Anchors[i], hard.Positives[i], hard.Negatives[i])
	}
	// Output:
	// {Easy:2 Semihard:3 Hard:3 Total:8}
	// 1 0 2
	// 2 3 0
	// 2 3 1
}
