package losses

import (
	"math"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/internal/rows"
)

// Distance selects how the distance between two embedding rows is measured.
// All three are computed from one Gram matrix (see Distances).
type Distance int

const (
	// Euclidean is d_ij = ‖x_i − x_j‖₂ (the spec name is "euclidean").
	Euclidean Distance = iota
	// SquaredEuclidean is d_ij² (spec name "squared").
	SquaredEuclidean
	// Cosine is the cosine distance 1 − s_ij with s_ij the cosine
	// similarity (spec name "cosine").
	Cosine
)

var distanceEnum = enum{"distance", []string{"euclidean", "squared", "cosine"}}

// String returns the spec name of d: "euclidean", "squared" or "cosine".
func (d Distance) String() string { return distanceEnum.name("Distance", int(d)) }

// Normalize writes the rows of x scaled to unit L2 norm into dst (same
// shape; dst may be x itself) and returns the original row norms, computed
// in float64. A zero row stays zero (norm 0): no NaN or Inf.
func Normalize(dst, x blas32.General) []float64 { return rows.Normalize(dst, x) }

// NormalizeBackward maps a gradient du with respect to the normalized rows u
// (as written by Normalize, with the returned norms) back to the raw rows:
// dx_i = (du_i − u_i (u_i·du_i)) / ‖x_i‖. Rows with norm 0 get a zero
// gradient. dx may alias du.
func NormalizeBackward(dx, u blas32.General, norms []float64, du blas32.General) {
	for i := 0; i < u.Rows; i++ {
		ur, gr, dr := linalg.Row(u, i), linalg.Row(du, i), linalg.Row(dx, i)
		if norms[i] == 0 {
			clear(dr)
			continue
		}
		var dot float64
		for k := range ur {
			dot += float64(ur[k]) * float64(gr[k])
		}
		inv := 1 / norms[i]
		for k := range ur {
			dr[k] = float32((float64(gr[k]) - float64(ur[k])*dot) * inv)
		}
	}
}

// Similarities writes the N×N matrix of dot products s_ij = x_i·x_j of the
// rows of x into dst (one Gram GEMM through internal/linalg). These are the
// cosine similarities when the rows are unit-normalized (see Normalize).
func Similarities(dst, x blas32.General) {
	linalg.MulT(dst, x, x)
}

// Distances writes the N×N matrix of pairwise distances between the rows of
// x into dst, from one Gram matrix: Euclidean and SquaredEuclidean use
// d² = ‖x_i‖² + ‖x_j‖² − 2 x_i·x_j clamped at 0 (so the diagonal and
// duplicate rows give exactly 0, never NaN); Cosine uses 1 − x_i·x_j /
// (‖x_i‖‖x_j‖), with 1 for a zero row. Rows are used as given: normalize
// them first for distances between unit vectors.
func Distances(dst, x blas32.General, d Distance) {
	linalg.MulT(dst, x, x)
	n := x.Rows
	sq := make([]float64, n)
	for i := range n {
		sq[i] = float64(dst.Data[i*dst.Stride+i])
	}
	for i := range n {
		row := linalg.Row(dst, i)
		for j := range n {
			s := float64(row[j])
			var v float64
			switch d {
			case Cosine:
				den := math.Sqrt(sq[i] * sq[j])
				if den > 0 {
					v = 1 - s/den
				} else {
					v = 1
				}
			default:
				v = max(0, sq[i]+sq[j]-2*s)
				if i == j {
					v = 0
				}
				if d == Euclidean {
					v = math.Sqrt(v)
				}
			}
			row[j] = float32(v)
		}
	}
}

// SimilaritiesBackward maps ∂L/∂S (ds, N×N, for S = X·Xᵀ as computed by
// Similarities) to ∂L/∂X: dx = (ds + dsᵀ)·x, one GEMM. dx is overwritten.
func SimilaritiesBackward(dx, x, ds blas32.General) {
	n := ds.Rows
	sym := linalg.NewMatrix(n, n)
	for i := range n {
		for j := range n {
			sym.Data[i*n+j] = ds.Data[i*ds.Stride+j] + ds.Data[j*ds.Stride+i]
		}
	}
	linalg.Mul(dx, sym, x)
}

// DistancesBackward maps ∂L/∂D (dd, N×N) for D = Distances(x, d) (dist is
// that matrix) to ∂L/∂X, overwriting dx. At zero Euclidean distance the
// gradient is taken as 0 (a subgradient), so duplicates never give NaN.
// For Cosine the rows of x must be unit-normalized (compose with
// NormalizeBackward for raw rows).
func DistancesBackward(dx, x, dist, dd blas32.General, d Distance) {
	n := x.Rows
	// Coefficients on the Gram entries (w) and on the squared norms (h).
	w := linalg.NewMatrix(n, n)
	diag := make([]float64, n)
	for i := range n {
		for j := range n {
			if i == j {
				continue
			}
			g := float64(dd.Data[i*dd.Stride+j])
			var h float64 // ∂L/∂(d²_ij)
			switch d {
			case Cosine:
				w.Data[i*n+j] += float32(-g)
				continue
			case SquaredEuclidean:
				h = g
			case Euclidean:
				if v := float64(dist.Data[i*dist.Stride+j]); v > 0 {
					h = g / (2 * v)
				}
			}
			w.Data[i*n+j] += float32(-2 * h)
			diag[i] += 2 * h
			diag[j] += 2 * h
		}
	}
	SimilaritiesBackward(dx, x, w)
	for i := range n {
		xr, dr := linalg.Row(x, i), linalg.Row(dx, i)
		for k := range dr {
			dr[k] += float32(diag[i] * float64(xr[k]))
		}
	}
}
