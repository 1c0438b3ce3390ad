package head

import (
	"fmt"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/onnx/graph"
)

func init() {
	Register("linear", Kind{New: newLinear})
}

// Linear is the head y = x·Wᵀ + b, W: Out×In, b: 1×Out. Square linear
// heads start as the identity; others get Xavier-uniform weights. Biases
// start at zero.
type Linear struct {
	s      Settings
	W, B   blas32.General
	gW, gB blas32.General
	x      blas32.General // the last Forward's input (caller's memory)
}

var _ Head = (*Linear)(nil)

func newLinear(s Settings, rng *rand.Rand) Head {
	h := &Linear{s: s, W: linalg.NewMatrix(s.Out, s.In), B: linalg.NewMatrix(1, s.Out)}
	if s.Out == s.In {
		for i := 0; i < s.In; i++ {
			h.W.Data[i*h.W.Stride+i] = 1
		}
	} else {
		xavier(h.W, rng)
	}
	h.gW = linalg.NewMatrix(h.W.Rows, h.W.Cols)
	h.gB = linalg.NewMatrix(1, h.B.Cols)
	return h
}

// Settings implements Head.
func (h *Linear) Settings() Settings { return h.s }

// Params implements Head: W, B.
func (h *Linear) Params() []blas32.General { return []blas32.General{h.W, h.B} }

// Grads implements Head.
func (h *Linear) Grads() []blas32.General { return []blas32.General{h.gW, h.gB} }

// Forward implements Head.
func (h *Linear) Forward(dst, x blas32.General) {
	checkForward(h.s, dst, x)
	h.x = x
	linalg.MulT(dst, x, h.W)
	addBias(dst, h.B)
}

// Backward implements Head.
func (h *Linear) Backward(dx, dy blas32.General) {
	if dy.Rows != h.x.Rows || dy.Cols != h.s.Out {
		panic("head: Backward gradient shape does not match the last Forward")
	}
	linalg.Gemm(blas.Trans, blas.NoTrans, 1, dy, h.x, 0, h.gW)
	colSums(h.gB, dy)
	if dx.Data != nil {
		linalg.Mul(dx, dy, h.W)
	}
}

// AppendONNX implements Head: MatMul + Add.
func (h *Linear) AppendONNX(m *graph.Model, x, prefix string) string {
	return appendLinear(m, x, h.W.Data, h.B.Data, h.s.Out, h.s.In, prefix, "linear")
}

// checkForward panics when x and dst do not fit settings s.
func checkForward(s Settings, dst, x blas32.General) {
	if x.Cols != s.In || dst.Cols != s.Out || dst.Rows != x.Rows {
		panic(fmt.Sprintf("head: Forward shapes x %d×%d dst %d×%d for %d→%d", x.Rows, x.Cols, dst.Rows, dst.Cols, s.In, s.Out))
	}
}
