//go:build !cgo || noopenblas

package linalg

import "gonum.org/v1/gonum/blas"

import "gonum.org/v1/gonum/blas/gonum"

const backend = "gonum"

// sgemmSerial is gonum's Sgemm (which splits large products into blocks
// of fixed size itself, so its results do not depend on GOMAXPROCS).
func sgemmSerial(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gonum.Implementation{}.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
