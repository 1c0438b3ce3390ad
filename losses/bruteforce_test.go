package losses

import (
	"fmt"
	"math"
	"testing"

	"gonum.org/v1/gonum/blas/blas64"
)

// bruteTriplet enumerates every triplet (the O(N³) definition).
func bruteTriplet(x blas64.General, labels []int, t *Triplet) float64 {
	u, _, _ := prep64(x, t.Normalize)
	n, d := u.Rows, u.Cols
	D := func(i, j int) float64 {
		var dot, sq float64
		for k := range d {
			a, b := u.Data[i*d+k], u.Data[j*d+k]
			dot += a * b
			sq += (a - b) * (a - b)
		}
		switch t.Distance {
		case Cosine:
			return 1 - dot
		case SquaredEuclidean:
			return sq
		}
		return math.Sqrt(sq)
	}
	f := func(z float64) float64 {
		if t.Soft {
			return softplus(z)
		}
		return max(0, z)
	}
	var sum, cnt float64
	for a := range n {
		if t.Mining == MineBatchHard {
			p, q := -1, -1
			for j := range n {
				if j == a {
					continue
				}
				if labels[j] == labels[a] && (p < 0 || D(a, j) > D(a, p)) {
					p = j
				}
				if labels[j] != labels[a] && (q < 0 || D(a, j) < D(a, q)) {
					q = j
				}
			}
			if p >= 0 && q >= 0 {
				l := f(D(a, p) - D(a, q) + t.Margin)
				sum += l
				if t.Reduction == Mean || l > 0 {
					cnt++
				}
			}
			continue
		}
		for p := range n {
			if p == a || labels[p] != labels[a] {
				continue
			}
			for q := range n {
				if labels[q] == labels[a] {
					continue
				}
				m := D(a, q) - D(a, p)
				if !inMined(t.Mining, m, t.Margin) {
					continue
				}
				l := f(t.Margin - m)
				sum += l
				if t.Reduction == Mean || l > 0 {
					cnt++
				}
			}
		}
	}
	if cnt == 0 {
		return 0
	}
	return sum / cnt
}

func TestTripletMatchesBruteForce(t *testing.T) {
	x, labels := randomBatch(13, 30, 4, 4)
	for _, dist := range []string{"euclidean", "squared", "cosine"} {
		for _, mining := range miningEnum.names {
			for _, soft := range []bool{false, true} {
				for _, red := range []string{"avg_nonzero", "mean"} {
					for _, margin := range []float64{0.05, 0.2, 1} {
						spec := fmt.Sprintf("triplet:distance=%s,mining=%s,soft=%v,reduction=%s,margin=%g", dist, mining, soft, red, margin)
						tl := mustParse(t, spec).(*Triplet)
						got := tl.EvalFloat64(Batch64{X: x, Labels: labels}, blas64.General{})
						want := bruteTriplet(x, labels, tl)
						if math.Abs(got-want) > 1e-12*max(1, math.Abs(want)) {
							t.Errorf("%s: %.15g, brute force %.15g", spec, got, want)
						}
					}
				}
			}
		}
	}
}

func TestTripletStatsMatchesBruteForce(t *testing.T) {
	x64, labels := randomBatch(14, 40, 5, 5)
	x := mat32(x64)
	for _, d := range []Distance{Euclidean, SquaredEuclidean, Cosine} {
		for _, margin := range []float64{0, 0.1, 0.5} {
			got := TripletStats(x, labels, d, margin, true)
			// Brute force on the same float32 working rows.
			u, _, _ := prep32(x, true)
			n := u.Rows
			D := func(i, j int) float64 {
				var dot, sq float64
				for k := range u.Cols {
					a, b := float64(u.Data[i*u.Cols+k]), float64(u.Data[j*u.Cols+k])
					dot += a * b
					sq += (a - b) * (a - b)
				}
				switch d {
				case Cosine:
					return 1 - dot
				case SquaredEuclidean:
					return sq
				}
				return math.Sqrt(sq)
			}
			want := TripletCounts{Margin: margin}
			for a := range n {
				for p := range n {
					if p == a || labels[p] != labels[a] {
						continue
					}
					for q := range n {
						if labels[q] == labels[a] {
							continue
						}
						switch m := D(a, q) - D(a, p); {
						case m > margin:
							want.Easy++
						case m > 0:
							want.Semihard++
						default:
							want.Hard++
						}
						want.Total++
					}
				}
			}
			if got != want {
				t.Errorf("%v margin %g: %+v, brute force %+v", d, margin, got, want)
			}
		}
	}
}

func TestBounds(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 5, 8, 9, 31, 32, 33, 34, 40, 64, 65} {
		a := make([]float64, n)
		for i := range a {
			a[i] = float64(i / 2) // duplicates
		}
		for x := -1.0; x <= float64(n/2)+1; x += 0.5 {
			lb, ub := 0, 0
			for _, v := range a {
				if v < x {
					lb++
				}
				if v <= x {
					ub++
				}
			}
			if got := lowerBound(a, x); got != lb {
				t.Errorf("lowerBound(%v, %v) = %d, want %d", a, x, got, lb)
			}
			if got := upperBound(a, x); got != ub {
				t.Errorf("upperBound(%v, %v) = %d, want %d", a, x, got, ub)
			}
		}
	}
}

func TestFastExp(t *testing.T) {
	var worst float64
	for x := -745.0; x < 709; x += 0.000731 {
		e := math.Exp(x)
		if e == 0 {
			continue
		}
		worst = max(worst, math.Abs(fastExp(x)-e)/e)
	}
	if worst > 1e-15 {
		t.Errorf("fastExp worst relative error %.3g", worst)
	}
	for _, x := range []float64{math.Inf(-1), -800, 0, 710, math.Inf(1)} {
		if fastExp(x) != math.Exp(x) {
			t.Errorf("fastExp(%v) = %v, want %v", x, fastExp(x), math.Exp(x))
		}
	}
	if !math.IsNaN(fastExp(math.NaN())) {
		t.Error("fastExp(NaN) is not NaN")
	}
}
