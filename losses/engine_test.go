package losses

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"
)

func TestExpSumMatchesFastExp(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	src := []float64{0, -0.0, 1e-300, -699.9, 699.9, -700, 700, -745, 800, math.Inf(-1), math.Inf(1)}
	for range 5000 {
		src = append(src, (rng.Float64()-0.5)*1500)
	}
	for _, scale := range []float64{1, 1 / 0.07, 0.5} {
		for _, shift := range []float64{0, 3.25, -14} {
			dst := make([]float64, len(src))
			z0 := 0.125
			z := expSum(dst, src, scale, shift, z0)
			want := z0
			for j, v := range src {
				e := fastExp(v*scale - shift)
				if math.Float64bits(dst[j]) != math.Float64bits(e) {
					t.Fatalf("expSum(%v·%v − %v) = %v, fastExp gives %v", v, scale, shift, dst[j], e)
				}
				want += e
			}
			if math.Float64bits(z) != math.Float64bits(want) {
				t.Fatalf("expSum sum = %v, want %v (in index order)", z, want)
			}
		}
	}
}

func TestExpSumF32(t *testing.T) {
	var src []float64
	for x := -699.9; x < 699.9; x += 0.00731 {
		src = append(src, x)
	}
	src = append(src, 0, -0.0, -700, 700, -745, 800, math.Inf(-1), math.Inf(1), -1e-300)
	dst := make([]float64, len(src))
	z := expSumF32(dst, src, 1, 0, 0.5)
	want := 0.5
	var worst float64
	for j, x := range src {
		e := math.Exp(x)
		want += dst[j]
		if e == 0 || math.IsInf(e, 0) {
			if dst[j] != e {
				t.Fatalf("expSumF32(%v) = %v, want %v", x, dst[j], e)
			}
			continue
		}
		worst = max(worst, math.Abs(dst[j]-e)/e)
	}
	if worst > 1e-12 {
		t.Errorf("expSumF32 worst relative error %.3g, want ≤ 1e-12", worst)
	}
	if math.Float64bits(z) != math.Float64bits(want) {
		t.Errorf("expSumF32 sum = %v, want %v (in index order)", z, want)
	}
}

func TestRankTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 1))
	arrays := [][]float64{
		{},
		{1},
		{2, 2, 2, 2},
		{0, 0, 1, 1, 1, 5},
		{-3, -1e-300, 0, 1e-300, 7},
		{1, 1.0000000000000002, 1.0000000000000004, 3},
	}
	for range 200 {
		a := make([]float64, 1+rng.IntN(40))
		for i := range a {
			a[i] = math.Round(rng.NormFloat64()*8) / 4 // many ties
		}
		slices.Sort(a)
		arrays = append(arrays, a)
	}
	var rt rankTable
	for _, a := range arrays {
		rt.init(a)
		xs := []float64{math.Inf(-1), math.Inf(1), -1e9, 1e9}
		for _, v := range a {
			xs = append(xs, v, math.Nextafter(v, math.Inf(1)), math.Nextafter(v, math.Inf(-1)), v+0.1, v-0.1)
		}
		for range 50 {
			xs = append(xs, rng.NormFloat64()*3)
		}
		for _, x := range xs {
			lb, ub := 0, 0
			for _, v := range a {
				if v < x {
					lb++
				}
				if v <= x {
					ub++
				}
			}
			if got := rt.lower(x); got != lb {
				t.Fatalf("lower(%v, %v) = %d, want %d", a, x, got, lb)
			}
			if got := rt.upper(x); got != ub {
				t.Fatalf("upper(%v, %v) = %d, want %d", a, x, got, ub)
			}
		}
	}
}

func TestClassOrder(t *testing.T) {
	for _, labels := range [][]int{{}, {4}, {3, 1, 3, 2, 1, 3}, {0, 0, 0}, {-1, 5, -1, 5, 0}} {
		perm, sorted, lo, hi := classOrder(labels)
		seen := make([]bool, len(labels))
		for i, p := range perm {
			if seen[p] {
				t.Fatalf("%v: perm %v repeats %d", labels, perm, p)
			}
			seen[p] = true
			if sorted[i] != labels[p] {
				t.Fatalf("%v: sorted[%d] = %d, want labels[%d] = %d", labels, i, sorted[i], p, labels[p])
			}
			if i > 0 && (sorted[i] < sorted[i-1] || sorted[i] == sorted[i-1] && perm[i] < perm[i-1]) {
				t.Fatalf("%v: order %v is not a stable sort", labels, perm)
			}
			for j := range labels {
				if in := j >= lo[i] && j < hi[i]; in != (sorted[j] == sorted[i]) {
					t.Fatalf("%v: row %d has class range [%d,%d), wrong for row %d", labels, i, lo[i], hi[i], j)
				}
			}
		}
	}
}

func TestSymmetrize(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	for _, n := range []int{0, 1, 5, 31, 32, 33, 64, 100, 257} {
		w := make([]float32, n*n)
		for i := range w {
			w[i] = float32(rng.NormFloat64())
		}
		want := make([]float32, n*n)
		for i := range n {
			for j := range n {
				want[i*n+j] = w[i*n+j] + w[j*n+i]
			}
		}
		symmetrize(w, n)
		if !slices.Equal(w, want) {
			t.Fatalf("n=%d: symmetrize differs from w + wᵀ", n)
		}
	}
}

// TestRowOrderInvariance checks that the losses do not depend on the order
// of the rows: shuffling rows and labels together gives the same value
// and the same gradient rows (the engine sorts rows by class internally).
func TestRowOrderInvariance(t *testing.T) {
	x, labels := randomBatch(11, 40, 6, 7)
	n, d := x.Rows, x.Cols
	rng := rand.New(rand.NewPCG(2, 2))
	perm := rng.Perm(n)
	xs := newMatrix64(n, d)
	ls := make([]int, n)
	for i, p := range perm {
		copy(xs.Data[i*d:(i+1)*d], x.Data[p*d:(p+1)*d])
		ls[i] = labels[p]
	}
	for _, spec := range []string{"contrastive", "triplet", "triplet:mining=semihard", "triplet:mining=batch-hard", "triplet:soft=true,distance=squared", "infonce", "circle"} {
		l := mustParse(t, spec).(Float64Loss)
		g := newMatrix64(n, d)
		gs := newMatrix64(n, d)
		v := l.EvalFloat64(Batch64{X: x, Labels: labels}, g)
		vs := l.EvalFloat64(Batch64{X: xs, Labels: ls}, gs)
		if math.Abs(v-vs) > 1e-12*max(1, math.Abs(v)) {
			t.Errorf("%s: value %v, %v with rows shuffled", spec, v, vs)
		}
		for i, p := range perm {
			for k := range d {
				a, b := g.Data[p*d+k], gs.Data[i*d+k]
				if math.Abs(a-b) > 1e-12*max(1, math.Abs(a)) {
					t.Fatalf("%s: gradient of row %d: %v, %v with rows shuffled", spec, p, a, b)
				}
			}
		}
	}
}

// TestDeterministicLargeBatch checks bit-identical results across thread
// counts on a batch large enough for the GEMMs to be split into panels and
// W to span several symmetrize tiles.
func TestDeterministicLargeBatch(t *testing.T) {
	x64, labels := randomBatch(9, 700, 48, 40)
	x := mat32(x64)
	for _, spec := range []string{"contrastive", "triplet", "triplet:mining=semihard", "infonce", "circle"} {
		l := mustParse(t, spec)
		var v0 float64
		var g0 []float32
		for _, procs := range []int{1, 2, 3} {
			old := runtime.GOMAXPROCS(procs)
			g := blas32.General{Rows: x.Rows, Cols: x.Cols, Stride: x.Cols, Data: make([]float32, len(x.Data))}
			v := l.Eval(Batch{X: x, Labels: labels}, g)
			runtime.GOMAXPROCS(old)
			if g0 == nil {
				v0, g0 = v, g.Data
				continue
			}
			if v != v0 || !slices.Equal(g.Data, g0) {
				t.Errorf("%s: result with GOMAXPROCS=%d differs from GOMAXPROCS=1", spec, procs)
			}
		}
	}
}
