package losses

import (
	"math"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/internal/par"
)

// This file holds the tile engine: the float32 path of the labelled
// pairwise losses (contrastive, triplet, InfoNCE, circle) for batches
// whose N×N coefficient matrix fits in blockBudget.
//
// It uses the symmetry of the similarity matrix S = U·Uᵀ. The class-sorted
// working rows are cut into T tiles of R rows, and only the T(T+1)/2
// upper tile pairs (P ≤ Q) are computed, each by one single-threaded GEMM
// U_P·U_Qᵀ written straight into its place in the N×N matrix W. A kernel
// then visits every unordered pair {a, j} once (for a diagonal tile, the
// entries above the diagonal) and evaluates it from both ends: as entry j
// of anchor a's row and as entry a of anchor j's row. It overwrites
// W[a][j] (a < j) with the symmetric coefficient
//
//	W_aj = ∂L/∂s_aj + ∂L/∂s_ja − 2(∂L/∂d²_aj + ∂L/∂d²_ja),
//
// so that ∂L/∂U = W·U + diag(2·Σ_j H_aj)·U (the last term only for
// distances on unnormalized rows). Only W's upper triangle is ever
// written: the product W·U is one symmetric-matrix multiplication
// (linalg.SymmUpper) at the end. Compared with the row-block engine
// (engine.go), which computes all N² entries of S, stores every row of W
// and then symmetrizes W in a separate sweep, this halves the forward
// GEMM, computes each distance once per pair and needs no transpose pass.
//
// Kernels that need per-anchor statistics of a whole row before they can
// give a coefficient (the log-sum-exp of InfoNCE and circle) run two
// passes: the first reads the similarity tiles and leaves them in W, the
// second reads them again and overwrites them with coefficients.
//
// Determinism: every tile pair is one task and writes only its own part
// of W and its own partial sums. Per-anchor quantities are accumulated in
// "segments": part[x][y][k] holds what the tile pair {x, y} contributed to
// anchor x·R+k (for x = y, both ends of the diagonal tile), and an anchor's
// total is the sum over y in order. So results do not depend on the
// number of threads or on the order in which tasks run.

// tileEdgeFor returns the tile edge R for n rows (a function of n only,
// so that results do not depend on the thread count): 128 below 2048
// rows, where 256 left too few tiles to share between the workers (10 at
// n=1024; 128 was 6–11% faster there), 256 from 2048 on (equal or
// better at 2048 and 4096).
func tileEdgeFor(n int) int {
	if n < 2048 {
		return 128
	}
	return 256
}

// tileFits reports whether the tile engine can run a batch of n rows:
// its N×N float32 coefficient matrix must fit in blockBudget.
func tileFits(n int) bool { return n > 0 && n*n*4 <= blockBudget }

// tileEngine holds the state of one evaluation.
type tileEngine struct {
	ctx    *pairCtx
	u      blas32.General // working rows, class-sorted
	n, dim int
	r, t   int        // tile edge and number of tiles
	w      []float32  // N×N: similarity tiles, then coefficients
	cache  *tileCache // where w goes back (nil: the block pool)
	// workers is the number of goroutines a sweep runs on (tileTask.worker
	// is below it), fixed when the engine is made.
	workers int
}

// tileTask is one upper tile pair: rows [p0,p1) × columns [q0,q1).
type tileTask struct {
	ti, tj         int
	p0, p1, q0, q1 int
	diag           bool // ti == tj: only the entries above the diagonal are pairs
	worker         int
	sc             *scratch
}

// tileKernel is a loss in the tile engine's form.
type tileKernel interface {
	// passes is the number of sweeps over the tile pairs (1 or 2).
	passes() int
	// prepare runs once before the first sweep (allocate partials, build
	// per-anchor tables from the class blocks).
	prepare(e *tileEngine)
	// tile handles one tile pair in sweep pass. The similarities s_aj of
	// its pairs are in W[a][j] (a in rows, j in columns, above the
	// diagonal for a diagonal tile); in the last sweep it must overwrite
	// W[a][j] of every such pair with the coefficient (only the upper
	// triangle of W is read after the sweeps).
	tile(e *tileEngine, pass int, t *tileTask)
	// between runs after every sweep but the last.
	between(e *tileEngine, pass int)
	// finish runs after the last sweep. It may add the coefficients of
	// pairs it handles itself (W entries inside class blocks, say) and
	// returns the unscaled loss sum, its denominator and, when the rows
	// are unnormalized and distances are used, each anchor's Σ_j H_aj
	// (nil otherwise).
	finish(e *tileEngine) (sum, count float64, hrow []float64)
}

// sparseKernel is an optional extension of tileKernel for losses whose
// gradient involves only a few pairs per anchor (triplet batch-hard: two).
// When sparse returns true, run does not multiply W by U: the similarity
// tiles of the first sweep stay in W (above the diagonal, readable
// through sim) and, after finish, gradient returns ∂L/∂U itself (N×D
// float64, every coefficient multiplied by scale = 1/count, diagonal terms
// included; finish's hrow is ignored), accumulated in a fixed order so
// that it does not depend on the number of threads.
type sparseKernel interface {
	sparse() bool
	gradient(e *tileEngine, scale float64) []float64
}

func newTileEngine(ctx *pairCtx, u blas32.General) *tileEngine {
	return newTileEngineCached(ctx, u, nil)
}

// newTileEngineCached is newTileEngine taking W from cache (nil: the
// block pool).
func newTileEngineCached(ctx *pairCtx, u blas32.General, cache *tileCache) *tileEngine {
	n := u.Rows
	r := tileEdgeFor(n)
	t := (n + r - 1) / r
	return &tileEngine{ctx: ctx, u: u, n: n, dim: u.Cols, r: r, t: t, w: cache.get(n * n), cache: cache,
		workers: par.Workers(t * (t + 1) / 2)}
}

// release returns W to its cache or the block pool.
func (e *tileEngine) release() {
	if e.w != nil {
		e.cache.put(e.w)
		e.w = nil
	}
}

// tileCache keeps a loss's last N×N coefficient buffer for its next
// evaluation. The block pool alone was not enough: a garbage collection
// empties it, and allocating 64 MiB afresh at n=4096 cost a third of an
// evaluation in page faults. It is safe for concurrent use (an
// evaluation that finds the cache empty allocates its own buffer); the
// zero value is ready, and a nil *tileCache means the block pool.
type tileCache struct {
	w atomic.Pointer[[]float32]
}

func (c *tileCache) get(n int) []float32 {
	if c != nil {
		if p := c.w.Swap(nil); p != nil && cap(*p) >= n {
			return (*p)[:n]
		}
	}
	return getBlock(n)
}

func (c *tileCache) put(w []float32) {
	if c != nil {
		c.w.Store(&w)
		return
	}
	blockPool.Put(&w)
}

// needH reports whether kernels must report Σ_j H_aj (distances on
// unnormalized rows).
func (e *tileEngine) needH() bool { return !e.ctx.normalized }

// newPart returns a zeroed segment array: T·T·R float64.
func (e *tileEngine) newPart() []float64 { return make([]float64, e.t*e.t*e.r) }

// slot returns the segment of part holding what tile pair {x, y}
// contributes to the anchors of tile x (length R; the last tile's extra
// entries are unused).
func (e *tileEngine) slot(part []float64, x, y int) []float64 {
	o := (x*e.t + y) * e.r
	return part[o : o+e.r]
}

// reduce returns each anchor's total over its segments, summed in order.
func (e *tileEngine) reduce(part []float64) []float64 {
	out := make([]float64, e.n)
	for a := range out {
		x, k := a/e.r, a%e.r
		var s float64
		for y := range e.t {
			s += part[(x*e.t+y)*e.r+k]
		}
		out[a] = s
	}
	return out
}

// sweep runs f on every upper tile pair in parallel. When gemm is set the
// similarity tile U_P·U_Qᵀ is computed into W[P][Q] first.
func (e *tileEngine) sweep(gemm bool, f func(t *tileTask)) {
	type pair struct{ i, j int }
	tasks := make([]pair, 0, e.t*(e.t+1)/2)
	for i := range e.t {
		for j := i; j < e.t; j++ {
			tasks = append(tasks, pair{i, j})
		}
	}
	n := e.n
	tt := make([]tileTask, e.workers)
	for w := range tt {
		sc, _ := scratchPool.Get().(*scratch)
		if sc == nil {
			sc = new(scratch)
		}
		tt[w] = tileTask{worker: w, sc: sc}
	}
	par.Each(e.workers, len(tasks), func(w, i int) {
		t := &tt[w]
		p := tasks[i]
		t.ti, t.tj, t.diag = p.i, p.j, p.i == p.j
		t.p0, t.p1 = p.i*e.r, min(n, (p.i+1)*e.r)
		t.q0, t.q1 = p.j*e.r, min(n, (p.j+1)*e.r)
		if gemm {
			if h := t.p0 + diagSplit; t.diag && t.p1 > h {
				// Skip the block below the diagonal: rows above h to the
				// end, rows from h from column h on.
				e.gemmBlock(t.p0, h, t.q0, t.q1)
				e.gemmBlock(h, t.p1, h, t.q1)
			} else {
				e.gemmBlock(t.p0, t.p1, t.q0, t.q1)
			}
		}
		f(t)
	})
	for w := range tt {
		scratchPool.Put(tt[w].sc)
	}
}

// diagSplit is where a diagonal tile's similarity GEMM is split in two, so
// that the block below the diagonal (rows from diagSplit, columns before
// it) is not computed: a quarter of the tile.
const diagSplit = 128

// gemmBlock sets W[p0:p1, q0:q1] to the similarities U[p0:p1]·U[q0:q1]ᵀ,
// single-threaded.
func (e *tileEngine) gemmBlock(p0, p1, q0, q1 int) {
	n := e.n
	c := blas32.General{Rows: p1 - p0, Cols: q1 - q0, Stride: n, Data: e.w[p0*n+q0 : (p1-1)*n+q1]}
	linalg.GemmSerial(blas.NoTrans, blas.Trans, 1, linalg.Slice(e.u, p0, p1), linalg.Slice(e.u, q0, q1), 0, c)
}

// scratchPool recycles the sweeps' per-worker scratch (the triplet
// kernel's sub-block buffers are 256 KiB) between evaluations. Kernels
// write every scratch entry before reading it.
var scratchPool sync.Pool

// sim returns the similarity s_aj (a ≠ j) left in W by the first sweep's
// GEMMs: the entry above the diagonal, W[min][max], holds it.
func (e *tileEngine) sim(a, j int) float64 {
	if a > j {
		a, j = j, a
	}
	return float64(e.w[a*e.n+j])
}

// run evaluates kernel k and returns the loss value. When emit is not
// nil it also computes ∂L/∂U (scaled by 1/count, diagonal terms
// included) and hands it to emit row by row (emit(i, g): g is row i,
// float64, D entries, valid only during the call), from parallel
// goroutines, each row once.
func (e *tileEngine) run(k tileKernel, emit func(i int, g []float64)) float64 {
	k.prepare(e)
	np := k.passes()
	for pass := range np {
		e.sweep(pass == 0, func(t *tileTask) { k.tile(e, pass, t) })
		if pass < np-1 {
			k.between(e, pass)
		}
	}
	sum, cnt, hrow := k.finish(e)
	n, dim := e.n, e.dim
	if cnt == 0 {
		if emit != nil {
			parallelRange(n, func(i0, i1 int) {
				g := make([]float64, dim)
				for i := i0; i < i1; i++ {
					emit(i, g)
				}
			})
		}
		return 0
	}
	value := sum / cnt
	if emit == nil {
		return value
	}
	scale := 1 / cnt
	if sp, ok := k.(sparseKernel); ok && sp.sparse() {
		gu := sp.gradient(e, scale)
		parallelRange(n, func(i0, i1 int) {
			for i := i0; i < i1; i++ {
				emit(i, gu[i*dim:(i+1)*dim])
			}
		})
		return value
	}
	for a := range n {
		e.w[a*n+a] = 0
	}
	// Only the upper triangle of W holds coefficients: W is symmetric.
	wm := blas32.General{Rows: n, Cols: n, Stride: n, Data: e.w[:n*n]}
	g := blas32.General{Rows: n, Cols: dim, Stride: dim, Data: getFrom(&matPool, n*dim)}
	defer putMat(g.Data)
	// Each panel of G's rows is emitted as soon as it is final, by the
	// goroutine that computed it.
	linalg.SymmUpperRows(g, wm, e.u, func(i0, i1 int) {
		gr := make([]float64, dim)
		for i := i0; i < i1; i++ {
			src := g.Data[i*dim : (i+1)*dim]
			if hrow != nil && hrow[i] != 0 {
				f := 2 * hrow[i]
				ur := linalg.Row(e.u, i)
				for c := range gr {
					gr[c] = (float64(src[c]) + f*float64(ur[c])) * scale
				}
			} else {
				for c := range gr {
					gr[c] = float64(src[c]) * scale
				}
			}
			emit(i, gr)
		}
	})
	return value
}

// workingRows returns the working rows in class order: row i is row
// perm[i] of x, L2-normalized when normalize is set (then norms holds the
// raw rows' norms), and their squared norms (sums in four partial sums:
// the bits can differ from prep32's in the last place). The matrix comes from the block pool: return
// it with putMat.
func workingRows(x blas32.General, perm []int, normalize bool) (u blas32.General, norms, sq []float64) {
	n, d := x.Rows, x.Cols
	u = blas32.General{Rows: n, Cols: d, Stride: d, Data: getFrom(&matPool, n*d)}
	sq = make([]float64, n)
	if normalize {
		norms = make([]float64, n)
	}
	parallelRange(n, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			xr, ur := linalg.Row(x, perm[i]), u.Data[i*d:(i+1)*d]
			if normalize {
				nv := math.Sqrt(sumSq32(xr))
				norms[i] = nv
				if nv == 0 {
					clear(ur)
				} else {
					inv := 1 / nv
					for k, v := range xr {
						ur[k] = float32(float64(v) * inv)
					}
				}
			} else {
				copy(ur, xr)
			}
			sq[i] = sumSq32(ur)
		}
	})
	return u, norms, sq
}

// sumSq32 returns Σ v² in float64, in four interleaved partial sums (a
// fixed order, four times shorter dependency chains than one sum).
func sumSq32(v []float32) float64 {
	var s0, s1, s2, s3 float64
	j := 0
	for ; j+4 <= len(v); j += 4 {
		w := v[j : j+4 : j+4]
		a, b, c, d := float64(w[0]), float64(w[1]), float64(w[2]), float64(w[3])
		s0 += a * a
		s1 += b * b
		s2 += c * c
		s3 += d * d
	}
	for ; j < len(v); j++ {
		a := float64(v[j])
		s0 += a * a
	}
	return (s0 + s1) + (s2 + s3)
}

// dot32 returns Σ u[k]·g[k] (len(g) ≥ len(u)) like sumSq32.
func dot32(u []float32, g []float64) float64 {
	g = g[:len(u)]
	var s0, s1, s2, s3 float64
	j := 0
	for ; j+4 <= len(u); j += 4 {
		w, h := u[j:j+4:j+4], g[j:j+4:j+4]
		s0 += float64(w[0]) * h[0]
		s1 += float64(w[1]) * h[1]
		s2 += float64(w[2]) * h[2]
		s3 += float64(w[3]) * h[3]
	}
	for ; j < len(u); j++ {
		s0 += float64(u[j]) * g[j]
	}
	return (s0 + s1) + (s2 + s3)
}

// putMat returns an N×D matrix's storage to matPool.
func putMat(d []float32) {
	if d != nil {
		matPool.Put(&d)
	}
}

// evalTiles32 evaluates a tile kernel on a labelled float32 batch (labels
// in the caller's order; tileFits(x.Rows) must hold) and writes ∂L/∂X to
// grad when grad.Data != nil. mk builds the kernel from the context.
func evalTiles32(x blas32.General, labels []int, normalize bool, mk func(*pairCtx) tileKernel, grad blas32.General) float64 {
	return evalTiles32Cached(x, labels, normalize, mk, grad, nil)
}

// evalTiles32Cached is evalTiles32 keeping the N×N buffer in cache.
func evalTiles32Cached(x blas32.General, labels []int, normalize bool, mk func(*pairCtx) tileKernel, grad blas32.General, cache *tileCache) float64 {
	wantGrad := grad.Data != nil
	if wantGrad && (grad.Rows != x.Rows || grad.Cols != x.Cols) {
		panic("losses: gradient shape does not match X")
	}
	if x.Rows == 0 {
		return 0
	}
	ctx := newPairCtx(x.Rows, labels, 0, normalize)
	u, norms, sq := workingRows(x, ctx.perm, normalize)
	defer putMat(u.Data)
	ctx.sq = sq
	ctx.f32 = true
	e := newTileEngineCached(ctx, u, cache)
	defer e.release()
	var emit func(i int, g []float64)
	if wantGrad {
		// Through the normalization (∂/∂x = (g − u(u·g))/‖x‖), into the
		// caller's row order, rounded to float32.
		emit = func(i int, g []float64) {
			dr := linalg.Row(grad, ctx.perm[i])
			if norms == nil {
				for k, v := range g {
					dr[k] = float32(v)
				}
				return
			}
			if norms[i] == 0 {
				clear(dr)
				return
			}
			ur := linalg.Row(u, i)
			dot := dot32(ur, g)
			inv := 1 / norms[i]
			for k, v := range g {
				dr[k] = float32((v - float64(ur[k])*dot) * inv)
			}
		}
	}
	return e.run(mk(ctx), emit)
}

// exp256 returns e^max(x, −700) with expSumF32's method (relative error
// below 1e-12; e^−700 stands for anything smaller, results being rounded
// to float32 anyway). It is small enough to be inlined into the tile
// kernels' loops, where a call would make Go spill the loop's registers.
func exp256(x float64) float64 {
	if !(x >= -700) {
		x = -700
	}
	return exp256In(x)
}

// exp256In is exp256 for x already known to be in [−700, 700].
func exp256In(x float64) float64 {
	y := x*(expLog2e*256) + expShifter
	r := x - (y-expShifter)*(math.Ln2/256)
	k := math.Float64bits(y) - expShifterBits // round(x·256/ln2), two's complement
	// Only bits 0–19 of k matter below, so unsigned shifts do.
	return (1 + r*(1+r*(0.5+r*(1.0/6)))) * math.Float64frombits(math.Float64bits(expTable256[k&255])+(k>>8)<<52)
}
