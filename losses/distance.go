package losses

import (
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/rows"
)

// Distance selects how the distance between two embedding rows is measured.
// All three are computed from one Gram matrix.
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
