//go:build cgo && !noopenblas

package linalg

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
*/
import "C"

import (
	"unsafe"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/gonum"
)

const backend = "openblas"

// openBLAS is gonum's pure-Go float32 BLAS with the level-3 routine that
// matters, Sgemm, served by OpenBLAS.
type openBLAS struct{ gonum.Implementation }

// OpenBLAS runs single-threaded: Sgemm splits large products into
// panels of a fixed size and runs the panels on Go goroutines (see
// sgemmPanels). OpenBLAS's own worker threads busy-wait after every call,
// which on a small machine took a core away from the Go code running
// between GEMMs; with one OpenBLAS thread there are no such threads.
func init() {
	C.openblas_set_num_threads(1)
	blas32.Use(openBLAS{})
}

func trans(t blas.Transpose) C.enum_CBLAS_TRANSPOSE {
	if t == blas.NoTrans {
		return C.CblasNoTrans
	}
	return C.CblasTrans
}

// Sgemm computes C = alpha*op(A)*op(B) + beta*C in row-major storage.
func (openBLAS) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(false, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemmSerial is Sgemm as one OpenBLAS call on the calling goroutine.
func sgemmSerial(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(true, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemm checks the arguments and runs the product in panels (see
// sgemmPanels) or, when serial is set, as one call.
func sgemm(serial bool, tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || len(a) == 0 || len(b) == 0 {
		// Let gonum handle the degenerate cases (and their argument checks).
		gonum.Implementation{}.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	// Check arguments the way gonum does before handing pointers to C.
	rowsA, colsA := m, k
	if tA != blas.NoTrans {
		rowsA, colsA = k, m
	}
	rowsB, colsB := k, n
	if tB != blas.NoTrans {
		rowsB, colsB = n, k
	}
	if lda < max(1, colsA) || ldb < max(1, colsB) || ldc < max(1, n) {
		panic("linalg: bad leading dimension")
	}
	if len(a) < (rowsA-1)*lda+colsA || len(b) < (rowsB-1)*ldb+colsB || len(c) < (m-1)*ldc+n {
		panic("linalg: short slice")
	}
	if serial {
		sgemm1(tA, tB, m, n, k, alpha, unsafe.Pointer(&a[0]), lda, unsafe.Pointer(&b[0]), ldb, beta, unsafe.Pointer(&c[0]), ldc)
		return
	}
	sgemmPanels(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// panelRows is the number of rows (or columns) of C per panel. It is a
// constant, not derived from the number of workers, so every entry of C
// is computed by the same single-threaded OpenBLAS call whatever
// GOMAXPROCS is: results are bit-identical across thread counts.
const panelRows = 128

// minPanelFlops is the size (m·n·k) below which a product runs as one call.
const minPanelFlops = 1 << 21

// sgemmPanels computes the product in panels of panelRows rows of C (or
// columns of C when C is wide and short), on up to GOMAXPROCS goroutines,
// each panel one single-threaded cblas_sgemm call.
func sgemmPanels(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	byRows := m >= n
	extent := n
	if byRows {
		extent = m
	}
	panels := (extent + panelRows - 1) / panelRows
	// The split depends only on the shape, never on the number of workers
	// (OpenBLAS does not always give bit-identical results for a panel
	// computed alone and inside a larger product).
	if panels <= 1 || m*n*k < minPanelFlops {
		sgemm1(tA, tB, m, n, k, alpha, unsafe.Pointer(&a[0]), lda, unsafe.Pointer(&b[0]), ldb, beta, unsafe.Pointer(&c[0]), ldc)
		return
	}
	pa, pb, pc := unsafe.Pointer(&a[0]), unsafe.Pointer(&b[0]), unsafe.Pointer(&c[0])
	forPanels(panels, func(p int) {
		i0 := p * panelRows
		w := min(extent, i0+panelRows) - i0
		if byRows {
			// Rows i0.. of op(A): row i0 of A, or column i0 of Aᵀ.
			offA := i0 * lda
			if tA != blas.NoTrans {
				offA = i0
			}
			sgemm1(tA, tB, w, n, k, alpha, unsafe.Add(pa, 4*offA), lda, pb, ldb, beta, unsafe.Add(pc, 4*i0*ldc), ldc)
		} else {
			// Columns i0.. of op(B): column i0 of B, or row i0 of Bᵀ.
			offB := i0
			if tB != blas.NoTrans {
				offB = i0 * ldb
			}
			sgemm1(tA, tB, m, w, k, alpha, pa, lda, unsafe.Add(pb, 4*offB), ldb, beta, unsafe.Add(pc, 4*i0), ldc)
		}
	})
}

// sgemm1 is one cblas_sgemm call on row-major operands.
func sgemm1(tA, tB blas.Transpose, m, n, k int, alpha float32, a unsafe.Pointer, lda int, b unsafe.Pointer, ldb int, beta float32, c unsafe.Pointer, ldc int) {
	C.cblas_sgemm(C.CblasRowMajor, trans(tA), trans(tB), C.blasint(m), C.blasint(n), C.blasint(k),
		C.float(alpha), (*C.float)(a), C.blasint(lda),
		(*C.float)(b), C.blasint(ldb),
		C.float(beta), (*C.float)(c), C.blasint(ldc))
}

// symmUpper computes dst = a·b (a symmetric, upper triangle stored) in
// panels of symmPanel rows, in parallel on up to GOMAXPROCS goroutines.
// Panel P = rows [p0,p1) is
//
//	dst[P] = a[P,P]·b[P] + a[P, p1:]·b[p1:] + a[:p0, P]ᵀ·b[:p0],
//
// one small cblas_ssymm for the diagonal block and two cblas_sgemm calls
// (the last reading a column block of the stored upper triangle
// transposed). OpenBLAS's own ssymm over the whole matrix was 1.7× slower
// than a GEMM of the same shape here; this runs at GEMM speed.
func symmUpper(dst, a, b blas32.General, done func(r0, r1 int)) {
	n, k := dst.Rows, dst.Cols
	if len(a.Data) < (n-1)*a.Stride+n || len(b.Data) < (n-1)*b.Stride+k || len(dst.Data) < (n-1)*dst.Stride+k {
		panic("linalg: short slice")
	}
	panels := (n + symmPanel - 1) / symmPanel
	pa, pb, pc := unsafe.Pointer(&a.Data[0]), unsafe.Pointer(&b.Data[0]), unsafe.Pointer(&dst.Data[0])
	lda, ldb, ldc := a.Stride, b.Stride, dst.Stride
	forPanels(panels, func(p int) {
		p0 := p * symmPanel
		p1 := min(n, p0+symmPanel)
		m := p1 - p0
		cP := unsafe.Add(pc, 4*p0*ldc)
		C.cblas_ssymm(C.CblasRowMajor, C.CblasLeft, C.CblasUpper, C.blasint(m), C.blasint(k), 1,
			(*C.float)(unsafe.Add(pa, 4*(p0*lda+p0))), C.blasint(lda), (*C.float)(unsafe.Add(pb, 4*p0*ldb)), C.blasint(ldb),
			0, (*C.float)(cP), C.blasint(ldc))
		if p1 < n {
			sgemm1(blas.NoTrans, blas.NoTrans, m, k, n-p1, 1, unsafe.Add(pa, 4*(p0*lda+p1)), lda,
				unsafe.Add(pb, 4*p1*ldb), ldb, 1, cP, ldc)
		}
		if p0 > 0 {
			sgemm1(blas.Trans, blas.NoTrans, m, k, p0, 1, unsafe.Add(pa, 4*p0), lda,
				pb, ldb, 1, cP, ldc)
		}
		if done != nil {
			done(p0, p1)
		}
	})
}
