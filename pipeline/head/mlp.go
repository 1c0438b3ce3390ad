package head

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/onnx/graph"
)

func init() {
	Register("mlp", Kind{New: newMLP, HasHidden: true})
}

// MLP is the head
//
//	y = GELU(x·W1ᵀ + b1)·W2ᵀ + b2 (+ x when Out == In)
//	W1: Hidden×In, W2: Out×Hidden
//
// with the exact GELU ½·h·(1 + erf(h/√2)). W1 gets Xavier-uniform values;
// W2 starts at zero when the residual applies (so a square MLP starts as
// the identity), Xavier-uniform otherwise; biases start at zero.
type MLP struct {
	s                  Settings
	W1, B1, W2, B2     blas32.General
	gW1, gB1, gW2, gB2 blas32.General

	x    blas32.General // the last Forward's input (caller's memory)
	h, a blas32.General // pre-activation, activation
	dh   blas32.General // backward scratch
}

var _ Head = (*MLP)(nil)

func newMLP(s Settings, rng *rand.Rand) Head {
	h := &MLP{s: s}
	h.W1 = linalg.NewMatrix(s.Hidden, s.In)
	xavier(h.W1, rng)
	h.B1 = linalg.NewMatrix(1, s.Hidden)
	h.W2 = linalg.NewMatrix(s.Out, s.Hidden)
	if !h.residual() {
		xavier(h.W2, rng)
	}
	h.B2 = linalg.NewMatrix(1, s.Out)
	h.gW1 = linalg.NewMatrix(h.W1.Rows, h.W1.Cols)
	h.gB1 = linalg.NewMatrix(1, h.B1.Cols)
	h.gW2 = linalg.NewMatrix(h.W2.Rows, h.W2.Cols)
	h.gB2 = linalg.NewMatrix(1, h.B2.Cols)
	return h
}

// residual reports whether the input is added to the output (Out == In).
func (h *MLP) residual() bool { return h.s.Out == h.s.In }

// Settings implements Head.
func (h *MLP) Settings() Settings { return h.s }

// Params implements Head: W1, B1, W2, B2.
func (h *MLP) Params() []blas32.General { return []blas32.General{h.W1, h.B1, h.W2, h.B2} }

// Grads implements Head.
func (h *MLP) Grads() []blas32.General { return []blas32.General{h.gW1, h.gB1, h.gW2, h.gB2} }

// Forward implements Head.
func (h *MLP) Forward(dst, x blas32.General) {
	checkForward(h.s, dst, x)
	n := x.Rows
	h.x = x
	h.h = linalg.Ensure(h.h, n, h.s.Hidden)
	h.a = linalg.Ensure(h.a, n, h.s.Hidden)
	linalg.MulT(h.h, x, h.W1)
	addBias(h.h, h.B1)
	for i, v := range h.h.Data {
		h.a.Data[i] = float32(gelu(float64(v)))
	}
	linalg.MulT(dst, h.a, h.W2)
	addBias(dst, h.B2)
	if h.residual() {
		for i := 0; i < n; i++ {
			yr, xr := linalg.Row(dst, i), linalg.Row(x, i)
			for j := range yr {
				yr[j] += xr[j]
			}
		}
	}
}

// Backward implements Head.
func (h *MLP) Backward(dx, dy blas32.General) {
	x := h.x
	n := x.Rows
	if dy.Rows != n || dy.Cols != h.s.Out {
		panic("head: Backward gradient shape does not match the last Forward")
	}
	linalg.Gemm(blas.Trans, blas.NoTrans, 1, dy, h.a, 0, h.gW2)
	colSums(h.gB2, dy)
	h.dh = linalg.Ensure(h.dh, n, h.s.Hidden)
	linalg.Mul(h.dh, dy, h.W2) // ∂L/∂a
	for i, v := range h.h.Data {
		h.dh.Data[i] = float32(float64(h.dh.Data[i]) * geluDeriv(float64(v)))
	}
	linalg.Gemm(blas.Trans, blas.NoTrans, 1, h.dh, x, 0, h.gW1)
	colSums(h.gB1, h.dh)
	if dx.Data != nil {
		linalg.Mul(dx, h.dh, h.W1)
		if h.residual() {
			for i := 0; i < n; i++ {
				dr, gr := linalg.Row(dx, i), linalg.Row(dy, i)
				for j := range dr {
					dr[j] += gr[j]
				}
			}
		}
	}
}

// AppendONNX implements Head: MatMul + Add, GELU from Erf, MatMul + Add,
// and the residual Add.
func (h *MLP) AppendONNX(m *graph.Model, x, prefix string) string {
	s := h.s
	name := func(n string) string { return m.UniqueName(prefix + n) }
	hid := appendLinear(m, x, h.W1.Data, h.B1.Data, s.Hidden, s.In, prefix, "fc1")
	// GELU(h) = 0.5·h·(1 + erf(h/√2)).
	c := func(tag string, v float32) string {
		n := name(tag)
		m.AddInitializerFloat(n, nil, []float32{v})
		return n
	}
	div := name("gelu_div")
	m.AddNode("Div", []string{hid, c("sqrt2", float32(math.Sqrt2))}, []string{div})
	erf := name("gelu_erf")
	m.AddNode("Erf", []string{div}, []string{erf})
	plus := name("gelu_plus1")
	m.AddNode("Add", []string{erf, c("one", 1)}, []string{plus})
	mul := name("gelu_mul")
	m.AddNode("Mul", []string{hid, plus}, []string{mul})
	act := name("gelu")
	m.AddNode("Mul", []string{mul, c("half", 0.5)}, []string{act})
	y := appendLinear(m, act, h.W2.Data, h.B2.Data, s.Out, s.Hidden, prefix, "fc2")
	if h.residual() {
		res := name("residual")
		m.AddNode("Add", []string{y, x}, []string{res})
		y = res
	}
	return y
}

func gelu(v float64) float64 { return 0.5 * v * (1 + math.Erf(v/math.Sqrt2)) }

func geluDeriv(v float64) float64 {
	cdf := 0.5 * (1 + math.Erf(v/math.Sqrt2))
	pdf := math.Exp(-0.5*v*v) / math.Sqrt(2*math.Pi)
	return cdf + v*pdf
}
