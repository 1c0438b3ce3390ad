package losses

import (
	"math"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/internal/par"
)

// This file holds the pair form of InfoNCE (Batch.Queries = Q > 0). It
// computes only the similarities the loss reads, never the N×N Gram
// matrix of the whole batch:
//
//   - query → candidates: S₁ = U[0:Q]·U[Q:N]ᵀ, Q×(N−Q), target column i
//     for query row i;
//   - with Symmetric, positive → queries: S₂ = U[Q:2Q]·U[0:Q]ᵀ, Q×Q,
//     target column i for positive row Q+i.
//
// Each direction is a block of anchor rows A against candidate rows B.
// Row a's loss is LSE_j(s_aj/τ) − s_at/τ and its coefficients are
// w_aj = ∂ℓ_a/∂s_aj = softmax_j(s_a·/τ)/τ − [j=t]/τ. By the chain rule
// ∂L/∂U[A] += W·U[B] and ∂L/∂U[B] += Wᵀ·U[A]: two GEMMs per block. The
// loss is Σℓ / count (count = Q, or 2Q with Symmetric, i.e. the mean of the
// two directions' means); the coefficients are scaled by 1/count before
// the backward GEMMs, and the gradient is mapped through the
// normalization. Given the same similarities, each row's loss is computed
// with the same log-sum-exp code as the general engine on the full Gram
// matrix; only GEMM summation order and where 1/count is applied differ,
// so results agree to float rounding (tested: 1e-12 in float64, 1e-5 in
// float32).
// Anchor rows are processed in parallel and every reduction runs in a
// fixed order, so results do not depend on the number of threads. Blocks
// hold at most blockBudget bytes, so memory stays O(blockRows·N + N·D).

// pairBackend holds the working rows U (N×D) and a block of coefficients
// in one precision.
type pairBackend interface {
	// sim computes the block S = U[a0:a1]·U[b0:b1]ᵀ into native storage.
	sim(a0, a1, b0, b1 int)
	// loadRow copies row i of the block S into dst as float64 and returns
	// its largest element (−Inf for an empty row).
	loadRow(i int, dst []float64) float64
	// storeRow stores w·f, minus d at column t, as row i of the block's
	// coefficient matrix W (one pass; the arithmetic is float64).
	storeRow(i int, w []float64, f float64, t int, d float64)
	// backward adds W·U[b0:b1] to the accumulator rows [a0,a1) and
	// Wᵀ·U[a0:a1] to the accumulator rows [b0,b1).
	backward(a0, a1, b0, b1 int)
	// urow returns row i of U as float64 in dst.
	urow(i int, dst []float64)
	// acc returns the N×D float64 gradient accumulator (stride D).
	acc() []float64
}

// pairDirection describes one cross-entropy direction: anchor rows
// [a0,a1) score candidate rows [b0,b1); the target of anchor a is
// candidate column a−a0.
type pairDirection struct{ a0, a1, b0, b1 int }

// evalInfoNCEPairs evaluates the pair form of l with Q queries on the
// working rows held by be (n rows). f32 selects the float32-grade
// exponential (see pairCtx.f32). blockRows returns
// how many anchor rows a block of the given candidate width holds. With
// grad, the gradient with respect to U (already scaled by 1/count) is
// returned as an n×dim float64 matrix (row-major).
func (l *InfoNCE) evalInfoNCEPairs(be pairBackend, n, q int, f32, grad bool, blockRows func(cols int) int) (value float64, gu []float64) {
	dirs := []pairDirection{{0, q, q, n}}
	if l.Symmetric {
		dirs = append(dirs, pairDirection{q, 2 * q, 0, q})
	}
	inv := 1 / l.Temperature
	count := float64(len(dirs) * q)
	// The coefficients are scaled by 1/count here, so the accumulated
	// gradient needs no final pass.
	scale := 1 / count
	rowLoss := make([]float64, n)
	workers := par.Workers(n)
	bufs := make([][2][]float64, workers)
	for w := range bufs {
		bufs[w] = [2][]float64{make([]float64, n), make([]float64, n)}
	}
	for _, d := range dirs {
		cols := d.b1 - d.b0
		br := blockRows(cols)
		for r0 := d.a0; r0 < d.a1; r0 += br {
			r1 := min(d.a1, r0+br)
			be.sim(r0, r1, d.b0, d.b1)
			par.Each(workers, r1-r0, func(w, i int) {
				a := r0 + i
				s, wr := bufs[w][0][:cols], bufs[w][1][:cols]
				t := a - d.a0
				mx := be.loadRow(i, s) * inv // = max(s·inv), inv > 0
				var z float64
				if f32 {
					z = expSumF32(wr, s, inv, mx, 0)
				} else {
					z = expSum(wr, s, inv, mx, 0)
				}
				rowLoss[a] = mx + math.Log(z) - s[t]*inv
				if grad {
					be.storeRow(i, wr, inv/z*scale, t, inv*scale)
				}
			})
			if grad {
				be.backward(r0, r1, d.b0, d.b1)
			}
		}
	}
	var sum float64
	for _, v := range rowLoss {
		sum += v
	}
	value = sum / count
	if !grad {
		return value, nil
	}
	return value, be.acc()
}

// pairBlockRows returns how many anchor rows fit a block of cols
// candidates with bytesPerEntry bytes of block buffers per entry.
func pairBlockRows(cols, bytesPerEntry int) int {
	return max(1, blockBudget/(max(1, cols)*bytesPerEntry))
}

// pairBlockSize returns the entries of the largest block either
// direction uses.
func (l *InfoNCE) pairBlockSize(n, q int, br func(cols int) int) int {
	size := min(q, br(n-q)) * (n - q)
	if l.Symmetric {
		size = max(size, min(q, br(q))*q)
	}
	return size
}

// evalPairs32 evaluates the pair form on a float32 batch, writing ∂L/∂X
// into grad when grad.Data != nil.
func (l *InfoNCE) evalPairs32(x blas32.General, q int, grad blas32.General) float64 {
	return l.evalPairs32Blocked(x, q, grad, 0)
}

// evalPairs32Blocked is evalPairs32 with at most blockRows anchor rows
// per block (0: chosen from blockBudget).
func (l *InfoNCE) evalPairs32Blocked(x blas32.General, q int, grad blas32.General, blockRows int) float64 {
	wantGrad := grad.Data != nil
	if wantGrad && (grad.Rows != x.Rows || grad.Cols != x.Cols) {
		panic("losses: gradient shape does not match X")
	}
	n := x.Rows
	per := 4
	if wantGrad {
		per = 8
	}
	br := func(cols int) int {
		if blockRows > 0 {
			return blockRows
		}
		return pairBlockRows(cols, per)
	}
	be := newPairBackend32(x, l.Normalize, l.pairBlockSize(n, q, br), wantGrad)
	defer be.release()
	v, gu := l.evalInfoNCEPairs(be, n, q, true, wantGrad, br)
	if wantGrad {
		be.gradOut(grad, gu)
	}
	return v
}

// evalPairs64 is evalPairs32 in float64 throughout.
func (l *InfoNCE) evalPairs64(x blas64.General, q int, grad blas64.General) float64 {
	return l.evalPairs64Blocked(x, q, grad, 0)
}

func (l *InfoNCE) evalPairs64Blocked(x blas64.General, q int, grad blas64.General, blockRows int) float64 {
	wantGrad := grad.Data != nil
	if wantGrad && (grad.Rows != x.Rows || grad.Cols != x.Cols) {
		panic("losses: gradient shape does not match X")
	}
	n := x.Rows
	u, norms, _ := prep64(x, l.Normalize)
	per := 8
	if wantGrad {
		per = 16
	}
	br := func(cols int) int {
		if blockRows > 0 {
			return blockRows
		}
		return pairBlockRows(cols, per)
	}
	be := newPairBackend64(u, l.pairBlockSize(n, q, br), wantGrad)
	v, gu := l.evalInfoNCEPairs(be, n, q, false, wantGrad, br)
	if wantGrad {
		gradOut(gu, x.Cols, norms, be.urow, func(i int, g []float64) {
			copy(grad.Data[i*grad.Stride:i*grad.Stride+grad.Cols], g)
		})
	}
	return v
}

// ---- float32 pair backend (BLAS through internal/linalg) ----

type pairBackend32 struct {
	u     blas32.General // N×D working rows (x itself, or normalized into uBuf)
	norms []float64      // row norms of x when normalizing, else nil
	s, w  blas32.General // current block (shape set by sim), backed by sBuf, wBuf
	tmp   blas32.General // N×D GEMM output
	sum   []float64      // N×D float64 accumulator
	uBuf  []float32
	sBuf  []float32
	wBuf  []float32
}

// pairBackendPool recycles pairBackend32 values (*pairBackend32) and so
// their N×D and block buffers between evaluations: a training loop calls
// the loss once per step with the same shapes, and fresh buffers made
// every call page-fault through them and run the GC. Buffer contents are
// never read before being written (the accumulator is cleared).
var pairBackendPool sync.Pool

func growF32(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// newPairBackend32 returns a backend for the rows of x (L2-normalized when
// normalize) whose block buffers hold size entries, taken from
// pairBackendPool when possible; release returns it.
func newPairBackend32(x blas32.General, normalize bool, size int, grad bool) *pairBackend32 {
	b, _ := pairBackendPool.Get().(*pairBackend32)
	if b == nil {
		b = &pairBackend32{}
	}
	n, d := x.Rows, x.Cols
	b.u, b.norms = x, nil
	if normalize {
		b.uBuf = growF32(b.uBuf, n*d)
		b.u = blas32.General{Rows: n, Cols: d, Stride: d, Data: b.uBuf}
		b.norms = make([]float64, n)
		parallelRange(n, func(i0, i1 int) {
			copy(b.norms[i0:i1], Normalize(linalg.Slice(b.u, i0, i1), linalg.Slice(x, i0, i1)))
		})
	}
	b.sBuf = growF32(b.sBuf, size)
	if grad {
		b.wBuf = growF32(b.wBuf, size)
		b.tmp = blas32.General{Rows: n, Cols: d, Stride: d, Data: growF32(b.tmp.Data, n*d)}
		b.sum = grow(b.sum, n*d)
		clear(b.sum)
	}
	return b
}

// release returns b to pairBackendPool; b must not be used after.
func (b *pairBackend32) release() {
	b.u, b.norms, b.s, b.w = blas32.General{}, nil, blas32.General{}, blas32.General{}
	pairBackendPool.Put(b)
}

func (b *pairBackend32) sim(a0, a1, b0, b1 int) {
	r, c := a1-a0, b1-b0
	b.s = blas32.General{Rows: r, Cols: c, Stride: c, Data: b.sBuf[:r*c]}
	if b.wBuf != nil {
		b.w = blas32.General{Rows: r, Cols: c, Stride: c, Data: b.wBuf[:r*c]}
	}
	linalg.MulT(b.s, linalg.Slice(b.u, a0, a1), linalg.Slice(b.u, b0, b1))
}

func (b *pairBackend32) loadRow(i int, dst []float64) float64 {
	src := linalg.Row(b.s, i)
	dst = dst[:len(src)]
	mx := float32(math.Inf(-1))
	for j, v := range src {
		dst[j] = float64(v)
		if v > mx {
			mx = v
		}
	}
	return float64(mx)
}

func (b *pairBackend32) storeRow(i int, w []float64, f float64, t int, d float64) {
	dst := linalg.Row(b.w, i)
	w = w[:len(dst)]
	for j, v := range w {
		dst[j] = float32(v * f)
	}
	dst[t] = float32(w[t]*f - d)
}

func (b *pairBackend32) backward(a0, a1, b0, b1 int) {
	dim := b.u.Cols
	ta := linalg.Slice(b.tmp, 0, a1-a0)
	linalg.Mul(ta, b.w, linalg.Slice(b.u, b0, b1))
	addInto(b.sum[a0*dim:a1*dim], ta.Data[:(a1-a0)*dim])
	tb := linalg.Slice(b.tmp, 0, b1-b0)
	linalg.Gemm(blas.Trans, blas.NoTrans, 1, b.w, linalg.Slice(b.u, a0, a1), 0, tb)
	addInto(b.sum[b0*dim:b1*dim], tb.Data[:(b1-b0)*dim])
}

// addInto adds src (float32) to dst (float64) element-wise, in parallel
// over disjoint ranges.
func addInto(dst []float64, src []float32) {
	parallelRange(len(dst), func(i0, i1 int) {
		d, s := dst[i0:i1], src[i0:i1]
		for i, v := range s {
			d[i] += float64(v)
		}
	})
}

// gradOut writes into grad the gradient gu (N×D float64, with respect to
// the working rows) mapped through the normalization: for a row with norm
// r > 0, (g − u·(u·g))/r; a zero row gets a zero gradient. This is
// gradOut of the general engine, reading the float32 rows directly.
func (b *pairBackend32) gradOut(grad blas32.General, gu []float64) {
	d := b.u.Cols
	parallelRange(b.u.Rows, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			g, dr := gu[i*d:(i+1)*d], linalg.Row(grad, i)
			if b.norms == nil {
				for k, v := range g {
					dr[k] = float32(v)
				}
				continue
			}
			if b.norms[i] == 0 {
				clear(dr)
				continue
			}
			u := linalg.Row(b.u, i)
			var dot float64
			for k, v := range g {
				dot += float64(u[k]) * v
			}
			inv := 1 / b.norms[i]
			for k, v := range g {
				dr[k] = float32((v - float64(u[k])*dot) * inv)
			}
		}
	})
}

func (b *pairBackend32) urow(i int, dst []float64) {
	for k, v := range linalg.Row(b.u, i) {
		dst[k] = float64(v)
	}
}

func (b *pairBackend32) acc() []float64 { return b.sum }

// ---- float64 pair backend (gonum blas64, the exact reference path) ----

type pairBackend64 struct {
	u          blas64.General // N×D working rows, Stride == D
	s, w       blas64.General
	sBuf, wBuf []float64
	tmp        blas64.General // N×D
	sum        []float64
}

func newPairBackend64(u blas64.General, size int, grad bool) *pairBackend64 {
	b := &pairBackend64{u: u, sBuf: make([]float64, size)}
	if grad {
		b.wBuf = make([]float64, size)
		b.tmp = newMatrix64(u.Rows, u.Cols)
		b.sum = make([]float64, u.Rows*u.Cols)
	}
	return b
}

func (b *pairBackend64) sim(a0, a1, b0, b1 int) {
	r, c := a1-a0, b1-b0
	b.s = blas64.General{Rows: r, Cols: c, Stride: c, Data: b.sBuf[:r*c]}
	if b.wBuf != nil {
		b.w = blas64.General{Rows: r, Cols: c, Stride: c, Data: b.wBuf[:r*c]}
	}
	blas64.Gemm(blas.NoTrans, blas.Trans, 1, slice64(b.u, a0, a1), slice64(b.u, b0, b1), 0, b.s)
}

func (b *pairBackend64) loadRow(i int, dst []float64) float64 {
	src := b.s.Data[i*b.s.Stride : i*b.s.Stride+b.s.Cols]
	copy(dst, src)
	return maxOf(math.Inf(-1), src)
}

func (b *pairBackend64) storeRow(i int, w []float64, f float64, t int, d float64) {
	dst := b.w.Data[i*b.w.Stride : i*b.w.Stride+b.w.Cols]
	w = w[:len(dst)]
	for j, v := range w {
		dst[j] = v * f
	}
	dst[t] = w[t]*f - d
}

func (b *pairBackend64) backward(a0, a1, b0, b1 int) {
	dim := b.u.Cols
	ta := slice64(b.tmp, 0, a1-a0)
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, b.w, slice64(b.u, b0, b1), 0, ta)
	for i, v := range ta.Data[:(a1-a0)*dim] {
		b.sum[a0*dim+i] += v
	}
	tb := slice64(b.tmp, 0, b1-b0)
	blas64.Gemm(blas.Trans, blas.NoTrans, 1, b.w, slice64(b.u, a0, a1), 0, tb)
	for i, v := range tb.Data[:(b1-b0)*dim] {
		b.sum[b0*dim+i] += v
	}
}

func (b *pairBackend64) urow(i int, dst []float64) {
	copy(dst, b.u.Data[i*b.u.Stride:i*b.u.Stride+b.u.Cols])
}

func (b *pairBackend64) acc() []float64 { return b.sum }
