package losses

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// randomBatch returns n rows of dimension d with labels drawn from
// `classes` classes (deterministic for seed).
func randomBatch(seed uint64, n, d, classes int) (blas64.General, []int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	x := newMatrix64(n, d)
	for i := range x.Data {
		x.Data[i] = rng.NormFloat64()
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = rng.IntN(classes)
	}
	return x, labels
}

// fdCheck compares l's analytic float64 gradient with central differences.
func fdCheck(t *testing.T, l Float64Loss, b Batch64) {
	t.Helper()
	n, d := b.X.Rows, b.X.Cols
	g := newMatrix64(n, d)
	v := l.EvalFloat64(b, g)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		t.Fatalf("value %v", v)
	}
	const h = 1e-6
	var maxErr, scale float64
	for i := range n * d {
		old := b.X.Data[i]
		b.X.Data[i] = old + h
		vp := l.EvalFloat64(b, blas64.General{})
		b.X.Data[i] = old - h
		vm := l.EvalFloat64(b, blas64.General{})
		b.X.Data[i] = old
		fd := (vp - vm) / (2 * h)
		maxErr = max(maxErr, math.Abs(fd-g.Data[i]))
		scale = max(scale, math.Abs(g.Data[i]), math.Abs(fd))
	}
	if maxErr > 1e-6*max(scale, 1e-3) {
		t.Errorf("finite-difference mismatch: max abs err %.3g (gradient scale %.3g), value %.6g", maxErr, scale, v)
	}
}

func mustParse(t testing.TB, spec string) Loss {
	t.Helper()
	l, err := Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// gradSpecs lists every loss and option combination checked numerically.
func gradSpecs() []string {
	specs := []string{
		"contrastive", "contrastive:margin=0.5,pos_margin=0.1", "contrastive:normalize=false,margin=4,pos_margin=0.5",
		"infonce", "infonce:temperature=0.5", "infonce:normalize=false,temperature=4",
		"center", "center:normalize=true",
	}
	for _, dist := range []string{"euclidean", "squared", "cosine"} {
		for _, mining := range []string{"all", "easy", "semihard", "hard", "batch-hard"} {
			for _, soft := range []bool{false, true} {
				for _, red := range []string{"avg_nonzero", "mean"} {
					specs = append(specs, fmt.Sprintf("triplet:distance=%s,mining=%s,soft=%v,reduction=%s", dist, mining, soft, red))
				}
			}
		}
	}
	specs = append(specs, "triplet:normalize=false,margin=1", "triplet:normalize=false,distance=squared,margin=2,mining=semihard")
	return specs
}

func TestGradientsFiniteDifference(t *testing.T) {
	x, labels := randomBatch(1, 18, 5, 4)
	for _, spec := range gradSpecs() {
		t.Run(spec, func(t *testing.T) {
			l := mustParse(t, spec).(Float64Loss)
			fdCheck(t, l, Batch64{X: x, Labels: labels})
		})
	}
}

func TestGradientsPairFormFiniteDifference(t *testing.T) {
	x, _ := randomBatch(2, 5+5+4, 6, 1) // Q=5 queries, 5 positives, 4 negatives
	for _, spec := range []string{"infonce", "infonce:symmetric=true,temperature=0.2", "triplet", "triplet:mining=batch-hard,soft=true",
		"contrastive", "center"} {
		t.Run(spec, func(t *testing.T) {
			fdCheck(t, mustParse(t, spec).(Float64Loss), Batch64{X: x, Queries: 5})
		})
	}
	// Pair form without explicit negatives.
	x2, _ := randomBatch(3, 8, 4, 1)
	fdCheck(t, mustParse(t, "infonce:symmetric=true").(Float64Loss), Batch64{X: x2, Queries: 4})
}

// TestPairFormLabels checks that a label-based loss scores a pair-form
// batch exactly as the labelled batch with query i and positive i in class
// i and each negative in a class of its own.
func TestPairFormLabels(t *testing.T) {
	x, _ := randomBatch(4, 10, 4, 1)
	lab := []int{0, 1, 2, 0, 1, 2, 3, 4, 5, 6}
	for _, spec := range []string{"triplet", "contrastive", "center"} {
		l := mustParse(t, spec).(Float64Loss)
		a := l.EvalFloat64(Batch64{X: x, Queries: 3}, blas64.General{})
		b := l.EvalFloat64(Batch64{X: x, Labels: lab}, blas64.General{})
		if a != b {
			t.Errorf("%s: pair form %v, labelled %v", spec, a, b)
		}
	}
}

// defaultCenter returns the center loss with its default parameters.
func defaultCenter() Center {
	l, err := Parse("center")
	if err != nil {
		panic(err)
	}
	return *l.(*Center)
}

func TestCenterTrainerGradients(t *testing.T) {
	x, labels := randomBatch(5, 12, 4, 3)
	for _, c := range []Center{defaultCenter(), {Alpha: 0.5, Lambda: 0.5, Normalize: true}} {
		ct, err := NewCenterTrainer(c, 3, 4, 9)
		if err != nil {
			t.Fatal(err)
		}
		// Move the centers away from zero so the center term matters.
		ct.EvalFloat64(Batch64{X: x, Labels: labels}, blas64.General{})
		ct.Step()
		fdCheck(t, ct, Batch64{X: x, Labels: labels})
		// Weight gradients against finite differences.
		b := Batch64{X: x, Labels: labels}
		ct.EvalFloat64(b, blas64.General{})
		gw := append([]float32(nil), ct.WeightGrads()[0].Data...)
		gb := append([]float32(nil), ct.WeightGrads()[1].Data...)
		for k, w := range ct.Weights() {
			want := gw
			if k == 1 {
				want = gb
			}
			for i := range w.Data {
				old := w.Data[i]
				const h = 1e-2 // weights are float32
				w.Data[i] = old + h
				vp := ct.EvalFloat64(b, blas64.General{})
				w.Data[i] = old - h
				vm := ct.EvalFloat64(b, blas64.General{})
				w.Data[i] = old
				fd := (vp - vm) / float64((old+h)-(old-h))
				if math.Abs(fd-float64(want[i])) > 1e-4*max(1, math.Abs(fd)) {
					t.Errorf("weights[%d][%d]: analytic %g, finite difference %g", k, i, want[i], fd)
				}
			}
		}
	}
}

func TestCenterTrainerStep(t *testing.T) {
	ct, err := NewCenterTrainer(defaultCenter(), 2, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	x := blas64.General{Rows: 3, Cols: 2, Stride: 2, Data: []float64{1, 0, 3, 0, 0, 2}}
	ct.EvalFloat64(Batch64{X: x, Labels: []int{0, 0, 1}}, blas64.General{})
	ct.Step()
	// Centers start at 0: Δc_0 = ((0−1)+(0−3))/(1+2) = −4/3 in x, c_0 = 0 − 0.5·(−4/3) = 2/3.
	// Δc_1 = (0−2)/(1+1) = −1 in y, c_1 = 0.5.
	want := []float64{2.0 / 3, 0, 0, 0.5}
	for i, v := range ct.Centers() {
		if math.Abs(v-want[i]) > 1e-12 {
			t.Fatalf("centers = %v, want %v", ct.Centers(), want)
		}
	}
}

// blockedEval evaluates a pairwise loss with a forced Gram block size.
func blockedEval(l Loss, x blas32.General, labels []int, queries int, grad blas32.General, rows int) float64 {
	switch l := l.(type) {
	case *Contrastive:
		return evalPairwise32Blocked(x, batchLabels(x.Rows, labels, queries), 0, l.Normalize, l.kernel, grad, rows)
	case *Triplet:
		return evalPairwise32Blocked(x, batchLabels(x.Rows, labels, queries), 0, l.Normalize, l.kernel, grad, rows)
	case *Circle:
		return evalPairwise32Blocked(x, batchLabels(x.Rows, labels, queries), 0, l.Normalize, l.kernel, grad, rows)
	case *InfoNCE:
		if queries > 0 {
			return l.evalPairs32Blocked(x, queries, grad, rows)
		}
		return evalPairwise32Blocked(x, batchLabels(x.Rows, labels, 0), 0, l.Normalize, l.kernel, grad, rows)
	}
	panic("not pairwise")
}

func TestBlockedMatchesSingleBlock(t *testing.T) {
	x64, labels := randomBatch(6, 70, 8, 6)
	x := mat32(x64)
	for _, spec := range []string{"contrastive", "triplet", "triplet:distance=squared,mining=semihard", "infonce", "circle",
		"contrastive:normalize=false,margin=3"} {
		l := mustParse(t, spec)
		g1 := blas32.General{Rows: 70, Cols: 8, Stride: 8, Data: make([]float32, 560)}
		g2 := blas32.General{Rows: 70, Cols: 8, Stride: 8, Data: make([]float32, 560)}
		v1 := blockedEval(l, x, labels, 0, g1, 0)
		v2 := blockedEval(l, x, labels, 0, g2, 9)
		// The float32 Gram blocks differ in the last bits between block
		// shapes (BLAS kernels), hence 1e-6 rather than exact equality.
		if relErr(v2, v1) > 1e-6 {
			t.Errorf("%s: blocked value %v, single block %v", spec, v2, v1)
		}
		if e := gradErr(mat64From32(g2), rows2D(g1)); e > 1e-5 {
			t.Errorf("%s: blocked gradient differs by %.3g", spec, e)
		}
	}
	// Pair form, blocked.
	q := mustParse(t, "infonce:symmetric=true")
	g1 := blas32.General{Rows: 70, Cols: 8, Stride: 8, Data: make([]float32, 560)}
	g2 := blas32.General{Rows: 70, Cols: 8, Stride: 8, Data: make([]float32, 560)}
	v1 := blockedEval(q, x, nil, 30, g1, 0)
	v2 := blockedEval(q, x, nil, 30, g2, 7)
	if relErr(v2, v1) > 1e-6 || gradErr(mat64From32(g2), rows2D(g1)) > 1e-5 {
		t.Errorf("pair form blocked: %v vs %v", v2, v1)
	}
}

func rows2D(g blas32.General) [][]float64 {
	out := make([][]float64, g.Rows)
	for i := range out {
		for _, v := range g.Data[i*g.Stride : i*g.Stride+g.Cols] {
			out[i] = append(out[i], float64(v))
		}
	}
	return out
}

// TestDeterministicAcrossThreads checks bit-identical results with 1 and
// several threads.
func TestDeterministicAcrossThreads(t *testing.T) {
	x64, labels := randomBatch(7, 300, 16, 10)
	x := mat32(x64)
	run := func(l Loss) (float64, []float32) {
		g := blas32.General{Rows: x.Rows, Cols: x.Cols, Stride: x.Cols, Data: make([]float32, len(x.Data))}
		v := l.Eval(Batch{X: x, Labels: labels}, g)
		return v, g.Data
	}
	for _, spec := range []string{"contrastive", "triplet", "triplet:soft=true", "infonce", "center", "circle"} {
		l := mustParse(t, spec)
		old := runtime.GOMAXPROCS(1)
		v1, g1 := run(l)
		runtime.GOMAXPROCS(4)
		v4, g4 := run(l)
		runtime.GOMAXPROCS(old)
		if v1 != v4 {
			t.Errorf("%s: value %v with 1 thread, %v with 4", spec, v1, v4)
		}
		for i := range g1 {
			if g1[i] != g4[i] {
				t.Errorf("%s: gradient differs at %d", spec, i)
				break
			}
		}
	}
}

// frozenCircle evaluates the circle loss with α computed from the
// similarities at x0, so finite differences see α held constant.
type frozenCircle struct {
	c  *Circle
	x0 blas64.General
}

func (f frozenCircle) EvalFloat64(b Batch64, grad blas64.General) float64 {
	u, _, _ := prep64(f.x0, f.c.Normalize)
	n := u.Rows
	sim := make([]float64, n*n)
	for i := range n {
		for j := range n {
			var s float64
			for k := range u.Cols {
				s += u.Data[i*u.Cols+k] * u.Data[j*u.Cols+k]
			}
			sim[i*n+j] = s
		}
	}
	mk := func(ctx *pairCtx) rowKernel { return &circleKernel{c: f.c, ctx: ctx, alphaSim: sim} }
	return evalPairwise64(b.X, batchLabels(n, b.Labels, b.Queries), 0, f.c.Normalize, mk, grad)
}

func TestCircleGradientsFiniteDifference(t *testing.T) {
	x, labels := randomBatch(1, 18, 5, 4)
	xp, _ := randomBatch(2, 14, 6, 1)
	for _, spec := range []string{"circle", "circle:m=0.25,gamma=256", "circle:normalize=false,gamma=0.5", "circle:m=0.1,gamma=2"} {
		t.Run(spec, func(t *testing.T) {
			c := mustParse(t, spec).(*Circle)
			x0 := newMatrix64(x.Rows, x.Cols)
			copy(x0.Data, x.Data)
			// The frozen-α evaluation agrees with the loss at x0 ...
			if a, b := c.EvalFloat64(Batch64{X: x, Labels: labels}, blas64.General{}), (frozenCircle{c, x0}).EvalFloat64(Batch64{X: x, Labels: labels}, blas64.General{}); relErr(a, b) > 1e-12 {
				t.Fatalf("frozen evaluation %v, loss %v", b, a)
			}
			// ... and its finite differences match the analytic gradient.
			fdCheck(t, frozenCircle{c, x0}, Batch64{X: x, Labels: labels})
			xp0 := newMatrix64(xp.Rows, xp.Cols)
			copy(xp0.Data, xp.Data)
			fdCheck(t, frozenCircle{c, xp0}, Batch64{X: xp, Queries: 5})
		})
	}
}
