// Package nn holds the element-wise kernels of embfit's trainable heads:
// a fused bias + GELU that keeps the activation's derivative for the
// backward pass, bias and residual additions, column sums, and AdamW over
// flat parameter slices.
//
// Every kernel works on whole panels of rows (contiguous row-major
// float32 storage, as gonum's blas32.General) and splits them into
// blocks of a fixed number of rows run on internal/par. Element-wise
// results do not depend on the split at all, and reductions (column sums,
// squared norms) add per-block partial sums in block order, so results are
// bit-identical for any GOMAXPROCS. No kernel allocates.
package nn

import (
	"math"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/par"
)

// blockRows is the number of rows per parallel task; blockElems the
// number of elements per task of the flat kernels. Both are constants so
// that the split, and so every result, depends only on the shapes.
const (
	blockRows  = 64
	blockElems = 8192
)

// forRows runs f on row blocks [i0, i1) of an n-row matrix, in parallel.
func forRows(n int, f func(i0, i1 int)) {
	blocks := (n + blockRows - 1) / blockRows
	if blocks <= 1 {
		if n > 0 {
			f(0, n)
		}
		return
	}
	par.Each(par.Workers(blocks), blocks, func(_, b int) {
		f(b*blockRows, min(n, (b+1)*blockRows))
	})
}

// forElems runs f on element blocks [i0, i1) of an n-element slice, in
// parallel, passing the block's index.
func forElems(n int, f func(b, i0, i1 int)) {
	blocks := (n + blockElems - 1) / blockElems
	if blocks <= 1 {
		if n > 0 {
			f(0, 0, n)
		}
		return
	}
	par.Each(par.Workers(blocks), blocks, func(_, b int) {
		f(b, b*blockElems, min(n, (b+1)*blockElems))
	})
}

func row(m blas32.General, i int) []float32 { return m.Data[i*m.Stride : i*m.Stride+m.Cols] }

func checkShape(name string, a, b blas32.General) {
	if a.Rows != b.Rows || a.Cols != b.Cols {
		panic("nn: " + name + ": shapes differ")
	}
}

// BiasGELU adds the bias b (len h.Cols) to every row of h in place, then
// writes act = GELU(h) and, when deriv.Data is non-nil, deriv = GELU′(h)
// (the factor Backward multiplies by), all from one evaluation of erf and
// exp per element. GELU is the exact form h·Φ(h), Φ the standard normal
// CDF, computed in float32 to within 3e-7 of float64 (absolute, on
// Φ; see Phi). act and deriv have h's shape.
func BiasGELU(h blas32.General, b []float32, act, deriv blas32.General) {
	checkShape("BiasGELU", h, act)
	withDeriv := deriv.Data != nil
	if withDeriv {
		checkShape("BiasGELU", h, deriv)
	}
	if len(b) != h.Cols {
		panic("nn: BiasGELU: bias length differs from the columns")
	}
	forRows(h.Rows, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			hr, ar := row(h, i), row(act, i)
			ar = ar[:len(hr)]
			bb := b[:len(hr)]
			var dr []float32
			if withDeriv {
				dr = row(deriv, i)[:len(hr)]
			}
			geluRow(hr, bb, ar, dr)
		}
	})
}

// geluRow is BiasGELU on one row (dr nil: no derivative), with Phi and
// expNeg written out so that the loop runs without calls.
func geluRow(hr, bb, ar, dr []float32) {
	for j := range hr {
		v := hr[j] + bb[j]
		hr[j] = v
		x := v * invSqrt2
		ax := x
		if ax < 0 {
			ax = -ax
		}
		// e = exp(−x²) as in expNeg.
		y := -x * x
		var e float32
		if y >= -87 {
			k := int32(y*log2e - 0.5)
			fk := float32(k)
			r := (y - fk*ln2Hi) - fk*ln2Lo
			p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
			e = p * math.Float32frombits(uint32(k+127)<<23)
		} else if y != y {
			e = y // NaN
		}
		t := 1 / (1 + asP*ax)
		erfc := t * (asA1 + t*(asA2+t*(asA3+t*(asA4+t*asA5)))) * e
		cdf := 0.5 * erfc
		if x >= 0 {
			cdf = 1 - cdf
		}
		ar[j] = v * cdf
		if dr != nil {
			dr[j] = cdf + v*(e*invSqrt2Pi)
		}
	}
}

// MulInPlace multiplies g element-wise by d (g ← g ⊙ d): the backward
// pass of an activation whose derivative d BiasGELU kept.
func MulInPlace(g, d blas32.General) {
	checkShape("MulInPlace", g, d)
	forRows(g.Rows, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			gr, dr := row(g, i), row(d, i)
			dr = dr[:len(gr)]
			for j := range gr {
				gr[j] *= dr[j]
			}
		}
	})
}

// AddBias adds b (len y.Cols) to every row of y and, when res.Data is
// non-nil, the matching row of res (a residual connection of y's shape).
func AddBias(y blas32.General, b []float32, res blas32.General) {
	if len(b) != y.Cols {
		panic("nn: AddBias: bias length differs from the columns")
	}
	withRes := res.Data != nil
	if withRes {
		checkShape("AddBias", y, res)
	}
	forRows(y.Rows, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			yr := row(y, i)
			bb := b[:len(yr)]
			if withRes {
				rr := row(res, i)[:len(yr)]
				for j := range yr {
					yr[j] += bb[j] + rr[j]
				}
				continue
			}
			for j := range yr {
				yr[j] += bb[j]
			}
		}
	})
}

// AddInPlace adds src to dst element-wise (same shapes).
func AddInPlace(dst, src blas32.General) {
	checkShape("AddInPlace", dst, src)
	forRows(dst.Rows, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			d, s := row(dst, i), row(src, i)
			s = s[:len(d)]
			for j := range d {
				d[j] += s[j]
			}
		}
	})
}

// ColSums writes the column sums of m into dst (len m.Cols), accumulated
// in float64 over the rows in order (columns are split between
// goroutines, so the order of every sum is fixed). scratch must hold at
// least m.Cols values.
func ColSums(dst []float32, m blas32.General, scratch []float64) {
	if len(dst) != m.Cols || len(scratch) < m.Cols {
		panic("nn: ColSums: dst or scratch too short")
	}
	const colBlock = 64
	blocks := (m.Cols + colBlock - 1) / colBlock
	par.Each(par.Workers(blocks), blocks, func(_, b int) {
		j0, j1 := b*colBlock, min(m.Cols, (b+1)*colBlock)
		acc := scratch[j0:j1]
		clear(acc)
		for i := 0; i < m.Rows; i++ {
			r := m.Data[i*m.Stride+j0 : i*m.Stride+j1]
			for j, v := range r {
				acc[j] += float64(v)
			}
		}
		for j, v := range acc {
			dst[j0+j] = float32(v)
		}
	})
}

// SumSquares returns Σ v² over all slices, in float64, adding per-block
// partial sums in a fixed order. partial must hold at least
// Blocks(len(v)) values for the longest slice.
func SumSquares(vs [][]float32, partial []float64) float64 {
	var total float64
	for _, v := range vs {
		n := Blocks(len(v))
		if len(partial) < n {
			panic("nn: SumSquares: partial too short")
		}
		p := partial[:n]
		forElems(len(v), func(b, i0, i1 int) {
			var s float64
			for _, x := range v[i0:i1] {
				s += float64(x) * float64(x)
			}
			p[b] = s
		})
		for _, s := range p {
			total += s
		}
	}
	return total
}

// Blocks is the number of blocks the flat kernels split n elements into
// (the length SumSquares needs for partial).
func Blocks(n int) int { return (n + blockElems - 1) / blockElems }

// AdamWParams are the constants of one AdamW (or Adam) step.
type AdamWParams struct {
	// LR is this step's learning rate, Beta1 and Beta2 the moment decays,
	// Eps the denominator's guard.
	LR, Beta1, Beta2, Eps float64
	// Step is the 1-based step number (for the bias corrections).
	Step int
	// GradScale multiplies every gradient first (gradient clipping).
	GradScale float64
	// WeightDecay is decoupled (p ← p − LR·WeightDecay·p, AdamW) when
	// Decoupled, else added to the gradient (L2, Adam). 0: none.
	WeightDecay float64
	Decoupled   bool
}

// AdamW applies one Adam/AdamW update to the flat parameters p from their
// gradients g, with the moments m and v (float64, same length) updated in
// place:
//
//	g ← GradScale·g (+ WeightDecay·p unless Decoupled)
//	p ← p − LR·WeightDecay·p (Decoupled)
//	m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²
//	p ← p − LR·(m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + ε)
//
// in float64, each element independently (so in parallel blocks).
func AdamW(p, g []float32, m, v []float64, s AdamWParams) {
	if len(g) != len(p) || len(m) != len(p) || len(v) != len(p) {
		panic("nn: AdamW: lengths differ")
	}
	b1, b2 := s.Beta1, s.Beta2
	c1 := 1 - math.Pow(b1, float64(s.Step))
	c2 := 1 - math.Pow(b2, float64(s.Step))
	lr, wd, scale, eps := s.LR, s.WeightDecay, s.GradScale, s.Eps
	forElems(len(p), func(_, i0, i1 int) {
		pp, gg, mm, vv := p[i0:i1], g[i0:i1], m[i0:i1], v[i0:i1]
		for i, w := range pp {
			wf := float64(w)
			gi := float64(gg[i]) * scale
			if s.Decoupled {
				wf -= lr * wd * wf
			} else {
				gi += wd * wf
			}
			mm[i] = b1*mm[i] + (1-b1)*gi
			vv[i] = b2*vv[i] + (1-b2)*gi*gi
			wf -= lr * (mm[i] / c1) / (math.Sqrt(vv[i]/c2) + eps)
			pp[i] = float32(wf)
		}
	})
}

// SGD applies one heavy-ball SGD step: g ← GradScale·g + WeightDecay·p,
// m ← momentum·m + g, p ← p − LR·m.
func SGD(p, g []float32, m []float64, lr, momentum, weightDecay, gradScale float64) {
	if len(g) != len(p) || len(m) != len(p) {
		panic("nn: SGD: lengths differ")
	}
	forElems(len(p), func(_, i0, i1 int) {
		pp, gg, mm := p[i0:i1], g[i0:i1], m[i0:i1]
		for i, w := range pp {
			gi := float64(gg[i])*gradScale + weightDecay*float64(w)
			mm[i] = momentum*mm[i] + gi
			pp[i] = float32(float64(w) - lr*mm[i])
		}
	})
}
