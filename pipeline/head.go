package pipeline

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
)

// Head kinds accepted by HeadSettings.Kind.
const (
	HeadLinear = "linear"
	HeadMLP    = "mlp"
)

// HeadSettings describes a trainable head on top of a frozen encoder. The
// zero value (with In set) is a D→D linear head without output
// normalization.
type HeadSettings struct {
	// Kind is "linear" (default) or "mlp".
	Kind string `json:"kind"`
	// In is the encoder's embedding width D. Required.
	In int `json:"in"`
	// Out is the head's output width D'; 0 means In.
	Out int `json:"out"`
	// Hidden is the mlp's hidden width; 0 means In. Ignored by linear.
	Hidden int `json:"hidden"`
	// Normalize L2-normalizes each output row.
	Normalize bool `json:"normalize"`
}

// WithDefaults returns s with zero fields replaced by their defaults, or
// an error naming the bad field.
func (s HeadSettings) WithDefaults() (HeadSettings, error) {
	if s.Kind == "" {
		s.Kind = HeadLinear
	}
	if s.Kind != HeadLinear && s.Kind != HeadMLP {
		return s, fmt.Errorf("head: unknown kind %q (want linear or mlp)", s.Kind)
	}
	if s.In <= 0 {
		return s, fmt.Errorf("head: input width %d must be positive", s.In)
	}
	if s.Out == 0 {
		s.Out = s.In
	}
	if s.Hidden == 0 {
		s.Hidden = s.In
	}
	if s.Out < 0 || s.Hidden < 0 {
		return s, fmt.Errorf("head: widths must be positive (out %d, hidden %d)", s.Out, s.Hidden)
	}
	if s.Kind == HeadLinear {
		s.Hidden = 0
	}
	return s, nil
}

// Residual reports whether an mlp head adds its input to its output
// (true when Out == In).
func (s HeadSettings) Residual() bool { return s.Kind == HeadMLP && s.Out == s.In }

// Head is a linear or mlp head with its parameters, their gradients and
// the activations of the last Forward (kept for Backward).
//
//	linear: y = x·W1ᵀ + b1                    W1: Out×In
//	mlp:    y = GELU(x·W1ᵀ + b1)·W2ᵀ + b2 (+ x when Out == In)
//	                                          W1: Hidden×In, W2: Out×Hidden
//	out = y/‖y‖ when Normalize, else y.
//
// GELU is the exact form ½·h·(1 + erf(h/√2)). Biases are 1×n matrices.
// A Head is not safe for concurrent use.
type Head struct {
	Settings HeadSettings

	W1, B1, W2, B2     blas32.General
	gW1, gB1, gW2, gB2 blas32.General

	// Workspace from the last Forward, sized for its batch.
	x       blas32.General // the input (caller's memory)
	h, a, y blas32.General // pre-activation, activation, un-normalized output
	invNorm []float64      // 1/‖y_i‖ when Normalize
	out     blas32.General // the output written by Forward (caller's memory)
	dh, dy  blas32.General // backward scratch
}

// NewHead builds a head from s (defaults filled in). Linear heads with
// Out == In start as the identity; other weight matrices get
// Xavier-uniform values drawn from seed, biases start at zero, and the
// second mlp layer starts at zero when the residual applies, so that every
// square head starts as the identity map.
func NewHead(s HeadSettings, seed uint64) (*Head, error) {
	s, err := s.WithDefaults()
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x6865616400000000)) // "head"
	h := &Head{Settings: s}
	switch s.Kind {
	case HeadLinear:
		h.W1 = linalg.NewMatrix(s.Out, s.In)
		if s.Out == s.In {
			for i := 0; i < s.In; i++ {
				h.W1.Data[i*h.W1.Stride+i] = 1
			}
		} else {
			xavier(h.W1, rng)
		}
		h.B1 = linalg.NewMatrix(1, s.Out)
	case HeadMLP:
		h.W1 = linalg.NewMatrix(s.Hidden, s.In)
		xavier(h.W1, rng)
		h.B1 = linalg.NewMatrix(1, s.Hidden)
		h.W2 = linalg.NewMatrix(s.Out, s.Hidden)
		if !s.Residual() {
			xavier(h.W2, rng)
		}
		h.B2 = linalg.NewMatrix(1, s.Out)
	}
	h.gW1 = linalg.NewMatrix(h.W1.Rows, h.W1.Cols)
	h.gB1 = linalg.NewMatrix(1, h.B1.Cols)
	if s.Kind == HeadMLP {
		h.gW2 = linalg.NewMatrix(h.W2.Rows, h.W2.Cols)
		h.gB2 = linalg.NewMatrix(1, h.B2.Cols)
	}
	return h, nil
}

func xavier(m blas32.General, rng *rand.Rand) {
	limit := math.Sqrt(6 / float64(m.Rows+m.Cols))
	for i := range m.Data {
		m.Data[i] = float32((2*rng.Float64() - 1) * limit)
	}
}

// Params returns the head's parameter matrices (W1, B1[, W2, B2]),
// sharing the head's storage; an optimizer updates them in place.
func (h *Head) Params() []blas32.General {
	if h.Settings.Kind == HeadMLP {
		return []blas32.General{h.W1, h.B1, h.W2, h.B2}
	}
	return []blas32.General{h.W1, h.B1}
}

// Grads returns ∂L/∂p for each matrix of Params (same order and shapes),
// as written by the last Backward.
func (h *Head) Grads() []blas32.General {
	if h.Settings.Kind == HeadMLP {
		return []blas32.General{h.gW1, h.gB1, h.gW2, h.gB2}
	}
	return []blas32.General{h.gW1, h.gB1}
}

// NumParams is the number of scalar parameters.
func (h *Head) NumParams() int {
	n := 0
	for _, p := range h.Params() {
		n += len(p.Data)
	}
	return n
}

// ensure returns m resized to rows×cols, reusing its storage when large
// enough.
func ensure(m blas32.General, rows, cols int) blas32.General {
	if cap(m.Data) < rows*cols {
		return linalg.NewMatrix(rows, cols)
	}
	return blas32.General{Rows: rows, Cols: cols, Stride: cols, Data: m.Data[:rows*cols]}
}

// addBias adds the 1×n bias b to every row of m.
func addBias(m, b blas32.General) {
	for i := 0; i < m.Rows; i++ {
		row := linalg.Row(m, i)
		for j, v := range b.Data[:m.Cols] {
			row[j] += v
		}
	}
}

// Forward computes dst = head(x) for the N×In batch x into the N×Out
// matrix dst (caller-owned) and keeps what Backward needs. x must stay
// unchanged until Backward.
func (h *Head) Forward(dst, x blas32.General) {
	s := h.Settings
	if x.Cols != s.In || dst.Cols != s.Out || dst.Rows != x.Rows {
		panic(fmt.Sprintf("head: Forward shapes x %d×%d dst %d×%d for %d→%d", x.Rows, x.Cols, dst.Rows, dst.Cols, s.In, s.Out))
	}
	n := x.Rows
	h.x, h.out = x, dst
	y := dst
	if s.Normalize {
		h.y = ensure(h.y, n, s.Out)
		y = h.y
	}
	switch s.Kind {
	case HeadLinear:
		linalg.MulT(y, x, h.W1)
		addBias(y, h.B1)
	case HeadMLP:
		h.h = ensure(h.h, n, s.Hidden)
		h.a = ensure(h.a, n, s.Hidden)
		linalg.MulT(h.h, x, h.W1)
		addBias(h.h, h.B1)
		for i, v := range h.h.Data {
			h.a.Data[i] = float32(gelu(float64(v)))
		}
		linalg.MulT(y, h.a, h.W2)
		addBias(y, h.B2)
		if s.Residual() {
			for i := 0; i < n; i++ {
				yr, xr := linalg.Row(y, i), linalg.Row(x, i)
				for j := range yr {
					yr[j] += xr[j]
				}
			}
		}
	}
	if s.Normalize {
		if cap(h.invNorm) < n {
			h.invNorm = make([]float64, n)
		}
		h.invNorm = h.invNorm[:n]
		for i := 0; i < n; i++ {
			yr, or := linalg.Row(y, i), linalg.Row(dst, i)
			var ss float64
			for _, v := range yr {
				ss += float64(v) * float64(v)
			}
			inv := 0.0
			if ss > 0 {
				inv = 1 / math.Sqrt(ss)
			}
			h.invNorm[i] = inv
			for j, v := range yr {
				or[j] = float32(float64(v) * inv)
			}
		}
	}
}

// Backward takes dout = ∂L/∂out for the last Forward's output (N×Out),
// overwrites the parameter gradients (Grads) and, when dx.Data is non-nil,
// writes ∂L/∂x into dx (N×In). dout is not modified.
func (h *Head) Backward(dx, dout blas32.General) {
	s := h.Settings
	x := h.x
	n := x.Rows
	if dout.Rows != n || dout.Cols != s.Out {
		panic("head: Backward gradient shape does not match the last Forward")
	}
	dy := dout
	if s.Normalize {
		// out = y/‖y‖  ⇒  dy = (dout − out·(out·dout))/‖y‖.
		h.dy = ensure(h.dy, n, s.Out)
		dy = h.dy
		for i := 0; i < n; i++ {
			o, g, d := linalg.Row(h.out, i), linalg.Row(dout, i), linalg.Row(dy, i)
			var dot float64
			for j := range o {
				dot += float64(o[j]) * float64(g[j])
			}
			inv := h.invNorm[i]
			for j := range o {
				d[j] = float32((float64(g[j]) - float64(o[j])*dot) * inv)
			}
		}
	}
	switch s.Kind {
	case HeadLinear:
		linalg.Gemm(blas.Trans, blas.NoTrans, 1, dy, x, 0, h.gW1)
		colSums(h.gB1, dy)
		if dx.Data != nil {
			linalg.Mul(dx, dy, h.W1)
		}
	case HeadMLP:
		linalg.Gemm(blas.Trans, blas.NoTrans, 1, dy, h.a, 0, h.gW2)
		colSums(h.gB2, dy)
		h.dh = ensure(h.dh, n, s.Hidden)
		linalg.Mul(h.dh, dy, h.W2) // ∂L/∂a
		for i, v := range h.h.Data {
			h.dh.Data[i] = float32(float64(h.dh.Data[i]) * geluDeriv(float64(v)))
		}
		linalg.Gemm(blas.Trans, blas.NoTrans, 1, h.dh, x, 0, h.gW1)
		colSums(h.gB1, h.dh)
		if dx.Data != nil {
			linalg.Mul(dx, h.dh, h.W1)
			if s.Residual() {
				for i := 0; i < n; i++ {
					dr, gr := linalg.Row(dx, i), linalg.Row(dy, i)
					for j := range dr {
						dr[j] += gr[j]
					}
				}
			}
		}
	}
}

// colSums writes the column sums of m (accumulated in float64) into the
// 1×m.Cols matrix dst.
func colSums(dst, m blas32.General) {
	for j := 0; j < m.Cols; j++ {
		var sum float64
		for i := 0; i < m.Rows; i++ {
			sum += float64(m.Data[i*m.Stride+j])
		}
		dst.Data[j] = float32(sum)
	}
}

// Apply computes dst = head(x) for any number of rows, in blocks of 1024.
// It reuses the Forward workspace, so a following Backward is invalid;
// call it between training steps (e.g. for evaluation).
func (h *Head) Apply(dst, x blas32.General) {
	const block = 1024
	for i := 0; i < x.Rows; i += block {
		j := min(i+block, x.Rows)
		h.Forward(linalg.Slice(dst, i, j), linalg.Slice(x, i, j))
	}
}

// CopyFrom copies the parameter values of src (same settings) into h.
func (h *Head) CopyFrom(src *Head) {
	dp, sp := h.Params(), src.Params()
	for i := range dp {
		copy(dp[i].Data, sp[i].Data)
	}
}

func gelu(v float64) float64 { return 0.5 * v * (1 + math.Erf(v/math.Sqrt2)) }

func geluDeriv(v float64) float64 {
	cdf := 0.5 * (1 + math.Erf(v/math.Sqrt2))
	pdf := math.Exp(-0.5*v*v) / math.Sqrt(2*math.Pi)
	return cdf + v*pdf
}
