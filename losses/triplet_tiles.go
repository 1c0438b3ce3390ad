package losses

import (
	"cmp"
	"math"
	"slices"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
)

// maxTileClass is the largest class the triplet loss's tile form handles;
// batches with larger classes use the row-block engine (whose per-anchor
// memory is O(N) whatever the class sizes).
const maxTileClass = 256

// tripletAnchor is one anchor's sorted positive distances.
type tripletAnchor struct {
	pad  [16]float64 // sorted D_ap (row order when tripletTiles.unsorted) padded with +Inf (used when p ≤ 16)
	pre  [32]float64 // prefix sums of the sorted D_ap (p ≤ 16; 32 entries so that i&31 indexes it without a bounds check)
	p    int         // number of positives
	off  int         // offset of this anchor's entries in dp/pre/idx of tripletTiles
	doff int         // offset of this anchor's p+1 counters in the diff arrays
	// first and last are the smallest and largest D_ap (last = −Inf
	// without positives, so that no negative is ever active).
	first, last float64
}

// tripletTiles is the hinge triplet loss (mining all, easy, semihard or
// hard; either reduction) for the tile engine. prepare computes each
// class's similarity block (one small GEMM per class) and sorts each
// anchor's positives by D_ap. The single sweep then visits every pair
// of rows of different classes and places the negative's distance among
// both anchors' sorted positives (the contiguous range of positives
// forming an active mined triplet with it), adding its loss terms and
// counting, per worker, the active negatives of each sorted positive
// through difference arrays. (Semihard mining on the fast path tests
// every positive instead and needs no sorting; see unsorted.) finish
// turns the counts into the positives' coefficients.
type tripletTiles struct {
	t *Triplet
	*tripletBufs
	sum, hs []float64 // segments: loss, Σ H over negatives
	fast    bool      // every anchor has ≤ 16 positives and mining/reduction allow the fast loop
	// unsorted: semihard mining on the fast path, whose per-positive
	// counts need no order. Each anchor's positives are then in row
	// order, not sorted (pad, dp, idx, pre and tripletHot, which only
	// mining all reads; first and last are still the smallest and
	// largest D_ap).
	unsorted bool
}

// tripletBufs are tripletTiles's per-evaluation tables. They go back to
// tripletBufPool after finish, so that the next evaluation reuses them
// instead of allocating (and the runtime zeroing) about a megabyte per
// 1024 rows.
type tripletBufs struct {
	anchors []tripletAnchor
	hot     []tripletHot
	dp, pre []float64 // per anchor: sorted D_ap (p), prefix sums (p+1)
	idx     []int32   // per anchor: row of each sorted positive (p)
	diff    [][]int32 // per worker: per anchor p+1 counters
	cnt     []int64   // per worker: number of terms counted
	run     []int32   // finish: active negatives of each sorted positive
	// quads holds, for semihard mining in tileSub, the lane table of
	// anchors 4q … 4q+3 (column anchors go four at a time, from a
	// multiple of four).
	quads []laneSemi
	// blocks holds each class's similarity block U_c·U_cᵀ (row-major,
	// m×m for a class of m rows), at blockOff[first row of the class].
	blocks   []float32
	blockOff []int
}

var tripletBufPool sync.Pool

// resize returns s with length n, reusing its storage when large enough
// (the contents are then stale: callers overwrite or clear them).
func resize[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}

// sim returns the similarity of rows a and j of the same class, from the
// class blocks.
func (k *tripletTiles) sim(e *tileEngine, a, j int) float64 {
	lo, m := e.ctx.lo[a], e.ctx.hi[a]-e.ctx.lo[a]
	return float64(k.blocks[k.blockOff[lo]+(a-lo)*m+j-lo])
}

func (k *tripletTiles) passes() int { return 1 }

func (k *tripletTiles) prepare(e *tileEngine) {
	n := e.n
	b, _ := tripletBufPool.Get().(*tripletBufs)
	if b == nil {
		b = new(tripletBufs)
	}
	k.tripletBufs = b
	k.anchors = resize(k.anchors, n)
	k.hot = resize(k.hot, n)
	off, doff := 0, 0
	small := true
	for a := range n {
		p := e.ctx.hi[a] - e.ctx.lo[a] - 1
		k.anchors[a].p, k.anchors[a].off, k.anchors[a].doff = p, off, doff
		off += p
		doff += p + 1
		small = small && p <= 16
	}
	k.dp, k.idx = resize(k.dp, off), resize(k.idx, off)
	k.pre = resize(k.pre, off+n)
	k.diff = resize(k.diff, e.workers)
	for w := range k.diff {
		k.diff[w] = resize(k.diff[w], doff)
		clear(k.diff[w])
	}
	k.cnt = resize(k.cnt, e.workers)
	clear(k.cnt)
	k.sum = e.newPart()
	if e.needH() {
		k.hs = e.newPart()
	}
	k.fast = small && k.t.Reduction == AvgNonzero && (k.t.Mining == MineAll || k.t.Mining == MineSemihard)
	k.unsorted = k.fast && k.t.Mining == MineSemihard
	k.classes(e)
	if k.unsorted && k.t.Distance == Euclidean && k.hs == nil { // tileSub's semihard columns
		k.quads = resize(k.quads, n/4)
		semiQuads(k.quads, k.anchors, k.t.Margin)
	}
}

// classes computes every class's similarity block (one GEMM per class)
// and sorts each anchor's positives from it, class by class in parallel.
func (k *tripletTiles) classes(e *tileEngine) {
	n := e.n
	k.blockOff = resize(k.blockOff, n)
	var los []int
	size := 0
	for a := 0; a < n; a = e.ctx.hi[a] {
		m := e.ctx.hi[a] - a
		k.blockOff[a] = size
		size += m * m
		los = append(los, a)
	}
	k.blocks = resize(k.blocks, size)
	parallelRange(len(los), func(c0, c1 int) {
		var order []posDist
		for _, lo := range los[c0:c1] {
			hi := e.ctx.hi[lo]
			if m := hi - lo; m >= 2 {
				ub := linalg.Slice(e.u, lo, hi)
				dst := blas32.General{Rows: m, Cols: m, Stride: m, Data: k.blocks[k.blockOff[lo] : k.blockOff[lo]+m*m]}
				linalg.GemmSerial(blas.NoTrans, blas.Trans, 1, ub, ub, 0, dst)
			}
			for a := lo; a < hi; a++ {
				order = k.sortPositives(e, a, order)
			}
		}
	})
}

// posDist is a positive's distance and row.
type posDist struct {
	d float64
	j int32
}

func (k *tripletTiles) between(*tileEngine, int) {}

// sortPositives builds anchor a's sorted positives from its class block
// (order is scratch; it returns it for reuse).
func (k *tripletTiles) sortPositives(e *tileEngine, a int, order []posDist) []posDist {
	dk, sq := k.t.Distance, e.ctx.sq
	an := &k.anchors[a]
	lo, hi := e.ctx.lo[a], e.ctx.hi[a]
	dp, idx := k.dp[an.off:an.off+an.p], k.idx[an.off:an.off+an.p]
	order = order[:0]
	for j := lo; j < hi; j++ {
		if j != a {
			order = append(order, posDist{pairDist(dk, sq[a], sq[j], k.sim(e, a, j)), int32(j)})
		}
	}
	// Sort by distance, ties by row (as the row-block engine does):
	// order is built in row order, so a stable sort by distance does it.
	// Up to 16 positives, each one's rank is counted without branches
	// (#{earlier ≤ it} + #{later < it}); insertion sort up to 32.
	//
	// Semihard mining on the fast path needs no order (it counts per
	// positive, see semi4): there the positives stay in row order.
	switch {
	case k.unsorted: // row order
	case len(order) <= 16 && rankSort(order, dp, idx):
		order = order[:0] // sorted straight into dp and idx
		for i := range an.p {
			order = append(order, posDist{dp[i], idx[i]})
		}
	case len(order) <= 32:
		for i := 1; i < len(order); i++ {
			v := order[i]
			j := i
			for j > 0 && order[j-1].d > v.d {
				order[j] = order[j-1]
				j--
			}
			order[j] = v
		}
	default:
		slices.SortStableFunc(order, func(x, y posDist) int { return cmp.Compare(x.d, y.d) })
	}
	pre := k.pre[an.off+a : an.off+a+an.p+1]
	pre[0] = 0
	for i, o := range order {
		dp[i], idx[i] = o.d, o.j
		pre[i+1] = pre[i] + o.d
	}
	an.first, an.last = math.Inf(1), math.Inf(-1)
	for i := range an.pad {
		an.pad[i] = math.Inf(1)
	}
	if an.p > 0 {
		an.first, an.last = slices.Min(dp), slices.Max(dp)
	}
	if an.p <= 16 {
		copy(an.pad[:], dp)
		copy(an.pre[:], pre)
	}
	h := &k.hot[a]
	h.first, h.last, h.sum, h.pf = an.first, an.last, pre[an.p], float64(an.p)
	h.second, h.pre1 = math.Inf(1), 0
	if an.p > 0 {
		h.pre1 = dp[0]
	}
	if an.p > 1 {
		h.second = dp[1]
	}
	return order
}

// rankSort writes order sorted by distance, ties in order, into dp and
// idx, by counting each element's rank: #{j < i: d_j ≤ d_i} + #{j > i:
// d_j < d_i}. It reports false, leaving a partial result, when the ranks
// are not a permutation (a NaN distance compares false both ways).
func rankSort(order []posDist, dp []float64, idx []int32) bool {
	var ds [16]float64
	m := len(order)
	for i, o := range order[:m] {
		ds[i] = o.d
	}
	var seen uint32
	for i := range m {
		di, r := ds[i], 0
		for j := range i {
			r += b2i(ds[j] <= di)
		}
		for j := i + 1; j < m; j++ {
			r += b2i(ds[j] < di)
		}
		r &= 15
		seen |= 1 << r
		dp[r], idx[r] = di, order[i].j
	}
	return seen == 1<<m-1
}

// pairDist is the distance dk between rows with squared norms sqa, sqj
// and similarity s (0 for Euclidean distances of identical rows).
func pairDist(dk Distance, sqa, sqj, s float64) float64 {
	switch dk {
	case Cosine:
		return 1 - s
	case SquaredEuclidean:
		return max(0, sqa+sqj-2*s)
	}
	return math.Sqrt(max(0, sqa+sqj-2*s))
}

// distCoef returns the coefficient W gets, and the H term, for a
// derivative g of the loss with respect to the distance dv.
func distCoef(dk Distance, g, dv float64) (w, h float64) {
	switch dk {
	case Cosine:
		return -g, 0
	case SquaredEuclidean:
		return -2 * g, g
	}
	if dv > 0 {
		h = g / (2 * dv)
	}
	return -2 * h, h
}

// side evaluates negative distance dn against anchor an's positives: the
// loss sum and the number of terms counted, and the number of active
// triplets (the negative's coefficient is minus that). It updates the
// anchor's difference counters diff (p+1 entries).
func (k *tripletTiles) side(an *tripletAnchor, dp, pre []float64, dn float64, diff []int32) (sum float64, cnt, na int) {
	t := k.t
	P := an.p
	if P == 0 {
		return 0, 0, 0
	}
	mean := t.Reduction == Mean
	x := dn - t.Margin
	if !mean && !(x < an.last) {
		return 0, 0, 0
	}
	var mlo, mhi, alo int
	switch t.Mining {
	case MineAll:
		mlo, mhi, alo = 0, P, upperBound(dp, x)
	case MineEasy:
		if mean {
			cnt = lowerBound(dp, x)
		}
		return 0, cnt, 0
	case MineSemihard:
		mhi, alo = lowerBound(dp, dn), upperBound(dp, x)
		if mean {
			mlo = lowerBound(dp, x)
		}
	case MineHard:
		mlo, mhi = lowerBound(dp, dn), P
		alo = max(mlo, upperBound(dp, x))
	}
	if mean && mhi > mlo {
		cnt = mhi - mlo
	}
	if mhi <= alo {
		return 0, cnt, 0
	}
	na = mhi - alo
	if !mean {
		cnt = na
	}
	diff[alo]++
	diff[mhi]--
	return pre[mhi] - pre[alo] + float64(na)*(t.Margin-dn), cnt, na
}

func (k *tripletTiles) tile(e *tileEngine, _ int, t *tileTask) {
	if k.fast {
		k.tileFast(e, t)
		return
	}
	n, w, sq, cls := e.n, e.w, e.ctx.sq, e.ctx.hi
	dk := k.t.Distance
	diff := k.diff[t.worker]
	sumR, sumC := e.slot(k.sum, t.ti, t.tj), e.slot(k.sum, t.tj, t.ti)
	var hR, hC []float64
	if k.hs != nil {
		hR, hC = e.slot(k.hs, t.ti, t.tj), e.slot(k.hs, t.tj, t.ti)
	}
	var cnt int
	for r := range t.p1 - t.p0 {
		a := t.p0 + r
		A := &k.anchors[a]
		dpA, preA := k.dp[A.off:A.off+A.p], k.pre[A.off+a:A.off+a+A.p+1]
		diffA := diff[A.doff : A.doff+A.p+1]
		c0 := 0
		if t.diag {
			c0 = r + 1
		}
		row := w[a*n+t.q0 : a*n+t.q1]
		var rs, rh float64
		for c := c0; c < len(row); c++ {
			j := t.q0 + c
			if cls[j] == cls[a] {
				continue // a positive pair: finish writes its coefficient
			}
			dn := pairDist(dk, sq[a], sq[j], float64(row[c]))
			J := &k.anchors[j]
			s1, c1, n1 := k.side(A, dpA, preA, dn, diffA)
			s2, c2, n2 := k.side(J, k.dp[J.off:J.off+J.p], k.pre[J.off+j:J.off+j+J.p+1], dn, diff[J.doff:J.doff+J.p+1])
			rs += s1
			sumC[c] += s2
			cnt += c1 + c2
			wv, h := distCoef(dk, -float64(n1+n2), dn)
			v := float32(wv)
			row[c] = v
			if hC != nil {
				rh += h
				hC[c] += h
			}
		}
		sumR[r] += rs
		if hR != nil {
			hR[r] += rh
		}
	}
	k.cnt[t.worker] += int64(cnt)
}

// tileFast is tile for anchors with at most 16 positives, mining all or
// semihard and reduction avg_nonzero. Each tile row is done in short
// loops, each its own function (distances; anchor a's side; the column
// anchors' sides; the coefficients): one loop holding everything kept its
// counter and sums in stack slots, every iteration waiting on a store and
// a reload.
func (k *tripletTiles) tileFast(e *tileEngine, t *tileTask) {
	if k.t.Distance == Euclidean && k.hs == nil {
		k.tileSub(e, t) // the default: see triplet_sub.go
		return
	}
	n, w, sq, cls := e.n, e.w, e.ctx.sq, e.ctx.hi
	dk, margin, semi := k.t.Distance, k.t.Margin, k.t.Mining == MineSemihard
	diff := k.diff[t.worker]
	sumR, sumC := e.slot(k.sum, t.ti, t.tj), e.slot(k.sum, t.tj, t.ti)
	var hR, hC []float64
	if k.hs != nil {
		hR, hC = e.slot(k.hs, t.ti, t.tj), e.slot(k.hs, t.tj, t.ti)
	}
	cols, hot := k.anchors[t.q0:t.q1], k.hot[t.q0:t.q1]
	sqQ, clsQ := sq[t.q0:t.q1], cls[t.q0:t.q1]
	nc := t.q1 - t.q0
	t.sc.d = grow(t.sc.d, nc)
	t.sc.cnt = grow(t.sc.cnt, nc)
	dbuf, nbuf := t.sc.d[:nc], t.sc.cnt[:nc]
	var colSides []sideSums
	if semi {
		if cap(t.sc.sides) < nc {
			t.sc.sides = make([]sideSums, nc)
		}
		colSides = t.sc.sides[:nc]
		clear(colSides)
	}
	var cnt float64
	for r := range t.p1 - t.p0 {
		a := t.p0 + r
		c0 := 0
		if t.diag {
			c0 = r + 1
		}
		row := w[a*n+t.q0 : a*n+t.q1]
		A := &k.anchors[a]
		diffA := diff[A.doff : A.doff+A.p+1]
		d, nb := dbuf[c0:], nbuf[c0:]
		tileDists(dk, sq[a], cls[a], sqQ[c0:], clsQ[c0:], row[c0:], d)
		var rs float64
		if semi {
			var rowSide sideSums
			clear(nb)
			for c, dn := range d {
				rowSide.semiOne(&A.pad, margin, dn, &nb[c])
				colSides[c0+c].semiOne(&cols[c0+c].pad, margin, dn, &nb[c])
			}
			rs = rowSide.flush(A, true, margin, diff)
		} else {
			rs = allSides(A, &k.hot[a], cols[c0:], hot[c0:], d, nb, sumC[c0:nc], margin, diffA, diff)
		}
		var rh float64
		if hC != nil {
			rh = tileCoefH(dk, d, nb, row[c0:], hC[c0:nc])
		} else {
			tileCoef(dk, d, nb, row[c0:])
		}
		for _, v := range nb {
			cnt += v
		}
		sumR[r] += rs
		if hR != nil {
			hR[r] += rh
		}
	}
	for c := range colSides {
		sumC[c] += colSides[c].flush(&cols[c], true, margin, diff)
	}
	k.cnt[t.worker] += int64(cnt)
}

// tileDists sets d[c] to the distance between the anchor (squared norm
// sqa, class ca) and column c from its similarity s[c], or to +Inf when
// column c is of the anchor's class (a positive pair: no negative term).
func tileDists(dk Distance, sqa float64, ca int, sqQ []float64, clsQ []int, s []float32, d []float64) {
	d = d[:len(s)]
	sqQ = sqQ[:len(s)]
	switch dk {
	case Cosine:
		for c, v := range s {
			d[c] = 1 - float64(v)
		}
	case SquaredEuclidean:
		for c, v := range s {
			d[c] = max(0, sqa+sqQ[c]-2*float64(v))
		}
	default:
		for c, v := range s {
			d[c] = math.Sqrt(max(0, sqa+sqQ[c]-2*float64(v)))
		}
	}
	inf := math.Inf(1)
	for c, y := range clsQ[:len(s)] {
		if y == ca {
			d[c] = inf
		}
	}
}

// tileCoef overwrites s[c] with the coefficient of a pair at distance
// d[c] with nb[c] active triplets (the derivative of the loss sum with
// respect to the distance is −nb[c]); positive pairs (d = +Inf) are left.
func tileCoef(dk Distance, d, nb []float64, s []float32) {
	nb, s = nb[:len(d)], s[:len(d)]
	switch dk {
	case Cosine:
		for c, dn := range d {
			if dn <= math.MaxFloat64 {
				s[c] = float32(nb[c])
			}
		}
	case SquaredEuclidean:
		for c, dn := range d {
			if dn <= math.MaxFloat64 {
				s[c] = float32(2 * nb[c])
			}
		}
	default:
		for c, dn := range d {
			if dn <= math.MaxFloat64 {
				var v float64
				if dn > 0 {
					v = nb[c] / dn
				}
				s[c] = float32(v)
			}
		}
	}
}

// tileCoefH is tileCoef that also adds each pair's H term to hC[c] and
// returns their sum (for unnormalized rows).
func tileCoefH(dk Distance, d, nb []float64, s []float32, hC []float64) float64 {
	var rh float64
	nb, s, hC = nb[:len(d)], s[:len(d)], hC[:len(d)]
	for c, dn := range d {
		if dn <= math.MaxFloat64 {
			wv, h := distCoef(dk, -nb[c], dn)
			s[c] = float32(wv)
			rh += h
			hC[c] += h
		}
	}
	return rh
}

// tripletHot is the part of an anchor's positives read for every
// negative, kept small so that a tile's column anchors stay in cache.
type tripletHot struct {
	first, last float64 // smallest and largest D_ap (+Inf and −Inf without positives)
	second      float64 // second smallest D_ap (+Inf with fewer than 2 positives)
	pre1        float64 // smallest D_ap (0 without positives: the prefix sum pre[1])
	sum         float64 // Σ D_ap
	pf          float64 // number of positives, as a float
}

// allSides evaluates mining "all" from both ends for the negative
// distances d of one tile row: anchor A (hot H) at the row, anchor
// cols[c] (hot[c]) at column c. Negative c forms an active triplet with
// an anchor's sorted positives from alo = #{D_ap ≤ d[c] − margin} on;
// usually alo = 0 (every positive is active), which costs a comparison
// and two additions: the loss sum of those terms is
// Σ(sum + P·margin) − P·Σ d[c], gathered per anchor. nb[c] gets the total
// active count, the column anchors' loss sums go to sum[c], the row
// anchor's is returned; diffA and diff (at each anchor's offset) count
// the active negatives of each sorted positive.
func allSides(A *tripletAnchor, H *tripletHot, cols []tripletAnchor, hot []tripletHot, d, nb, sum []float64, margin float64, diffA, diff []int32) float64 {
	firstA, lastA, PA := H.first, H.last, H.pf
	var rowCnt, rowD, rs float64
	cols, hot, nb, sum = cols[:len(d)], hot[:len(d)], nb[:len(d)], sum[:len(d)]
	for c, dn := range d {
		x := dn - margin
		var na float64
		if x < firstA {
			na = PA
			rowCnt++
			rowD += dn
		} else if x < lastA {
			m, alo := rareAll(&A.pad, A.p, x)
			na = float64(m)
			rs += A.pre[A.p] - A.pre[alo] + na*(margin-dn)
			diffA[alo]++
		}
		J := &hot[c]
		if x < J.first {
			na += J.pf
			sum[c] += J.sum + J.pf*(margin-dn)
			diff[cols[c].doff]++
		} else if x < J.last {
			C := &cols[c]
			m, alo := rareAll(&C.pad, C.p, x)
			fm := float64(m)
			na += fm
			sum[c] += C.pre[C.p] - C.pre[alo] + fm*(margin-dn)
			diff[C.doff+alo]++
		}
		nb[c] = na
	}
	if len(diffA) > 0 {
		diffA[0] += int32(rowCnt)
	}
	return rs + rowCnt*(H.sum+PA*margin) - PA*rowD
}

// rareAll returns, for D_ap,min ≤ x < D_ap,max, alo = #{D_ap ≤ x} and the
// number of active positives P − alo.
//
//go:noinline
func rareAll(pad *[16]float64, P int, x float64) (m, alo int) {
	alo = 1
	for alo < 16 && pad[alo] <= x {
		alo++
	}
	return P - alo, alo
}

// finish turns the difference counters into each positive pair's
// coefficient (the active triplets it is the positive of, from both ends)
// and writes those pairs' entries of W.
func (k *tripletTiles) finish(e *tileEngine) (sum, count float64, hrow []float64) {
	n, dk := e.n, k.t.Distance
	for _, v := range e.reduce(k.sum) {
		sum += v
	}
	var cnt int64
	for _, c := range k.cnt {
		cnt += c
	}
	// run[a's offset + i]: active negatives of a's i-th sorted positive,
	// filled class by class below.
	k.run = resize(k.run, len(k.dp))
	run := k.run
	var posH []float64
	if k.hs != nil {
		posH = make([]float64, n)
	}
	// Per class: coef[a][p] = run of p in a's list + run of a in p's list.
	type class struct{ lo, hi int }
	var classes []class
	for a := 0; a < n; a = e.ctx.hi[a] {
		classes = append(classes, class{e.ctx.lo[a], e.ctx.hi[a]})
	}
	w, sq := e.w, e.ctx.sq
	parallelRange(len(classes), func(c0, c1 int) {
		var coef []float64
		for _, cl := range classes[c0:c1] {
			m := cl.hi - cl.lo
			if m < 2 {
				continue
			}
			coef = grow(coef, m*m)
			clear(coef)
			for a := cl.lo; a < cl.hi; a++ {
				an := &k.anchors[a]
				var acc int32
				for i := range an.p {
					for _, d := range k.diff {
						acc += d[an.doff+i]
					}
					run[an.off+i] = acc
				}
				for i := range an.p {
					coef[(a-cl.lo)*m+int(k.idx[an.off+i])-cl.lo] = float64(run[an.off+i])
				}
			}
			for a := cl.lo; a < cl.hi; a++ {
				for p := a + 1; p < cl.hi; p++ {
					g := coef[(a-cl.lo)*m+p-cl.lo] + coef[(p-cl.lo)*m+a-cl.lo]
					var v float32
					if g != 0 {
						dv := pairDist(dk, sq[a], sq[p], k.sim(e, a, p))
						wv, h := distCoef(dk, g, dv)
						v = float32(wv)
						if posH != nil {
							posH[a] += h
							posH[p] += h
						}
					}
					w[a*n+p] = v // (the upper triangle is all SymmUpper reads)
				}
			}
		}
	})
	if k.hs != nil {
		hrow = e.reduce(k.hs)
		for a := range hrow {
			hrow[a] += posH[a]
		}
	}
	tripletBufPool.Put(k.tripletBufs)
	k.tripletBufs = nil
	return sum, float64(cnt), hrow
}
