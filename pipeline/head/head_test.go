package head

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
)

func randMat(r *rand.Rand, rows, cols int) blas32.General {
	m := linalg.NewMatrix(rows, cols)
	for i := range m.Data {
		m.Data[i] = float32(r.NormFloat64())
	}
	return m
}

// headObjective is L = Σ c_ij·out_ij, so ∂L/∂out = c.
func headObjective(h Head, x, c blas32.General) float64 {
	out := linalg.NewMatrix(x.Rows, h.Settings().Out)
	h.Forward(out, x)
	var l float64
	for i, v := range out.Data {
		l += float64(v) * float64(c.Data[i])
	}
	return l
}

func TestHeadBackwardFiniteDifferences(t *testing.T) {
	for _, tc := range []Settings{
		{Kind: "linear", In: 6},
		{Kind: "linear", In: 6, Out: 4, Normalize: true},
		{Kind: "linear", In: 5, Normalize: true},
		{Kind: "mlp", In: 6, Hidden: 8},
		{Kind: "mlp", In: 6, Hidden: 7, Normalize: true},
		{Kind: "mlp", In: 6, Out: 3, Hidden: 5, Normalize: true},
	} {
		t.Run(fmt.Sprintf("%s_%d_%d_%d_%v", tc.Kind, tc.In, tc.Out, tc.Hidden, tc.Normalize), func(t *testing.T) {
			r := rand.New(rand.NewPCG(3, 4))
			h, err := New(tc, 7)
			if err != nil {
				t.Fatal(err)
			}
			// Move off the identity start so every path has gradient.
			for _, p := range h.Params() {
				for i := range p.Data {
					p.Data[i] += float32(0.3 * r.NormFloat64())
				}
			}
			x := randMat(r, 5, tc.In)
			c := randMat(r, 5, h.Settings().Out)
			out := linalg.NewMatrix(5, h.Settings().Out)
			h.Forward(out, x)
			dx := linalg.NewMatrix(5, tc.In)
			h.Backward(dx, c)
			check := func(name string, vals []float32, grad []float32) {
				const eps = 1e-2
				for i := range vals {
					old := vals[i]
					vals[i] = old + eps
					lp := headObjective(h, x, c)
					vals[i] = old - eps
					lm := headObjective(h, x, c)
					vals[i] = old
					fd := (lp - lm) / (2 * eps)
					if d := math.Abs(fd - float64(grad[i])); d > 2e-3+2e-3*math.Abs(fd) {
						t.Errorf("%s[%d]: analytic %.6f, finite difference %.6f", name, i, grad[i], fd)
					}
				}
			}
			grads := h.Grads()
			for k, p := range h.Params() {
				check(fmt.Sprintf("param%d", k), p.Data, grads[k].Data)
			}
			check("x", x.Data, dx.Data)
		})
	}
}

func TestHeadStartsAsIdentity(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	x := randMat(r, 9, 10)
	for _, kind := range []string{"linear", "mlp"} {
		h, err := New(Settings{Kind: kind, In: 10}, 1)
		if err != nil {
			t.Fatal(err)
		}
		out := linalg.NewMatrix(9, 10)
		Apply(h, out, x)
		for i := range out.Data {
			if out.Data[i] != x.Data[i] {
				t.Fatalf("%s: out[%d] = %v, want %v", kind, i, out.Data[i], x.Data[i])
			}
		}
	}
}

func TestHeadSettingsErrors(t *testing.T) {
	for _, s := range []Settings{{In: 0}, {Kind: "conv", In: 3}, {In: 3, Out: -1}} {
		if _, err := New(s, 0); err == nil {
			t.Errorf("%+v: no error", s)
		}
	}
}

func TestHeadNormalizedOutputHasUnitRows(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	h, _ := New(Settings{Kind: "mlp", In: 8, Out: 4, Normalize: true}, 3)
	x := randMat(r, 2000, 8) // more than one Apply block
	out := linalg.NewMatrix(2000, 4)
	Apply(h, out, x)
	for i := 0; i < out.Rows; i++ {
		var ss float64
		for _, v := range linalg.Row(out, i) {
			ss += float64(v) * float64(v)
		}
		if math.Abs(ss-1) > 1e-5 {
			t.Fatalf("row %d: squared norm %v", i, ss)
		}
	}
}

func ExampleHead() {
	h, _ := New(Settings{Kind: "linear", In: 3, Normalize: true}, 1)
	x := blas32.General{Rows: 1, Cols: 3, Stride: 3, Data: []float32{3, 0, 4}}
	out := linalg.NewMatrix(1, 3)
	h.Forward(out, x)
	fmt.Println(out.Data)
	// Backward takes ∂L/∂out and fills the parameter gradients.
	h.Backward(blas32.General{}, blas32.General{Rows: 1, Cols: 3, Stride: 3, Data: []float32{1, 0, 0}})
	fmt.Println(len(h.Grads()), NumParams(h))
	// Output:
	// [0.6 0 0.8]
	// 2 12
}
