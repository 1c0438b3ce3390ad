package losses

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/internal/procstat"
)

// refPairKernel is the general-engine implementation of the pair form that
// the dedicated path replaced: it runs on the full N×N Gram matrix, query
// rows scoring the candidates [Q,N) and, with Symmetric, positive rows
// scoring the queries [0,Q). It is kept here as the reference.
type refPairKernel struct {
	l   *InfoNCE
	ctx *pairCtx
}

func (k *refPairKernel) usesH() bool { return false }

func (k *refPairKernel) row(a int, s, w, h []float64, sc *scratch) (float64, float64) {
	Q, n := k.ctx.queries, k.ctx.n
	var lo, hi, target int
	switch {
	case a < Q:
		lo, hi, target = Q, n, Q+a
	case a < 2*Q && k.l.Symmetric:
		lo, hi, target = 0, Q, a-Q
	default:
		return 0, 0
	}
	inv := 1 / k.l.Temperature
	mx := maxOf(math.Inf(-1), s[lo:hi]) * inv
	z := k.ctx.expSum(w[lo:hi], s[lo:hi], inv, mx, 0)
	lse := mx + math.Log(z)
	scaleBy(w[lo:hi], inv/z)
	w[target] -= inv
	return lse - s[target]*inv, 1
}

func (l *InfoNCE) refKernel(ctx *pairCtx) rowKernel { return &refPairKernel{l: l, ctx: ctx} }

func refPairs64(l *InfoNCE, x blas64.General, q int, grad blas64.General) float64 {
	return evalPairwise64(x, nil, q, l.Normalize, l.refKernel, grad)
}

func refPairs32(l *InfoNCE, x blas32.General, q int, grad blas32.General) float64 {
	return evalPairwise32(x, nil, q, l.Normalize, l.refKernel, grad)
}

// infoNCEOpts are a test's InfoNCE parameters: a zero Temperature means
// the default 0.07, a nil Normalize the default true.
type infoNCEOpts struct {
	Temperature float64
	Symmetric   bool
	Normalize   *bool
}

func boolp(v bool) *bool { return &v }

func mustInfoNCE(t testing.TB, s infoNCEOpts) *InfoNCE {
	t.Helper()
	spec := fmt.Sprintf("infonce:symmetric=%v", s.Symmetric)
	if s.Temperature != 0 {
		spec += fmt.Sprintf(",temperature=%v", s.Temperature)
	}
	if s.Normalize != nil {
		spec += fmt.Sprintf(",normalize=%v", *s.Normalize)
	}
	l, err := Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	return l.(*InfoNCE)
}

// pairCases are pair-form batch shapes and settings shared by the tests.
var pairCases = []struct {
	name      string
	q, negs   int
	d         int
	settings  infoNCEOpts
	duplicate bool // make some rows exact copies of others
}{
	{"Q=1 no negatives", 1, 0, 5, infoNCEOpts{}, false},
	{"Q=1 negatives", 1, 4, 5, infoNCEOpts{}, false},
	{"Q=1 symmetric", 1, 3, 5, infoNCEOpts{Symmetric: true}, false},
	{"no negatives", 7, 0, 6, infoNCEOpts{}, false},
	{"no negatives symmetric", 7, 0, 6, infoNCEOpts{Symmetric: true, Temperature: 0.2}, false},
	{"negatives", 9, 13, 8, infoNCEOpts{}, false},
	{"negatives symmetric", 9, 13, 8, infoNCEOpts{Symmetric: true}, false},
	{"unnormalized", 6, 5, 4, infoNCEOpts{Normalize: boolp(false), Temperature: 3}, false},
	{"unnormalized symmetric", 6, 5, 4, infoNCEOpts{Normalize: boolp(false), Temperature: 3, Symmetric: true}, false},
	{"duplicate rows", 8, 6, 5, infoNCEOpts{Symmetric: true}, true},
	{"large", 64, 192, 32, infoNCEOpts{Symmetric: true, Temperature: 0.05}, false},
}

func pairBatch(seed uint64, q, negs, d int, duplicate bool) blas64.General {
	x, _ := randomBatch(seed, 2*q+negs, d, 1)
	if duplicate {
		n := x.Rows
		copy(x.Data[(q)*d:(q+1)*d], x.Data[0:d])             // positive 0 = query 0
		copy(x.Data[1*d:2*d], x.Data[0:d])                   // query 1 = query 0
		copy(x.Data[(n-1)*d:n*d], x.Data[(q+2)*d:(q+3)*d])   // last negative = positive 2
		copy(x.Data[(2*q)*d:(2*q+1)*d], x.Data[(n-1)*d:n*d]) // first negative = last negative
	}
	return x
}

// TestInfoNCEPairsMatchGeneralPath checks the dedicated pair path against
// the general engine on the full Gram matrix: 1e-12 in float64, 1e-5 in
// float32 (values relative, gradients relative to their largest entry).
func TestInfoNCEPairsMatchGeneralPath(t *testing.T) {
	for i, tc := range pairCases {
		t.Run(tc.name, func(t *testing.T) {
			l := mustInfoNCE(t, tc.settings)
			x := pairBatch(uint64(100+i), tc.q, tc.negs, tc.d, tc.duplicate)
			n := x.Rows
			g, gr := newMatrix64(n, tc.d), newMatrix64(n, tc.d)
			v := l.EvalFloat64(Batch64{X: x, Queries: tc.q}, g)
			vr := refPairs64(l, x, tc.q, gr)
			if e := relErr(v, vr); e > 1e-12 {
				t.Errorf("float64 value %.17g, general path %.17g (rel err %.2g)", v, vr, e)
			}
			if e := gradErr(g.Data, rows2D64(gr)); e > 1e-12 {
				t.Errorf("float64 gradient rel err %.3g", e)
			}
			x32 := mat32(x)
			g32, gr32 := linalg.NewMatrix(n, tc.d), linalg.NewMatrix(n, tc.d)
			v32 := l.Eval(Batch{X: x32, Queries: tc.q}, g32)
			vr32 := refPairs32(l, x32, tc.q, gr32)
			if e := relErr(v32, vr32); e > 1e-5 {
				t.Errorf("float32 value %.9g, general path %.9g (rel err %.2g)", v32, vr32, e)
			}
			if e := gradErr(mat64From32(g32), rows2D(gr32)); e > 1e-5 {
				t.Errorf("float32 gradient rel err %.3g", e)
			}
			// Without a gradient the value is the same.
			if v2 := l.EvalFloat64(Batch64{X: x, Queries: tc.q}, blas64.General{}); v2 != v {
				t.Errorf("value without gradient %v, with %v", v2, v)
			}
		})
	}
}

func rows2D64(g blas64.General) [][]float64 {
	out := make([][]float64, g.Rows)
	for i := range out {
		out[i] = g.Data[i*g.Stride : i*g.Stride+g.Cols]
	}
	return out
}

// TestInfoNCEPairsKnownValues checks batches whose loss is known in closed
// form: identical rows make every candidate equally likely, so
// ℓ = log(#candidates) with a zero gradient; one query with one candidate
// has loss 0 exactly.
func TestInfoNCEPairsKnownValues(t *testing.T) {
	tests := []struct {
		name      string
		q, negs   int
		symmetric bool
		want      float64
	}{
		{"Q=1 single candidate", 1, 0, false, 0},
		{"Q=1 single candidate symmetric", 1, 0, true, 0},
		{"identical rows", 4, 6, false, math.Log(10)},
		{"identical rows symmetric", 4, 6, true, (math.Log(10) + math.Log(4)) / 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, d := 2*tc.q+tc.negs, 3
			x := newMatrix64(n, d)
			for i := range n {
				copy(x.Data[i*d:(i+1)*d], []float64{0.3, -1.2, 2})
			}
			l := mustInfoNCE(t, infoNCEOpts{Symmetric: tc.symmetric})
			g := newMatrix64(n, d)
			v := l.EvalFloat64(Batch64{X: x, Queries: tc.q}, g)
			if math.Abs(v-tc.want) > 1e-12 {
				t.Errorf("value %.17g, want %.17g", v, tc.want)
			}
			for _, gv := range g.Data {
				if math.Abs(gv) > 1e-12 {
					t.Fatalf("gradient %v, want 0", g.Data)
				}
			}
			g32 := linalg.NewMatrix(n, d)
			v32 := l.Eval(Batch{X: mat32(x), Queries: tc.q}, g32)
			if math.Abs(v32-tc.want) > 1e-6 {
				t.Errorf("float32 value %.9g, want %.9g", v32, tc.want)
			}
			for _, gv := range g32.Data {
				if math.Abs(float64(gv)) > 1e-5 {
					t.Fatalf("float32 gradient %v, want 0", g32.Data)
				}
			}
		})
	}
}

// TestInfoNCEPairsFiniteDifference checks the pair path's gradient against
// central differences on the edge-case shapes.
func TestInfoNCEPairsFiniteDifference(t *testing.T) {
	for i, tc := range pairCases {
		if tc.q*2+tc.negs > 40 {
			continue // fdCheck is O(N·D) evaluations
		}
		t.Run(tc.name, func(t *testing.T) {
			x := pairBatch(uint64(200+i), tc.q, tc.negs, tc.d, tc.duplicate)
			fdCheck(t, mustInfoNCE(t, tc.settings), Batch64{X: x, Queries: tc.q})
		})
	}
}

// TestInfoNCEPairsBlocked checks that splitting the anchor rows into
// blocks changes nothing beyond float rounding.
func TestInfoNCEPairsBlocked(t *testing.T) {
	x := pairBatch(300, 37, 50, 12, false)
	for _, sym := range []bool{false, true} {
		l := mustInfoNCE(t, infoNCEOpts{Symmetric: sym})
		g1, g2 := newMatrix64(x.Rows, x.Cols), newMatrix64(x.Rows, x.Cols)
		v1 := l.evalPairs64Blocked(x, 37, g1, 0)
		for _, rows := range []int{1, 5, 36} {
			clear(g2.Data)
			v2 := l.evalPairs64Blocked(x, 37, g2, rows)
			if relErr(v2, v1) > 1e-13 || gradErr(g2.Data, rows2D64(g1)) > 1e-13 {
				t.Errorf("symmetric=%v rows=%d: blocked %v vs %v", sym, rows, v2, v1)
			}
		}
	}
}

// TestInfoNCEPairsDeterministic checks bit-identical float32 results with
// 1 and 4 threads at the training shape (256 pairs + 768 negatives).
func TestInfoNCEPairsDeterministic(t *testing.T) {
	x := benchPairs(256, 768, 100)
	for _, sym := range []bool{false, true} {
		l := mustInfoNCE(t, infoNCEOpts{Symmetric: sym})
		run := func(procs int) (float64, []float32) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			g := linalg.NewMatrix(x.Rows, x.Cols)
			return l.Eval(Batch{X: x, Queries: 256}, g), g.Data
		}
		v1, g1 := run(1)
		v4, g4 := run(4)
		if v1 != v4 {
			t.Errorf("symmetric=%v: value %v with 1 thread, %v with 4", sym, v1, v4)
		}
		for i := range g1 {
			if g1[i] != g4[i] {
				t.Errorf("symmetric=%v: gradient differs at %d", sym, i)
				break
			}
		}
	}
}

// TestInfoNCEPairsShape checks that a batch with fewer than 2·Queries rows
// panics (a programmer error), as documented for Batch.
func TestInfoNCEPairsShape(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for 3 rows with Queries = 2")
		}
	}()
	l := mustInfoNCE(t, infoNCEOpts{})
	l.Eval(Batch{X: linalg.NewMatrix(3, 4), Queries: 2}, blas32.General{})
}

// benchPairs returns a pair-form batch of q queries, q positives and negs
// negatives of dimension d (positives are noisy copies of their queries).
func benchPairs(q, negs, d int) blas32.General {
	rng := rand.New(rand.NewPCG(uint64(q), uint64(negs)))
	x := linalg.NewMatrix(2*q+negs, d)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	for i := range q {
		p, a := linalg.Row(x, q+i), linalg.Row(x, i)
		for k := range p {
			p[k] = a[k] + 0.5*p[k]
		}
	}
	return x
}

// BenchmarkInfoNCEPairs compares, forward + backward at the training shape
// (256 pairs + 768 negatives, N=1280, D=100) and a larger one, the
// dedicated pair path ("pairs") with the general engine on the full N×N
// Gram matrix ("general", the previous implementation), interleaved.
func BenchmarkInfoNCEPairs(b *testing.B) {
	for _, shape := range []struct{ q, negs int }{{256, 768}, {1024, 3072}} {
		x := benchPairs(shape.q, shape.negs, 100)
		grad := linalg.NewMatrix(x.Rows, x.Cols)
		for _, sym := range []bool{false, true} {
			l := mustInfoNCE(b, infoNCEOpts{Symmetric: sym})
			for _, path := range []string{"pairs", "general"} {
				b.Run(fmt.Sprintf("N=%d/symmetric=%v/%s", x.Rows, sym, path), func(b *testing.B) {
					b.ReportAllocs()
					c0 := procstat.CPUTime()
					for range b.N {
						if path == "pairs" {
							l.Eval(Batch{X: x, Queries: shape.q}, grad)
						} else {
							refPairs32(l, x, shape.q, grad)
						}
					}
					b.ReportMetric(float64((procstat.CPUTime()-c0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
				})
			}
		}
	}
}
