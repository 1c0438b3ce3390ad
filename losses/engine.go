package losses

import (
	"cmp"
	"math"
	"slices"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/internal/mathx"
	"github.com/embfit/embfit/internal/par"
)

// This file holds the engine shared by every pairwise loss (contrastive,
// triplet, InfoNCE, circle) and by TripletStats.
//
// The working rows u (the L2-normalized embeddings, or the raw ones when
// normalization is off) are multiplied into a Gram block S = U[r0:r1]·Uᵀ
// of at most blockBudget bytes. Each anchor row a of the block is handed to
// a rowKernel with s_a· (float64), which returns its unscaled loss sum and
// the count it contributes to the denominator, and writes
//
//	w_aj = ∂(sum)/∂s_aj   and   h_aj = ∂(sum)/∂d²_aj,
//
// where d²_aj = ‖u_a‖² + ‖u_j‖² − 2 s_aj. By the chain rule
// ∂L/∂U = W·U + Wᵀ·U_block + diag(rowsum h + colsum h)·2U, two GEMMs per
// block through linalg (float32 path) or gonum's blas64 (float64 path).
// Finally L = Σ sum / Σ count and the gradient is scaled by 1/Σ count and
// mapped through the normalization. Rows are processed in parallel but
// every reduction runs in a fixed order, so results do not depend on the
// number of threads. Memory is O(blockRows·N + N·D), never N³.
//
// With labels, the rows are first reordered by class (stable, see
// classOrder) and the gradient rows are put back in the caller's order at
// the end: a class is then a contiguous range of rows, so kernels loop
// over ranges ([lo,hi) positives, [0,lo) and [hi,N) negatives) with no
// per-entry label test or index list. For a single block, W + Wᵀ is
// formed in place (symmetrize) and multiplied by U in one GEMM.

// blockBudget bounds the bytes of the per-block N-wide matrices.
const blockBudget = 256 << 20

// pairCtx is what a kernel may read about the batch.
type pairCtx struct {
	n       int
	labels  []int
	queries int // pair form when > 0 (then labels is nil)
	// normalized is set when the working rows are L2-normalized.
	normalized bool
	sq         []float64 // ‖u_i‖², squared norms of the working rows
	// With labels, the engine reorders the rows by class (see classOrder):
	// perm[i] is the caller's row of working row i, and row i's class is
	// the contiguous range [lo[i], hi[i]). All three are nil otherwise.
	perm, lo, hi []int
	// f32 is set when the results are rounded to float32 (the float32
	// backend): kernels may then use float32-grade elementary functions
	// (relative error ≤ 1e-12, far below float32 rounding), see expSum.
	f32 bool
}

// expSum is expSum (dst[j] = e^(src[j]·scale − shift), returns z plus their
// sum in index order) with the precision the context needs: the faster
// expSumF32 on the float32 path, the accurate one otherwise.
func (c *pairCtx) expSum(dst, src []float64, scale, shift, z float64) float64 {
	if c.f32 {
		return expSumF32(dst, src, scale, shift, z)
	}
	return expSum(dst, src, scale, shift, z)
}

// split fills sc.pos/sc.neg with the positives (same label, not a) and
// negatives (other label) of anchor a, in increasing row order.
func (c *pairCtx) split(a int, sc *scratch) (pos, neg []int) {
	if c.lo == nil {
		return split(a, c.labels, sc)
	}
	lo, hi := c.lo[a], c.hi[a]
	pos, neg = growInt(sc.pos, c.n), growInt(sc.neg, c.n)
	for j := lo; j < hi; j++ {
		if j != a {
			pos = append(pos, j)
		}
	}
	for j := range lo {
		neg = append(neg, j)
	}
	for j := hi; j < c.n; j++ {
		neg = append(neg, j)
	}
	sc.pos, sc.neg = pos, neg
	return pos, neg
}

// classOrder returns the stable permutation that sorts the rows by label
// (perm[i] is the original index of sorted row i), the sorted labels and
// each sorted row's class range [lo, hi). Sorting by class lets the
// kernels loop over contiguous ranges instead of testing labels entry by
// entry; the order within a class, and so every result up to float
// rounding in the final sums, is unchanged.
func classOrder(labels []int) (perm, sorted, lo, hi []int) {
	n := len(labels)
	perm = make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	// By label, then by row: the stable order, from a faster unstable sort.
	slices.SortFunc(perm, func(i, j int) int {
		if c := cmp.Compare(labels[i], labels[j]); c != 0 {
			return c
		}
		return cmp.Compare(i, j)
	})
	sorted = make([]int, n)
	for i, p := range perm {
		sorted[i] = labels[p]
	}
	lo, hi = make([]int, n), make([]int, n)
	for i := 0; i < n; {
		j := i + 1
		for j < n && sorted[j] == sorted[i] {
			j++
		}
		for k := i; k < j; k++ {
			lo[k], hi[k] = i, j
		}
		i = j
	}
	return perm, sorted, lo, hi
}

// newPairCtx builds the context for a batch; with labels (and no
// queries) it reorders by class and returns the permutation.
func newPairCtx(n int, labels []int, queries int, normalize bool) *pairCtx {
	ctx := &pairCtx{n: n, labels: labels, queries: queries, normalized: normalize}
	if labels != nil && queries == 0 {
		ctx.perm, ctx.labels, ctx.lo, ctx.hi = classOrder(labels)
	}
	return ctx
}

// scratch is per-worker reusable memory for kernels.
type scratch struct {
	d, e, f []float64
	pos     []int
	neg     []int
	cnt     []float64
	rank    rankTable
	sub     *subBuf    // triplet tile sub-blocks (see triplet_sub.go)
	sides   []sideSums // triplet tile: per-anchor running sums
	rare    []int32    // triplet tile: negatives off lanes4's common path
}

func grow(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

func growInt(s []int, n int) []int {
	if cap(s) < n {
		return make([]int, 0, n)
	}
	return s[:0]
}

// rowKernel evaluates one anchor row. s has length N (s[a] is the anchor
// with itself); w and h are zeroed on entry and must be written only at
// their non-self entries. It returns the row's unscaled loss sum and its
// contribution to the denominator.
type rowKernel interface {
	row(a int, s, w, h []float64, sc *scratch) (sum, count float64)
	// usesH reports whether the kernel writes h (distance-based losses).
	usesH() bool
}

// backend holds the working rows and performs the two GEMM stages in one
// precision.
type backend interface {
	// gram computes the block S = U[r0:r1]·Uᵀ in native storage.
	gram(r0, r1 int)
	// loadRow copies row i of the current block into dst as float64.
	loadRow(i int, dst []float64)
	// storeRow stores w as row i of the block's coefficient matrix W.
	storeRow(i int, w []float64)
	// storeRowH stores w − 2h as row i of W.
	storeRowH(i int, w, h []float64)
	// backward accumulates W·U into rows [r0,r1) and Wᵀ·U[r0:r1] into all
	// rows of the float64 gradient accumulator.
	backward(r0, r1 int)
	// urow returns row i of U as float64 in dst.
	urow(i int, dst []float64)
	// acc returns the N×D float64 accumulator (row-major, stride D).
	acc() []float64
}

// blockRowsFor returns how many anchor rows one block holds for n rows.
func blockRowsFor(n, bytesPerEntry int) int {
	if n == 0 {
		return 0
	}
	b := blockBudget / (n * bytesPerEntry)
	return max(1, min(n, b))
}

// runPairwise drives a kernel over every anchor row. When grad is true the
// gradient with respect to U, scaled by 1/Σcount and including the diagonal
// terms, is returned as an N×D float64 matrix (row-major).
func runPairwise(be backend, ctx *pairCtx, dim int, k rowKernel, blockRows int, grad bool) (value float64, gu []float64) {
	n := ctx.n
	rowSum := make([]float64, n)
	rowCnt := make([]float64, n)
	var diag []float64
	var hBlock []float64
	kernelH := k.usesH()
	useH := grad && kernelH
	// With normalized rows the diagonal terms 2h·u_i are radial and the
	// normalization's backward removes them exactly, so they are skipped.
	needDiag := useH && !ctx.normalized
	if needDiag {
		diag = make([]float64, n)
		hBlock = make([]float64, blockRows*n)
	}
	workers := par.Workers(blockRows)
	scr := make([]scratch, workers)
	bufs := make([][3][]float64, workers)
	for w := range bufs {
		bufs[w] = [3][]float64{make([]float64, n), make([]float64, n), make([]float64, n)}
	}
	for r0 := 0; r0 < n; r0 += blockRows {
		r1 := min(n, r0+blockRows)
		be.gram(r0, r1)
		par.Each(workers, r1-r0, func(w, i int) {
			a := r0 + i
			s, wr, hr := bufs[w][0], bufs[w][1], bufs[w][2]
			be.loadRow(i, s)
			clear(wr)
			if kernelH {
				clear(hr)
			}
			rowSum[a], rowCnt[a] = k.row(a, s, wr, hr, &scr[w])
			if !grad {
				return
			}
			if needDiag {
				var hs float64
				for _, v := range hr {
					hs += v
				}
				diag[a] += 2 * hs
				copy(hBlock[i*n:(i+1)*n], hr)
			}
			if useH {
				// w − 2h: adding −2·0 leaves w's bits unchanged.
				be.storeRowH(i, wr, hr)
			} else {
				be.storeRow(i, wr)
			}
		})
		if !grad {
			continue
		}
		if needDiag {
			// Column sums of h over the block, parallel over columns,
			// each column summed in row order.
			parallelRange(n, func(j0, j1 int) {
				for i := 0; i < r1-r0; i++ {
					hr := hBlock[i*n : (i+1)*n]
					for j := j0; j < j1; j++ {
						diag[j] += 2 * hr[j]
					}
				}
			})
		}
		be.backward(r0, r1)
	}
	var sum, cnt float64
	for a := range n {
		sum += rowSum[a]
		cnt += rowCnt[a]
	}
	if cnt == 0 {
		if grad {
			gu = make([]float64, n*dim)
		}
		return 0, gu
	}
	value = sum / cnt
	if !grad {
		return value, nil
	}
	gu = be.acc()
	scale := 1 / cnt
	parallelRange(n, func(i0, i1 int) {
		u := make([]float64, dim)
		for i := i0; i < i1; i++ {
			g := gu[i*dim : (i+1)*dim]
			if diag != nil && diag[i] != 0 {
				be.urow(i, u)
				for k := range g {
					g[k] += diag[i] * u[k]
				}
			}
			for k := range g {
				g[k] *= scale
			}
		}
	})
	return value, gu
}

// parallelRange runs f over [0,n) in contiguous ranges (a few per
// worker, of at least 16 items) on up to GOMAXPROCS goroutines through
// par.Ranges. f must only write state owned by its range, so that results
// do not depend on the split.
func parallelRange(n int, f func(i0, i1 int)) {
	workers := par.Workers(n)
	if workers <= 1 || n < 64 {
		f(0, n)
		return
	}
	chunk := max(16, n/(4*workers))
	par.Ranges(workers, (n+chunk-1)/chunk, n, func(_, i0, i1 int) { f(i0, i1) })
}

// ---- float32 backend (BLAS through internal/linalg) ----

type backend32 struct {
	u      blas32.General
	n, dim int
	s, w   blas32.General // block-row scratch: blockRows×N
	tmp    blas32.General // N×D
	sum    []float64      // N×D accumulator
}

func newBackend32(u blas32.General, blockRows int, grad bool) *backend32 {
	b := &backend32{u: u, n: u.Rows, dim: u.Cols}
	b.s = blas32.General{Rows: blockRows, Cols: b.n, Stride: b.n, Data: getBlock(blockRows * b.n)}
	if grad {
		b.w = blas32.General{Rows: blockRows, Cols: b.n, Stride: b.n, Data: getBlock(blockRows * b.n)}
		b.tmp = linalg.NewMatrix(b.n, b.dim)
		b.sum = make([]float64, b.n*b.dim)
	}
	return b
}

// blockPool recycles the block matrices S and W (*[]float32) between
// evaluations: they are the only allocations of size N², and allocating
// them afresh made every call page-fault through them and run the GC.
// Their contents are never read before being written.
var blockPool sync.Pool

// matPool recycles the tile engine's N×D float32 matrices the same way
// (kept apart from blockPool, whose N×N buffers they would displace).
var matPool sync.Pool

func getBlock(n int) []float32 { return getFrom(&blockPool, n) }

// getFrom returns a []float32 of length n from pool p, or a new one.
// Its contents are arbitrary.
func getFrom(p *sync.Pool, n int) []float32 {
	if b, ok := p.Get().(*[]float32); ok && cap(*b) >= n {
		return (*b)[:n]
	}
	return make([]float32, n)
}

// release returns the block matrices to blockPool; b must not be used after.
func (b *backend32) release() {
	for _, m := range []*blas32.General{&b.s, &b.w} {
		if m.Data != nil {
			d := m.Data
			blockPool.Put(&d)
			m.Data = nil
		}
	}
}

func (b *backend32) gram(r0, r1 int) {
	linalg.MulT(linalg.Slice(b.s, 0, r1-r0), linalg.Slice(b.u, r0, r1), b.u)
}

func (b *backend32) loadRow(i int, dst []float64) {
	src := b.s.Data[i*b.n : (i+1)*b.n]
	dst = dst[:len(src)]
	for j, v := range src {
		dst[j] = float64(v)
	}
}

func (b *backend32) storeRow(i int, w []float64) {
	dst := b.w.Data[i*b.n : (i+1)*b.n]
	dst = dst[:len(w)]
	for j, v := range w {
		dst[j] = float32(v)
	}
}

func (b *backend32) storeRowH(i int, w, h []float64) {
	dst := b.w.Data[i*b.n : (i+1)*b.n]
	h = h[:len(w)]
	dst = dst[:len(w)]
	for j, v := range w {
		dst[j] = float32(v - 2*h[j])
	}
}

func (b *backend32) backward(r0, r1 int) {
	w := linalg.Slice(b.w, 0, r1-r0)
	ub := linalg.Slice(b.u, r0, r1)
	if r0 == 0 && r1 == b.n {
		b.backwardSym()
		return
	}
	tb := linalg.Slice(b.tmp, 0, r1-r0)
	linalg.Gemm(blas.NoTrans, blas.NoTrans, 1, w, b.u, 0, tb)
	off := r0 * b.dim
	for i, v := range tb.Data[:(r1-r0)*b.dim] {
		b.sum[off+i] += float64(v)
	}
	linalg.Gemm(blas.Trans, blas.NoTrans, 1, w, ub, 0, b.tmp)
	parallelRange(b.n*b.dim, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			b.sum[i] += float64(b.tmp.Data[i])
		}
	})
}

// symTile is the edge of the tiles in which symmetrize works.
const symTile = 32

// backwardSym computes, for a single block (W is N×N), the gradient
// accumulator (W + Wᵀ)·U: W is symmetrized in place, then one GEMM.
func (b *backend32) backwardSym() {
	symmetrize(b.w.Data, b.n)
	linalg.Mul(b.tmp, b.w, b.u)
	parallelRange(b.n*b.dim, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			b.sum[i] = float64(b.tmp.Data[i])
		}
	})
}

func (b *backend32) urow(i int, dst []float64) {
	for k, v := range linalg.Row(b.u, i) {
		dst[k] = float64(v)
	}
}

func (b *backend32) acc() []float64 { return b.sum }

// ---- float64 backend (gonum blas64, for exact reference evaluation) ----

type backend64 struct {
	u      blas64.General
	n, dim int
	s, w   blas64.General
	tmp    blas64.General
	sum    []float64
}

func newMatrix64(r, c int) blas64.General {
	return blas64.General{Rows: r, Cols: c, Stride: c, Data: make([]float64, r*c)}
}

func slice64(m blas64.General, i, j int) blas64.General {
	return blas64.General{Rows: j - i, Cols: m.Cols, Stride: m.Stride, Data: m.Data[i*m.Stride : (j-1)*m.Stride+m.Cols]}
}

func newBackend64(u blas64.General, blockRows int, grad bool) *backend64 {
	b := &backend64{u: u, n: u.Rows, dim: u.Cols}
	b.s = newMatrix64(blockRows, b.n)
	if grad {
		b.w = newMatrix64(blockRows, b.n)
		b.tmp = newMatrix64(b.n, b.dim)
		b.sum = make([]float64, b.n*b.dim)
	}
	return b
}

func (b *backend64) gram(r0, r1 int) {
	blas64.Gemm(blas.NoTrans, blas.Trans, 1, slice64(b.u, r0, r1), b.u, 0, slice64(b.s, 0, r1-r0))
}

func (b *backend64) loadRow(i int, dst []float64) { copy(dst, b.s.Data[i*b.n:(i+1)*b.n]) }

func (b *backend64) storeRow(i int, w []float64) { copy(b.w.Data[i*b.n:(i+1)*b.n], w) }

func (b *backend64) storeRowH(i int, w, h []float64) {
	dst := b.w.Data[i*b.n : (i+1)*b.n]
	h = h[:len(w)]
	dst = dst[:len(w)]
	for j, v := range w {
		dst[j] = v - 2*h[j]
	}
}

func (b *backend64) backward(r0, r1 int) {
	w := slice64(b.w, 0, r1-r0)
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, w, b.u, 0, slice64(b.tmp, 0, r1-r0))
	off := r0 * b.dim
	for i, v := range b.tmp.Data[:(r1-r0)*b.dim] {
		b.sum[off+i] += v
	}
	blas64.Gemm(blas.Trans, blas.NoTrans, 1, w, slice64(b.u, r0, r1), 0, b.tmp)
	for i, v := range b.tmp.Data {
		b.sum[i] += v
	}
}

func (b *backend64) urow(i int, dst []float64) { copy(dst, b.u.Data[i*b.u.Stride:i*b.u.Stride+b.dim]) }

func (b *backend64) acc() []float64 { return b.sum }

// ---- working rows and the normalization ----

// prep32 returns the working rows (normalized copy or x itself), the row
// norms (nil when not normalizing) and the squared norms of the working rows.
func prep32(x blas32.General, normalize bool) (u blas32.General, norms, sq []float64) {
	u = x
	if normalize {
		u = linalg.NewMatrix(x.Rows, x.Cols)
		norms = Normalize(u, x)
	}
	sq = make([]float64, x.Rows)
	for i := range x.Rows {
		var ss float64
		for _, v := range linalg.Row(u, i) {
			ss += float64(v) * float64(v)
		}
		sq[i] = ss
	}
	return u, norms, sq
}

func prep64(x blas64.General, normalize bool) (u blas64.General, norms, sq []float64) {
	n, d := x.Rows, x.Cols
	u = newMatrix64(n, d)
	if normalize {
		norms = make([]float64, n)
	}
	sq = make([]float64, n)
	for i := range n {
		xr := x.Data[i*x.Stride : i*x.Stride+d]
		ur := u.Data[i*d : (i+1)*d]
		copy(ur, xr)
		if normalize {
			var ss float64
			for _, v := range xr {
				ss += v * v
			}
			nv := math.Sqrt(ss)
			norms[i] = nv
			if nv == 0 {
				clear(ur)
			} else {
				for k := range ur {
					ur[k] = xr[k] / nv
				}
			}
		}
		var ss float64
		for _, v := range ur {
			ss += v * v
		}
		sq[i] = ss
	}
	return u, norms, sq
}

// gradOut maps the gradient gu with respect to the working rows (float64,
// N×D) through the normalization (when norms != nil) and hands each raw
// row's gradient to put.
func gradOut(gu []float64, dim int, norms []float64, urow func(i int, dst []float64), put func(i int, g []float64)) {
	n := len(gu) / max(1, dim)
	parallelRange(n, func(i0, i1 int) {
		u := make([]float64, dim)
		for i := i0; i < i1; i++ {
			g := gu[i*dim : (i+1)*dim]
			if norms != nil {
				if norms[i] == 0 {
					clear(g)
				} else {
					urow(i, u)
					var dot float64
					for k := range g {
						dot += u[k] * g[k]
					}
					inv := 1 / norms[i]
					for k := range g {
						g[k] = (g[k] - u[k]*dot) * inv
					}
				}
			}
			put(i, g)
		}
	})
}

// evalLabelled32 evaluates a labels-only loss on a float32 batch (a
// pair-form batch is read as labels, see batchLabels): in the tile engine
// when the N×N buffer fits and tiles gives a tile kernel for the labels
// (nil: none), on row blocks with the row kernel otherwise.
func evalLabelled32(b Batch, normalize bool, tiles func(labels []int) func(*pairCtx) tileKernel, rows func(*pairCtx) rowKernel, grad blas32.General, cache *tileCache) float64 {
	l := batchLabels(b.X.Rows, b.Labels, b.Queries)
	if tileFits(b.X.Rows) {
		if mk := tiles(l); mk != nil {
			return evalTiles32Cached(b.X, l, normalize, mk, grad, cache)
		}
	}
	return evalPairwise32(b.X, l, 0, normalize, rows, grad)
}

// evalLabelled64 is evalLabelled32's float64 form (always on row blocks).
func evalLabelled64(b Batch64, normalize bool, rows func(*pairCtx) rowKernel, grad blas64.General) float64 {
	return evalPairwise64(b.X, batchLabels(b.X.Rows, b.Labels, b.Queries), 0, normalize, rows, grad)
}

// evalPairwise32 evaluates a pairwise kernel on a float32 batch.
func evalPairwise32(x blas32.General, labels []int, queries int, normalize bool, mk func(*pairCtx) rowKernel, grad blas32.General) float64 {
	return evalPairwise32Blocked(x, labels, queries, normalize, mk, grad, 0)
}

// evalPairwise32Blocked is evalPairwise32 with the number of anchor rows
// per Gram block forced to blockRows (0: chosen from blockBudget).
func evalPairwise32Blocked(x blas32.General, labels []int, queries int, normalize bool, mk func(*pairCtx) rowKernel, grad blas32.General, blockRows int) float64 {
	wantGrad := grad.Data != nil
	if wantGrad && (grad.Rows != x.Rows || grad.Cols != x.Cols) {
		panic("losses: gradient shape does not match X")
	}
	if x.Rows == 0 {
		return 0
	}
	ctx := newPairCtx(x.Rows, labels, queries, normalize)
	if ctx.perm != nil {
		xp := linalg.NewMatrix(x.Rows, x.Cols)
		for i, p := range ctx.perm {
			copy(linalg.Row(xp, i), linalg.Row(x, p))
		}
		x = xp
	}
	u, norms, sq := prep32(x, normalize)
	ctx.sq = sq
	ctx.f32 = true
	k := mk(ctx)
	per := 4
	if wantGrad {
		per = 8
		if k.usesH() && !normalize {
			per = 16
		}
	}
	br := blockRowsFor(x.Rows, per)
	if blockRows > 0 {
		br = min(blockRows, x.Rows)
	}
	be := newBackend32(u, br, wantGrad)
	defer be.release()
	v, gu := runPairwise(be, ctx, x.Cols, k, br, wantGrad)
	if wantGrad {
		gradOut(gu, x.Cols, norms, be.urow, func(i int, g []float64) {
			if ctx.perm != nil {
				i = ctx.perm[i]
			}
			dr := linalg.Row(grad, i)
			for k, v := range g {
				dr[k] = float32(v)
			}
		})
	}
	return v
}

// evalPairwise64 is evalPairwise32 in float64 throughout.
func evalPairwise64(x blas64.General, labels []int, queries int, normalize bool, mk func(*pairCtx) rowKernel, grad blas64.General) float64 {
	return evalPairwise64Blocked(x, labels, queries, normalize, mk, grad, 0)
}

func evalPairwise64Blocked(x blas64.General, labels []int, queries int, normalize bool, mk func(*pairCtx) rowKernel, grad blas64.General, blockRows int) float64 {
	wantGrad := grad.Data != nil
	if wantGrad && (grad.Rows != x.Rows || grad.Cols != x.Cols) {
		panic("losses: gradient shape does not match X")
	}
	if x.Rows == 0 {
		return 0
	}
	ctx := newPairCtx(x.Rows, labels, queries, normalize)
	if ctx.perm != nil {
		xp := newMatrix64(x.Rows, x.Cols)
		for i, p := range ctx.perm {
			copy(xp.Data[i*x.Cols:(i+1)*x.Cols], x.Data[p*x.Stride:p*x.Stride+x.Cols])
		}
		x = xp
	}
	u, norms, sq := prep64(x, normalize)
	ctx.sq = sq
	k := mk(ctx)
	per := 8
	if wantGrad {
		per = 16
		if k.usesH() && !normalize {
			per = 24
		}
	}
	br := blockRowsFor(x.Rows, per)
	if blockRows > 0 {
		br = min(blockRows, x.Rows)
	}
	be := newBackend64(u, br, wantGrad)
	v, gu := runPairwise(be, ctx, x.Cols, k, br, wantGrad)
	if wantGrad {
		gradOut(gu, x.Cols, norms, be.urow, func(i int, g []float64) {
			if ctx.perm != nil {
				i = ctx.perm[i]
			}
			copy(grad.Data[i*grad.Stride:i*grad.Stride+grad.Cols], g)
		})
	}
	return v
}

// ---- distance helpers for kernels ----

// dist fills d[j] with the distance of row a to row j from the Gram row
// s, for j ≥ from (an optional start column, default 0).
func dist(dk Distance, a int, s, sq, d []float64, from ...int) {
	j0 := 0
	if len(from) > 0 {
		j0 = from[0]
	}
	n := len(s)
	d, sq = d[:n], sq[:n]
	switch dk {
	case Cosine:
		for j := j0; j < n; j++ {
			d[j] = 1 - s[j]
		}
	case SquaredEuclidean:
		sqa := sq[a]
		for j := j0; j < n; j++ {
			d[j] = max(0, sqa+sq[j]-2*s[j])
		}
	default:
		sqa := sq[a]
		for j := j0; j < n; j++ {
			d[j] = math.Sqrt(max(0, sqa+sq[j]-2*s[j]))
		}
	}
	if dk != Cosine && a >= j0 {
		d[a] = 0
	}
}

// addDistGrad records ∂(sum)/∂D_aj = g into w/h for distance dk at value dv.
func addDistGrad(dk Distance, j int, g, dv float64, w, h []float64) {
	switch dk {
	case Cosine:
		w[j] -= g
	case SquaredEuclidean:
		h[j] += g
	default:
		if dv > 0 {
			h[j] += g / (2 * dv)
		}
	}
}

// usesDistH reports whether distance dk is expressed through d².
func usesDistH(dk Distance) bool { return dk != Cosine }

// softplus returns log(1+eᶻ) without overflow, with fastExp.
func softplus(z float64) float64 { return mathx.Softplus(z, fastExp) }

// sigmoid returns 1/(1+e⁻ᶻ) without overflow, with fastExp.
func sigmoid(z float64) float64 { return mathx.Sigmoid(z, fastExp) }

// Constants of fastExp.
const (
	expLn2Hi   = 6.93147180369123816490e-01 // ln 2, high part (exact in 32 bits)
	expLn2Lo   = 1.90821492927058770002e-10 // ln 2 − expLn2Hi
	expLog2e   = 1.44269504088896338700e+00 // 1 / ln 2
	expShifter = 6755399441055744.0         // 1.5·2⁵²: adding it rounds to an integer
	expBits    = 6                          // the table holds 2^(j/2^expBits)
	expSize    = 1 << expBits
)

// expTable[j] = 2^(j/64), j = 0..63 (read-only after init).
var expTable = func() (t [expSize]float64) {
	for j := range t {
		t[j] = math.Exp2(float64(j) / expSize)
	}
	return t
}()

// fastExp returns eˣ to within ~4e-16 relative error (tested against
// math.Exp over [−745, 709]), several times faster than math.Exp on amd64
// without GOAMD64 ≥ v3: x = (k/64)·ln2 + r with |r| ≤ ln2/128, and
// eˣ = 2^⌊k/64⌋ · 2^((k mod 64)/64) · eʳ with the middle factor from a
// 64-entry table (2^⌊k/64⌋ is added to its exponent bits) and eʳ from
// its degree-5 Taylor polynomial (truncation < 4e-17), evaluated in
// Estrin's form for instruction-level parallelism. Outside (−700, 700), and for NaN, it defers to math.Exp.
func fastExp(x float64) float64 {
	if !(x > -700 && x < 700) {
		return math.Exp(x)
	}
	y := x*(expLog2e*expSize) + expShifter
	k := int64(math.Float64bits(y)) - expShifterBits // round(x·64/ln2)
	kf := y - expShifter
	r := (x - kf*(expLn2Hi/expSize)) - kf*(expLn2Lo/expSize)
	r2 := r * r
	p := (1 + r) + r2*((1.0/2+r*(1.0/6))+r2*(1.0/24+r*(1.0/120)))
	return p * math.Float64frombits(math.Float64bits(expTable[k&(expSize-1)])+uint64(k>>expBits)<<52)
}

// expShifterBits is the bit pattern of expShifter: the bits of
// y = t + expShifter minus it are round(t) for |t| < 2⁵¹.
const expShifterBits = 0x4338000000000000

// expSum sets dst[j] = fastExp(src[j]·scale − shift) for every j (the same
// bits as fastExp, computed inline) and returns z plus their sum, added in
// index order.
func expSum(dst, src []float64, scale, shift, z float64) float64 {
	dst = dst[:len(src)]
	// The loop has no call (math.Exp is left to the second loop, which
	// takes over at the first argument outside (−700, 700)), so nothing is
	// spilled to the stack per element.
	j := 0
	for ; j < len(src); j++ {
		x := src[j]*scale - shift
		if !(x > -700 && x < 700) {
			break
		}
		y := x*(expLog2e*expSize) + expShifter
		k := int64(math.Float64bits(y)) - expShifterBits
		kf := y - expShifter
		r := (x - kf*(expLn2Hi/expSize)) - kf*(expLn2Lo/expSize)
		r2 := r * r
		p := (1 + r) + r2*((1.0/2+r*(1.0/6))+r2*(1.0/24+r*(1.0/120)))
		e := p * math.Float64frombits(math.Float64bits(expTable[k&(expSize-1)])+uint64(k>>expBits)<<52)
		dst[j] = e
		z += e
	}
	for ; j < len(src); j++ {
		e := fastExp(src[j]*scale - shift)
		dst[j] = e
		z += e
	}
	return z
}

// expTable256[j] = 2^(j/256), j = 0..255 (read-only after init).
var expTable256 = func() (t [256]float64) {
	for j := range t {
		t[j] = math.Exp2(float64(j) / 256)
	}
	return t
}()

// expSumF32 is expSum with a relative error below 1e-12 (measured ≤ 3e-13
// over (−700, 700)) instead of ~4e-16: x = (k/256)·ln2 + r with
// |r| ≤ ln2/512, a 256-entry table and a degree-3 polynomial. It is
// about a third faster and is used where results are rounded to float32.
func expSumF32(dst, src []float64, scale, shift, z float64) float64 {
	dst = dst[:len(src)]
	j := 0
	for ; j < len(src); j++ {
		x := src[j]*scale - shift
		if !(x > -700 && x < 700) {
			break
		}
		y := x*(expLog2e*256) + expShifter
		k := int64(math.Float64bits(y)) - expShifterBits
		kf := y - expShifter
		r := x - kf*(math.Ln2/256)
		p := 1 + r*(1+r*(0.5+r*(1.0/6)))
		e := p * math.Float64frombits(math.Float64bits(expTable256[k&255])+uint64(k>>8)<<52)
		dst[j] = e
		z += e
	}
	for ; j < len(src); j++ {
		e := math.Exp(src[j]*scale - shift)
		dst[j] = e
		z += e
	}
	return z
}

// maxOf returns the largest of m and the elements of v (NaN-unaware).
func maxOf(m float64, v []float64) float64 {
	for _, x := range v {
		if x > m {
			m = x
		}
	}
	return m
}

// scaleBy multiplies every element of v by f.
func scaleBy(v []float64, f float64) {
	for j := range v {
		v[j] *= f
	}
}

// symmetrize replaces the n×n row-major matrix w by w + wᵀ, in place.
// It works on pairs of symTile×symTile tiles (i,j) and (j,i): the lower
// tile is copied row by row into a small buffer, so the transposed access
// never walks down a column of w, and the tile rows are spread over the
// workers by a shared counter. Each entry is one float32 addition, so the
// result does not depend on the number of workers.
func symmetrize(w []float32, n int) {
	tiles := (n + symTile - 1) / symTile
	if tiles == 0 {
		return
	}
	workers := par.Workers(tiles)
	bufs := make([][symTile * symTile]float32, workers)
	par.Each(workers, tiles, func(wk, ti int) {
		i0, i1 := ti*symTile, min(n, (ti+1)*symTile)
		for tj := ti; tj < tiles; tj++ {
			j0, j1 := tj*symTile, min(n, (tj+1)*symTile)
			symTilePair(w, n, i0, i1, j0, j1, &bufs[wk])
		}
	})
}

// symTilePair symmetrizes the tile rows [i0,i1) × cols [j0,j1) with its
// mirror rows [j0,j1) × cols [i0,i1) (the same tile when i0 == j0).
func symTilePair(w []float32, n, i0, i1, j0, j1 int, buf *[symTile * symTile]float32) {
	ni, nj := i1-i0, j1-j0
	// buf[jj*symTile+ii] = w[j0+jj][i0+ii]
	for jj := range nj {
		copy(buf[jj*symTile:jj*symTile+ni], w[(j0+jj)*n+i0:(j0+jj)*n+i1])
	}
	if i0 == j0 {
		for ii := range ni {
			row := w[(i0+ii)*n+j0 : (i0+ii)*n+j1]
			for jj := ii; jj < nj; jj++ {
				v := row[jj] + buf[jj*symTile+ii]
				row[jj] = v
				buf[jj*symTile+ii] = v
				buf[ii*symTile+jj] = v
			}
		}
	} else {
		for ii := range ni {
			row := w[(i0+ii)*n+j0 : (i0+ii)*n+j1]
			for jj := range row {
				v := row[jj] + buf[jj*symTile+ii]
				row[jj] = v
				buf[jj*symTile+ii] = v
			}
		}
	}
	for jj := range nj {
		copy(w[(j0+jj)*n+i0:(j0+jj)*n+i1], buf[jj*symTile:jj*symTile+ni])
	}
}
