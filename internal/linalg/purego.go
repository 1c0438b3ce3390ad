//go:build !cgo || noopenblas

package linalg

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

import "gonum.org/v1/gonum/blas/gonum"

const backend = "gonum"

// sgemmSerial is gonum's Sgemm (which splits large products into blocks
// of fixed size itself, so its results do not depend on GOMAXPROCS).
func sgemmSerial(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gonum.Implementation{}.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// symmUpper is gonum's Ssymm (left side, upper triangle), then done on
// panels of symmPanel rows in parallel.
func symmUpper(dst, a, b blas32.General, done func(r0, r1 int)) {
	gonum.Implementation{}.Ssymm(blas.Left, blas.Upper, dst.Rows, dst.Cols, 1, a.Data, a.Stride, b.Data, b.Stride, 0, dst.Data, dst.Stride)
	if done != nil {
		n := dst.Rows
		forPanels((n+symmPanel-1)/symmPanel, func(p int) { done(p*symmPanel, min(n, (p+1)*symmPanel)) })
	}
}
