package nn

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"
)

func randMat(r *rand.Rand, rows, cols int, scale float64) blas32.General {
	m := blas32.General{Rows: rows, Cols: cols, Stride: cols, Data: make([]float32, rows*cols)}
	for i := range m.Data {
		m.Data[i] = float32(scale * r.NormFloat64())
	}
	return m
}

func clone(m blas32.General) blas32.General {
	m.Data = append([]float32(nil), m.Data...)
	return m
}

func TestPhiAccuracy(t *testing.T) {
	var maxCDF, maxPDF float64
	check := func(h float32) {
		cdf, pdf := Phi(h)
		x := float64(h)
		wc := 0.5 * (1 + math.Erf(x/math.Sqrt2))
		wp := math.Exp(-0.5*x*x) / math.Sqrt(2*math.Pi)
		maxCDF = max(maxCDF, math.Abs(float64(cdf)-wc))
		maxPDF = max(maxPDF, math.Abs(float64(pdf)-wp))
		if dc := math.Abs(float64(cdf) - wc); dc > 3e-7 {
			t.Fatalf("Φ(%g) = %g, want %g (error %g)", h, cdf, wc, dc)
		}
		if dp := math.Abs(float64(pdf) - wp); dp > 1e-7 {
			t.Fatalf("φ(%g) = %g, want %g (error %g)", h, pdf, wp, dp)
		}
	}
	for h := float32(-20); h <= 20; h += 1.0 / 1024 {
		check(h)
	}
	for _, h := range []float32{0, -0.0, 1e-30, -1e-30, 1e-8, 13.2, -13.2, 100, -100, math.MaxFloat32, -math.MaxFloat32} {
		check(h)
	}
	t.Logf("max |ΔΦ| %.3g, max |Δφ| %.3g", maxCDF, maxPDF)
	if c, _ := Phi(float32(math.NaN())); !math.IsNaN(float64(c)) {
		t.Errorf("Φ(NaN) = %g, want NaN", c)
	}
}

func TestExpNeg(t *testing.T) {
	for y := float32(-87); y <= 0; y += 1.0 / 256 {
		got, want := float64(expNeg(y)), math.Exp(float64(y))
		if math.Abs(got-want) > 4e-7*want {
			t.Fatalf("exp(%g) = %g, want %g", y, got, want)
		}
	}
	if expNeg(-88) != 0 || expNeg(-1e30) != 0 {
		t.Error("exp below −87 is not 0")
	}
}

// forEachProcs runs f under GOMAXPROCS 1, 2 and 7.
func forEachProcs(t *testing.T, f func(procs int)) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, p := range []int{1, 2, 7} {
		runtime.GOMAXPROCS(p)
		f(p)
	}
}

func TestBiasGELU(t *testing.T) {
	for _, tc := range []struct{ rows, cols int }{{1, 1}, {3, 5}, {64, 100}, {65, 7}, {1100, 400}} {
		r := rand.New(rand.NewPCG(uint64(tc.rows), uint64(tc.cols)))
		h0 := randMat(r, tc.rows, tc.cols, 3)
		b := randMat(r, 1, tc.cols, 1).Data
		var ref blas32.General
		forEachProcs(t, func(procs int) {
			h := clone(h0)
			act, deriv := clone(h0), clone(h0)
			BiasGELU(h, b, act, deriv)
			for i := range h.Data {
				v := h0.Data[i] + b[i%tc.cols]
				if h.Data[i] != v {
					t.Fatalf("%dx%d: pre-activation %d = %g, want %g", tc.rows, tc.cols, i, h.Data[i], v)
				}
				x := float64(v)
				cdf := 0.5 * (1 + math.Erf(x/math.Sqrt2))
				wa := x * cdf
				wd := cdf + x*math.Exp(-0.5*x*x)/math.Sqrt(2*math.Pi)
				tol := 4e-7 * max(1, math.Abs(x))
				if math.Abs(float64(act.Data[i])-wa) > tol || math.Abs(float64(deriv.Data[i])-wd) > tol {
					t.Fatalf("%dx%d: GELU(%g) = %g, %g; want %g, %g", tc.rows, tc.cols, v, act.Data[i], deriv.Data[i], wa, wd)
				}
			}
			// Without the derivative: the same activations.
			h2, act2 := clone(h0), clone(h0)
			BiasGELU(h2, b, act2, blas32.General{})
			if !equal(act2.Data, act.Data) {
				t.Fatalf("%dx%d: activations differ without the derivative", tc.rows, tc.cols)
			}
			all := append(append([]float32(nil), act.Data...), deriv.Data...)
			if ref.Data == nil {
				ref.Data = all
			} else if !equal(ref.Data, all) {
				t.Fatalf("%dx%d: GOMAXPROCS %d changes the result", tc.rows, tc.cols, procs)
			}
		})
	}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func TestRowKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ rows, cols int }{{1, 3}, {130, 100}, {1100, 65}} {
		y0, res, d := randMat(r, tc.rows, tc.cols, 1), randMat(r, tc.rows, tc.cols, 1), randMat(r, tc.rows, tc.cols, 1)
		b := randMat(r, 1, tc.cols, 1).Data
		y := clone(y0)
		AddBias(y, b, res)
		y2 := clone(y0)
		AddBias(y2, b, blas32.General{})
		g := clone(y0)
		MulInPlace(g, d)
		s := clone(y0)
		AddInPlace(s, d)
		for i := range y.Data {
			j := i % tc.cols
			if y.Data[i] != y0.Data[i]+(b[j]+res.Data[i]) || y2.Data[i] != y0.Data[i]+b[j] ||
				g.Data[i] != y0.Data[i]*d.Data[i] || s.Data[i] != y0.Data[i]+d.Data[i] {
				t.Fatalf("%dx%d: element %d wrong", tc.rows, tc.cols, i)
			}
		}
		sums := make([]float32, tc.cols)
		var first []float32
		forEachProcs(t, func(procs int) {
			ColSums(sums, y0, make([]float64, tc.cols))
			for j := range tc.cols {
				var w float64
				for i := range tc.rows {
					w += float64(y0.Data[i*tc.cols+j])
				}
				if sums[j] != float32(w) {
					t.Fatalf("column %d sum %g, want %g", j, sums[j], w)
				}
			}
			if first == nil {
				first = append([]float32(nil), sums...)
			} else if !equal(first, sums) {
				t.Fatal("column sums depend on GOMAXPROCS")
			}
		})
	}
}

func TestSumSquaresFixedOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	a, b := randMat(r, 1, 50000, 1).Data, randMat(r, 1, 17, 1).Data
	var first float64
	forEachProcs(t, func(procs int) {
		got := SumSquares([][]float32{a, b}, make([]float64, Blocks(len(a))))
		var want float64
		for _, v := range [][]float32{a, b} {
			for k := 0; k < len(v); k += blockElems {
				var s float64
				for _, x := range v[k:min(len(v), k+blockElems)] {
					s += float64(x) * float64(x)
				}
				want += s
			}
		}
		if got != want {
			t.Fatalf("GOMAXPROCS %d: %v, want %v", procs, got, want)
		}
		if first == 0 {
			first = got
		}
	})
}

// TestAdamW compares with the update written out element by element,
// for both weight-decay forms, across thread counts.
func TestAdamW(t *testing.T) {
	for _, decoupled := range []bool{true, false} {
		r := rand.New(rand.NewPCG(5, 6))
		n := 3*blockElems + 11
		p0, g := randMat(r, 1, n, 1).Data, randMat(r, 1, n, 1).Data
		m0, v0 := make([]float64, n), make([]float64, n)
		for i := range m0 {
			m0[i], v0[i] = 0.1*r.NormFloat64(), r.Float64()
		}
		s := AdamWParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 7, GradScale: 0.5, WeightDecay: 0.01, Decoupled: decoupled}
		wantP := make([]float32, n)
		wantM, wantV := append([]float64(nil), m0...), append([]float64(nil), v0...)
		b1, b2 := 0.9, 0.999
		c1, c2 := 1-math.Pow(b1, 7), 1-math.Pow(b2, 7)
		for i, w := range p0 {
			wf, gi := float64(w), float64(g[i])*0.5
			if decoupled {
				wf -= 1e-3 * 0.01 * wf
			} else {
				gi += 0.01 * wf
			}
			wantM[i] = b1*wantM[i] + (1-b1)*gi
			wantV[i] = b2*wantV[i] + (1-b2)*gi*gi
			wf -= 1e-3 * (wantM[i] / c1) / (math.Sqrt(wantV[i]/c2) + 1e-8)
			wantP[i] = float32(wf)
		}
		forEachProcs(t, func(procs int) {
			p, m, v := append([]float32(nil), p0...), append([]float64(nil), m0...), append([]float64(nil), v0...)
			AdamW(p, g, m, v, s)
			if !equal(p, wantP) {
				t.Fatalf("decoupled %v, GOMAXPROCS %d: parameters differ", decoupled, procs)
			}
			for i := range m {
				if m[i] != wantM[i] || v[i] != wantV[i] {
					t.Fatalf("decoupled %v: moment %d differs", decoupled, i)
				}
			}
		})
	}
}

func TestSGD(t *testing.T) {
	p, g, m := []float32{1, -2}, []float32{0.5, 0.25}, []float64{0.1, 0}
	SGD(p, g, m, 0.1, 0.9, 0.01, 2)
	wantM := []float64{0.9*0.1 + 1 + 0.01, 0.5 - 0.02}
	for i := range p {
		if m[i] != wantM[i] || p[i] != float32(float64([]float32{1, -2}[i])-0.1*wantM[i]) {
			t.Errorf("element %d: p %g m %g", i, p[i], m[i])
		}
	}
}

func TestKernelsAllocateNothing(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	h, act, deriv := randMat(r, 1100, 100, 1), randMat(r, 1100, 100, 1), randMat(r, 1100, 100, 1)
	b := make([]float32, 100)
	sums, scratch := make([]float32, 100), make([]float64, 100)
	n := testing.AllocsPerRun(5, func() {
		BiasGELU(h, b, act, deriv)
		MulInPlace(act, deriv)
		AddBias(act, b, h)
		ColSums(sums, act, scratch)
	})
	// The fan-out's closure and goroutines are the only allocations: a
	// few per call, none per element or row.
	if limit := float64(4 * (4 + runtime.GOMAXPROCS(0))); n > limit {
		t.Errorf("%v allocations per run, want at most %v (fan-out start-up)", n, limit)
	}
}
