// Package linalg is embfit's single BLAS entry point.
//
// Matrices are gonum's blas32.General: contiguous row-major float32 storage
// with a stride. Every GEMM-shaped computation in embfit (similarity and
// Gram matrices, head forward/backward, corpus scoring) goes through Gemm,
// which dispatches to OpenBLAS's cblas_sgemm when the binary is built with
// cgo (the default) and to gonum's pure-Go implementation
// otherwise (build tag noopenblas, or CGO_ENABLED=0).
//
// With OpenBLAS, a large product is split into panels of a fixed number of
// rows (or columns) of the result, run in parallel on up to GOMAXPROCS
// goroutines, each panel one single-threaded OpenBLAS call (OpenBLAS's own
// thread pool is switched off: its idle threads busy-waited after every
// call, taking a core away from the Go code between GEMMs). The split
// depends only on the shapes, so results are bit-identical for any
// GOMAXPROCS.
package linalg

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/par"
)

// NewMatrix returns a zeroed rows×cols matrix with Stride == cols.
func NewMatrix(rows, cols int) blas32.General {
	return blas32.General{Rows: rows, Cols: cols, Stride: cols, Data: make([]float32, rows*cols)}
}

// Backend names the BLAS implementation in use: "openblas" or "gonum".
func Backend() string { return backend }

// Gemm computes c = alpha * op(a) * op(b) + beta * c, where op(x) is x or
// xᵀ as selected by tA and tB. Shapes must agree; a mismatch panics.
func Gemm(tA, tB blas.Transpose, alpha float32, a, b blas32.General, beta float32, c blas32.General) {
	blas32.Gemm(tA, tB, alpha, a, b, beta, c)
}

// GemmSerial is Gemm computed on the calling goroutine as one BLAS call,
// never split into parallel panels: for callers that run many small
// products in parallel themselves. Its results depend only on the
// operands, not on GOMAXPROCS (but may differ in the last bits from Gemm
// on the same operands, which splits large products into panels).
func GemmSerial(tA, tB blas.Transpose, alpha float32, a, b blas32.General, beta float32, c blas32.General) {
	m, k := a.Rows, a.Cols
	if tA != blas.NoTrans {
		m, k = a.Cols, a.Rows
	}
	n, kb := b.Cols, b.Rows
	if tB != blas.NoTrans {
		n, kb = b.Rows, b.Cols
	}
	if k != kb || c.Rows != m || c.Cols != n {
		panic("linalg: GemmSerial shape mismatch")
	}
	sgemmSerial(tA, tB, m, n, k, alpha, a.Data, a.Stride, b.Data, b.Stride, beta, c.Data, c.Stride)
}

// SymmUpper computes dst = a·b for a symmetric n×n matrix a of which only
// the upper triangle (the diagonal and above) is read: the entries below
// the diagonal may hold anything. b and dst are n×k. Like Gemm, it splits
// the product into panels of a fixed number of rows run in parallel, so
// results do not depend on GOMAXPROCS.
func SymmUpper(dst, a, b blas32.General) { SymmUpperRows(dst, a, b, nil) }

// SymmUpperRows is SymmUpper that also calls done(r0, r1) as soon as rows
// [r0, r1) of dst are final, from the goroutine that computed them: the
// calls for different row ranges may run concurrently, each range is
// reported once, and all calls have returned when SymmUpperRows does. It
// lets a caller consume the rows while the others are still computed.
func SymmUpperRows(dst, a, b blas32.General, done func(r0, r1 int)) {
	n := a.Rows
	if a.Cols != n || b.Rows != n || dst.Rows != n || dst.Cols != b.Cols {
		panic("linalg: SymmUpper shape mismatch")
	}
	if n == 0 || b.Cols == 0 {
		return
	}
	symmUpper(dst, a, b, done)
}

// symmPanel is the number of rows of the result per task in symmUpper
// (a constant, so results do not depend on GOMAXPROCS).
const symmPanel = 128

// forPanels runs f(0), …, f(panels−1) on up to GOMAXPROCS goroutines,
// each panel once, and returns when all are done.
func forPanels(panels int, f func(p int)) {
	par.Each(par.Workers(panels), panels, func(_, p int) { f(p) })
}

// MulT computes dst = a·bᵀ (a is m×k, b is n×k, dst is m×n). With a and b
// the same matrix this is the Gram matrix of its rows.
func MulT(dst, a, b blas32.General) {
	Gemm(blas.NoTrans, blas.Trans, 1, a, b, 0, dst)
}

// Mul computes dst = a·b (a is m×k, b is k×n, dst is m×n).
func Mul(dst, a, b blas32.General) {
	Gemm(blas.NoTrans, blas.NoTrans, 1, a, b, 0, dst)
}

// Ensure returns m resized to rows×cols (Stride == cols), reusing its
// storage when it is large enough; the contents are not cleared.
func Ensure(m blas32.General, rows, cols int) blas32.General {
	if cap(m.Data) < rows*cols {
		return NewMatrix(rows, cols)
	}
	return blas32.General{Rows: rows, Cols: cols, Stride: cols, Data: m.Data[:rows*cols]}
}

// Gather copies rows idx of m, in that order, into the first len(idx)
// rows of dst (dst.Cols == m.Cols).
func Gather(dst, m blas32.General, idx []int) {
	for i, r := range idx {
		copy(Row(dst, i), Row(m, r))
	}
}

// GatherRows returns rows idx of m, in that order, as a new matrix (m
// itself when idx is 0..m.Rows-1). Every index must be in [0, m.Rows).
func GatherRows(m blas32.General, idx []int) blas32.General {
	identity := len(idx) == m.Rows
	for i, r := range idx {
		identity = identity && r == i
	}
	if identity {
		return m
	}
	dst := NewMatrix(len(idx), m.Cols)
	Gather(dst, m, idx)
	return dst
}

// Row returns row i of m as a slice sharing m's storage.
func Row(m blas32.General, i int) []float32 {
	return m.Data[i*m.Stride : i*m.Stride+m.Cols]
}

// Slice returns rows [i, j) of m as a matrix sharing m's storage.
func Slice(m blas32.General, i, j int) blas32.General {
	if i < 0 || j > m.Rows || i > j {
		panic("linalg: row slice out of range")
	}
	if i == j {
		return blas32.General{Rows: 0, Cols: m.Cols, Stride: m.Stride}
	}
	return blas32.General{Rows: j - i, Cols: m.Cols, Stride: m.Stride, Data: m.Data[i*m.Stride : (j-1)*m.Stride+m.Cols]}
}
