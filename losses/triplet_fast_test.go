package losses

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestHingeSmallMatchesGeneral checks that the ≤16-positive fast path of the
// triplet hinge gives bit-identical sums, counts and gradient weights to the
// rank-table path, on random distances with ties and boundary values.
func TestHingeSmallMatchesGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2))
	for _, mining := range []Mining{MineAll, MineSemihard} {
		for _, dk := range []Distance{Euclidean, SquaredEuclidean, Cosine} {
			for _, margin := range []float64{0.2, 0, 0.5} {
				tr := &Triplet{Margin: margin, Distance: dk, Mining: mining}
				for trial := range 200 {
					P := 1 + rng.IntN(16)
					n := P + 1 + rng.IntN(60)
					d := make([]float64, n)
					for i := range d {
						d[i] = math.Round((1+rng.NormFloat64()*0.3)*32) / 32 // many ties
					}
					if trial%3 == 0 { // negatives exactly at a positive ± margin
						for i := P; i < n; i++ {
							d[i] = d[rng.IntN(P)] + margin*float64(rng.IntN(3)-1)
						}
					}
					pos := make([]int, P)
					for i := range pos {
						pos[i] = i
					}
					negs := [2][2]int{{P, P + (n-P)/2}, {P + (n-P)/2, n}}
					run := func(general bool) (float64, float64, []float64, []float64) {
						k := &tripletKernel{t: tr, general: general}
						w, h := make([]float64, n), make([]float64, n)
						var sc scratch
						sum, cnt := k.hinge(d, slices.Clone(pos), negs, w, h, &sc)
						return sum, cnt, w, h
					}
					s0, c0, w0, h0 := run(true)
					s1, c1, w1, h1 := run(false)
					if s0 != s1 || c0 != c1 || !slices.Equal(w0, w1) || !slices.Equal(h0, h1) {
						t.Fatalf("%v %v margin %v P=%d d=%v: general (%v, %v, %v, %v) != small (%v, %v, %v, %v)",
							mining, dk, margin, P, d, s0, c0, w0, h0, s1, c1, w1, h1)
					}
				}
			}
		}
	}
}

func TestCountLE16(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 1))
	for range 500 {
		var p [16]float64
		P := 1 + rng.IntN(16)
		for i := range P {
			p[i] = math.Round(rng.NormFloat64()*8) / 4
		}
		slices.Sort(p[:P])
		for i := P; i < 16; i++ {
			p[i] = math.Inf(1)
		}
		xs := []float64{math.Inf(-1), -1e9, 1e9, rng.NormFloat64() * 3}
		for _, v := range p[:P] {
			xs = append(xs, v, math.Nextafter(v, math.Inf(1)), math.Nextafter(v, math.Inf(-1)))
		}
		for _, x := range xs {
			want := 0
			for _, v := range p {
				if v <= x {
					want++
				}
			}
			if got := countLE16(&p, x); got != want {
				t.Fatalf("countLE16(%v, %v) = %d, want %d", p, x, got, want)
			}
		}
	}
}

// TestFirstWithSqrt checks that the nearest negative chosen on squared
// distances is the row chosen on the distances, including rows whose
// squares differ but whose rounded roots tie.
func TestFirstWithSqrt(t *testing.T) {
	// Find two adjacent squares with the same rounded root.
	var lo, hi float64
	for x := 1.3; ; x = math.Nextafter(x, 2) {
		if y := math.Nextafter(x, 2); math.Sqrt(x) == math.Sqrt(y) {
			lo, hi = x, y
			break
		}
	}
	for _, c := range []struct {
		name string
		d    []float64
		negs [2][2]int
	}{
		{"root tie before the min", []float64{9, hi, 5, lo, 4}, [2][2]int{{1, 2}, {3, 5}}},
		{"root tie in first range", []float64{hi, 7, lo, 0, 0}, [2][2]int{{0, 3}, {5, 5}}},
		{"distinct", []float64{3, 2, 1, 2, 1}, [2][2]int{{0, 2}, {2, 5}}},
		{"zeros", []float64{0, 1, 0, 0}, [2][2]int{{0, 0}, {1, 4}}},
		{"nan first", []float64{math.NaN(), 1, 2}, [2][2]int{{0, 3}, {3, 3}}},
	} {
		// Reference: the first smallest root, in order.
		roots := make([]float64, len(c.d))
		for i, v := range c.d {
			roots[i] = math.Sqrt(v)
		}
		want := -1
		var qs int = -1
		for _, r := range c.negs {
			for j := r[0]; j < r[1]; j++ {
				if want < 0 || roots[j] < roots[want] {
					want = j
				}
				if qs < 0 || c.d[j] < c.d[qs] {
					qs = j
				}
			}
		}
		d := slices.Clone(c.d)
		got := firstWithSqrt(d, c.negs, qs)
		if got != want || !(d[got] == roots[want] || math.IsNaN(roots[want]) && math.IsNaN(d[got])) {
			t.Errorf("%s: firstWithSqrt = %d (d %v), want %d (root %v)", c.name, got, d[got], want, roots[want])
		}
	}
}

// TestRankSort checks rankSort against a stable sort on random, tied and
// NaN distances, 0 to 16 of them.
func TestRankSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	vals := []float64{0, 0.5, 1, 1, 1.5, 2}
	for it := range 2000 {
		m := it % 17
		order := make([]posDist, m)
		for i := range order {
			order[i] = posDist{rng.Float64(), int32(100 + i)}
			if it%3 == 0 {
				order[i].d = vals[rng.IntN(len(vals))]
			}
		}
		nan := it%50 == 7 && m > 1
		if nan {
			order[rng.IntN(m)].d = math.NaN()
		}
		want := slices.Clone(order)
		slices.SortStableFunc(want, func(x, y posDist) int { return cmp.Compare(x.d, y.d) })
		dp, idx := make([]float64, m), make([]int32, m)
		ok := rankSort(order, dp, idx)
		if nan {
			if ok {
				t.Fatalf("it %d: a NaN distance should make rankSort give up", it)
			}
			continue
		}
		if !ok {
			t.Fatalf("it %d: rankSort gave up on %v", it, order)
		}
		for i, w := range want {
			if dp[i] != w.d || idx[i] != w.j {
				t.Fatalf("it %d: position %d is (%v, %d), want (%v, %d)", it, i, dp[i], idx[i], w.d, w.j)
			}
		}
	}
}
