// Package rows holds the L2 norm and normalisation of vectors and of the
// rows of row-major matrices, shared by the numeric packages (gathering
// rows is linalg.Gather).
//
// Norms are accumulated in float64 in index order and a row is scaled by
// the reciprocal of its norm, so every package that normalises gets the
// same bits for the same row. A zero row stays zero (its norm is 0): no
// NaN or Inf is produced.
package rows

import (
	"math"

	"gonum.org/v1/gonum/blas/blas32"
)

// Float is the element type of the vectors this package works on.
type Float interface{ ~float32 | ~float64 }

// Norm returns the L2 norm of v, accumulated in float64 in index order.
func Norm[T Float](v []T) float64 {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	return math.Sqrt(ss)
}

// NormalizeVec writes v scaled to unit L2 norm into dst (len(dst) ≥
// len(v); dst may be v) and returns the norm of v. A zero v is copied to
// dst as it is (its zeros keep their signs; in place, v is not written).
func NormalizeVec[T Float](dst, v []T) float64 {
	n := Norm(v)
	dst = dst[:len(v)]
	if n == 0 {
		copy(dst, v)
		return 0
	}
	inv := 1 / n
	for k, x := range v {
		dst[k] = T(float64(x) * inv)
	}
	return n
}

// Normalize writes the rows of x scaled to unit L2 norm into dst (same
// shape; dst may be x itself) and returns the rows' norms. A zero row of
// x becomes a row of +0 in dst. It panics if the shapes differ.
func Normalize(dst, x blas32.General) []float64 {
	if dst.Rows != x.Rows || dst.Cols != x.Cols {
		panic("rows: Normalize shape mismatch")
	}
	norms := make([]float64, x.Rows)
	for i := range x.Rows {
		d := dst.Data[i*dst.Stride : i*dst.Stride+dst.Cols]
		if norms[i] = NormalizeVec(d, x.Data[i*x.Stride:i*x.Stride+x.Cols]); norms[i] == 0 {
			clear(d)
		}
	}
	return norms
}
