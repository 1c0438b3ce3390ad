package losses

import (
	"math"
	"slices"
)

// maxTileClass is the largest class the triplet loss's tile form handles;
// batches with larger classes use the row-block engine (whose per-anchor
// memory is O(N) whatever the class sizes).
const maxTileClass = 256

// tripletAnchor is one anchor's sorted positive distances.
type tripletAnchor struct {
	pad  [16]float64 // sorted D_ap padded with +Inf (used when p ≤ 16)
	pre  [17]float64 // prefix sums of the sorted D_ap (p ≤ 16)
	p    int         // number of positives
	off  int         // offset of this anchor's entries in dp/pre/idx of tripletTiles
	doff int         // offset of this anchor's p+1 counters in the diff arrays
	// first and last are the smallest and largest D_ap (last = −Inf
	// without positives, so that no negative is ever active).
	first, last float64
}

// tripletTiles is the hinge triplet loss (mining all, easy, semihard or
// hard; either reduction) for the tile engine. The first sweep only
// computes the similarity tiles; between the sweeps each anchor's
// positives are sorted by D_ap (from the class blocks of W). The second
// sweep visits every pair of rows of different classes and places the
// negative's distance among both anchors' sorted positives (the
// contiguous range of positives forming an active mined triplet with
// it), adding its loss terms and counting, per worker, the active
// negatives of each sorted positive through difference arrays. finish
// turns the counts into the positives' coefficients.
type tripletTiles struct {
	t       *Triplet
	anchors []tripletAnchor
	dp, pre []float64 // per anchor: sorted D_ap (p), prefix sums (p+1)
	idx     []int32   // per anchor: row of each sorted positive (p)
	diff    [][]int32 // per worker: per anchor p+1 counters
	cnt     []int64   // per worker: number of terms counted
	sum, hs []float64 // segments: loss, Σ H over negatives
	fast    bool      // every anchor has ≤ 16 positives and mining/reduction allow the fast loop
}

func (k *tripletTiles) passes() int { return 2 }

func (k *tripletTiles) prepare(e *tileEngine) {
	n := e.n
	k.anchors = make([]tripletAnchor, n)
	off, doff := 0, 0
	small := true
	for a := range n {
		p := e.ctx.hi[a] - e.ctx.lo[a] - 1
		k.anchors[a].p, k.anchors[a].off, k.anchors[a].doff = p, off, doff
		off += p
		doff += p + 1
		small = small && p <= 16
	}
	k.dp, k.idx = make([]float64, off), make([]int32, off)
	k.pre = make([]float64, off+n)
	k.diff = make([][]int32, e.workers)
	for w := range k.diff {
		k.diff[w] = make([]int32, doff)
	}
	k.cnt = make([]int64, e.workers)
	k.sum = e.newPart()
	if e.needH() {
		k.hs = e.newPart()
	}
	k.fast = small && k.t.Reduction == AvgNonzero && (k.t.Mining == MineAll || k.t.Mining == MineSemihard)
}

// between builds the anchors' sorted positives from the similarity tiles.
func (k *tripletTiles) between(e *tileEngine, _ int) {
	dk, sq := k.t.Distance, e.ctx.sq
	parallelRange(e.n, func(a0, a1 int) {
		var order []int32
		for a := a0; a < a1; a++ {
			an := &k.anchors[a]
			lo, hi := e.ctx.lo[a], e.ctx.hi[a]
			dp, idx := k.dp[an.off:an.off+an.p], k.idx[an.off:an.off+an.p]
			order = order[:0]
			for j := lo; j < hi; j++ {
				if j != a {
					order = append(order, int32(j))
				}
			}
			dist := func(j int32) float64 { return pairDist(dk, sq[a], sq[j], e.sim(a, int(j))) }
			for i, j := range order {
				dp[i] = dist(j)
			}
			// Sort by distance, ties by row (as the row-block engine does).
			slices.SortFunc(order, func(i, j int32) int {
				di, dj := dist(i), dist(j)
				if di < dj {
					return -1
				} else if di > dj {
					return 1
				}
				return int(i - j)
			})
			copy(idx, order)
			pre := k.pre[an.off+a : an.off+a+an.p+1]
			pre[0] = 0
			for i, j := range order {
				dp[i] = dist(j)
				pre[i+1] = pre[i] + dp[i]
			}
			an.last = math.Inf(-1)
			for i := range an.pad {
				an.pad[i] = math.Inf(1)
			}
			if an.p > 0 {
				an.first, an.last = dp[0], dp[an.p-1]
			}
			if an.p <= 16 {
				copy(an.pad[:], dp)
				copy(an.pre[:], pre)
			}
		}
	})
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

func (k *tripletTiles) tile(e *tileEngine, pass int, t *tileTask) {
	if pass == 0 {
		return // the similarity tiles only
	}
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
// loops (distances; anchor a's side; the column anchors' sides; the
// coefficients), each its own function: one loop holding everything kept
// its counter and sums in stack slots, every iteration waiting on a store
// and a reload.
func (k *tripletTiles) tileFast(e *tileEngine, t *tileTask) {
	n, w, sq, cls := e.n, e.w, e.ctx.sq, e.ctx.hi
	dk, margin, semi := k.t.Distance, k.t.Margin, k.t.Mining == MineSemihard
	diff := k.diff[t.worker]
	sumR, sumC := e.slot(k.sum, t.ti, t.tj), e.slot(k.sum, t.tj, t.ti)
	var hR, hC []float64
	if k.hs != nil {
		hR, hC = e.slot(k.hs, t.ti, t.tj), e.slot(k.hs, t.tj, t.ti)
	}
	cols := k.anchors[t.q0:t.q1]
	sqQ, clsQ := sq[t.q0:t.q1], cls[t.q0:t.q1]
	nc := t.q1 - t.q0
	t.sc.d = grow(t.sc.d, nc)
	t.sc.cnt = grow(t.sc.cnt, nc)
	dbuf, nbuf := t.sc.d[:nc], t.sc.cnt[:nc]
	var cnt int
	for r := range t.p1 - t.p0 {
		a := t.p0 + r
		A := &k.anchors[a]
		c0 := 0
		if t.diag {
			c0 = r + 1
		}
		row := w[a*n+t.q0 : a*n+t.q1]
		tileDists(dk, sq[a], cls[a], sqQ[c0:], clsQ[c0:], row[c0:], dbuf[c0:])
		clear(nbuf[c0:])
		diffA := diff[A.doff : A.doff+A.p+1]
		var rs float64
		if semi {
			rs = semiRow(A, dbuf[c0:], nbuf[c0:], margin, diffA)
			semiCols(cols[c0:], dbuf[c0:], nbuf[c0:], sumC[c0:nc], margin, diff)
		} else {
			rs = allRow(A, dbuf[c0:], nbuf[c0:], margin, diffA)
			allCols(cols[c0:], dbuf[c0:], nbuf[c0:], sumC[c0:nc], margin, diff)
		}
		var rh float64
		for c := c0; c < nc; c++ {
			dn, na := dbuf[c], nbuf[c]
			if math.IsInf(dn, 1) {
				continue // a positive pair: finish writes its coefficient
			}
			var v float32
			if na != 0 {
				cnt += int(na)
				wv, h := distCoef(dk, -na, dn)
				v = float32(wv)
				if hC != nil {
					rh += h
					hC[c] += h
				}
			}
			row[c] = v
		}
		sumR[r] += rs
		if hR != nil {
			hR[r] += rh
		}
	}
	k.cnt[t.worker] += int64(cnt)
}

// tileDists sets d[c] to the distance between the anchor (squared norm
// sqa, class ca) and column c from its similarity s[c], or to +Inf when
// column c is of the anchor's class (a positive pair: no negative term).
func tileDists(dk Distance, sqa float64, ca int, sqQ []float64, clsQ []int, s []float32, d []float64) {
	inf := math.Inf(1)
	d = d[:len(s)]
	sqQ, clsQ = sqQ[:len(s)], clsQ[:len(s)]
	for c := range s {
		d[c] = pairDist(dk, sqa, sqQ[c], float64(s[c]))
		if clsQ[c] == ca {
			d[c] = inf
		}
	}
}

// allRow adds anchor A's side of mining "all" for the negative distances
// d: negative c forms an active triplet with the sorted positives from
// alo = #{D_ap ≤ d[c] − margin} on. It adds their number to nb[c] and
// counts them in diff, and returns their loss sum.
func allRow(A *tripletAnchor, d, nb []float64, margin float64, diff []int32) float64 {
	pa, pre, P, last := &A.pad, &A.pre, A.p, A.last
	var rs float64
	var zero int32
	nb = nb[:len(d)]
	for c, dn := range d {
		x := dn - margin
		if !(x < last) {
			continue
		}
		alo := 0
		for alo < 16 && pa[alo] <= x {
			alo++ // rarely runs: x is usually below every D_ap
		}
		m := P - alo
		nb[c] += float64(m)
		rs += pre[P] - pre[alo&15] + float64(m)*(margin-dn)
		if alo == 0 {
			zero++ // kept in a register: diff[0]++ would chain through memory
		} else {
			diff[alo]++
		}
	}
	if len(diff) > 0 {
		diff[0] += zero
	}
	return rs
}

// allCols is allRow for the column anchors: column c's anchor is cols[c],
// its loss sum goes to sum[c] and its counters to diff at its offset.
func allCols(cols []tripletAnchor, d, nb, sum []float64, margin float64, diff []int32) {
	cols, nb, sum = cols[:len(d)], nb[:len(d)], sum[:len(d)]
	for c, dn := range d {
		J := &cols[c]
		x := dn - margin
		if !(x < J.last) {
			continue
		}
		alo := 0
		for alo < 16 && J.pad[alo] <= x {
			alo++
		}
		m := J.p - alo
		nb[c] += float64(m)
		sum[c] += J.pre[J.p&15|J.p&16] - J.pre[alo&15] + float64(m)*(margin-dn)
		diff[J.doff+alo]++
	}
}

// semiRow is allRow for semihard mining: the active positives end at
// mhi = #{D_ap < d[c]}.
func semiRow(A *tripletAnchor, d, nb []float64, margin float64, diff []int32) float64 {
	pa, pre, first, last := &A.pad, &A.pre, A.first, A.last
	var rs float64
	nb = nb[:len(d)]
	for c, dn := range d {
		x := dn - margin
		if !(x < last) || !(dn > first) {
			continue
		}
		alo := 0
		for alo < 16 && pa[alo] <= x {
			alo++
		}
		mhi := countLT16(pa, dn)
		if m := mhi - alo; m > 0 {
			nb[c] += float64(m)
			rs += pre[mhi&15|mhi&16] - pre[alo&15] + float64(m)*(margin-dn)
			diff[alo]++
			diff[mhi]--
		}
	}
	return rs
}

// semiCols is semiRow for the column anchors (see allCols).
func semiCols(cols []tripletAnchor, d, nb, sum []float64, margin float64, diff []int32) {
	cols, nb, sum = cols[:len(d)], nb[:len(d)], sum[:len(d)]
	for c, dn := range d {
		J := &cols[c]
		x := dn - margin
		if !(x < J.last) || !(dn > J.first) {
			continue
		}
		alo := 0
		for alo < 16 && J.pad[alo] <= x {
			alo++
		}
		mhi := countLT16(&J.pad, dn)
		if m := mhi - alo; m > 0 {
			nb[c] += float64(m)
			sum[c] += J.pre[mhi&15|mhi&16] - J.pre[alo&15] + float64(m)*(margin-dn)
			diff[J.doff+alo]++
			diff[J.doff+mhi]--
		}
	}
}

// countLT16 returns how many of the 16 entries of p are < x (see countLE16).
func countLT16(p *[16]float64, x float64) int {
	c0 := b2i(p[0] < x) + b2i(p[1] < x) + b2i(p[2] < x) + b2i(p[3] < x)
	c1 := b2i(p[4] < x) + b2i(p[5] < x) + b2i(p[6] < x) + b2i(p[7] < x)
	c2 := b2i(p[8] < x) + b2i(p[9] < x) + b2i(p[10] < x) + b2i(p[11] < x)
	c3 := b2i(p[12] < x) + b2i(p[13] < x) + b2i(p[14] < x) + b2i(p[15] < x)
	return (c0 + c1) + (c2 + c3)
}

// rankLE16 returns how many entries of the sorted p are ≤ x, by a
// binary search without branches (Go compiles a float comparison in an
// if to a branch, which mispredicts half the time here): geMask(x, v) is
// all ones when x ≥ v, from the sign bit of x − v. p must not hold NaN
// and x must not be NaN.
func rankLE16(p *[16]float64, x float64) int {
	i := 8 & geMask(x, p[7])
	i += 4 & geMask(x, p[i+3])
	i += 2 & geMask(x, p[(i+1)&15])
	i += 1 & geMask(x, p[i&15])
	return i
}

// rankLT16 returns how many entries of the sorted p are < x (see rankLE16).
func rankLT16(p *[16]float64, x float64) int {
	i := 8 & gtMask(x, p[7])
	i += 4 & gtMask(x, p[i+3])
	i += 2 & gtMask(x, p[(i+1)&15])
	i += 1 & gtMask(x, p[i&15])
	return i
}

// geMask returns −1 (all ones) when x ≥ v and 0 otherwise: x − v has its
// sign bit clear exactly then (equal values give +0; x − (+Inf) = −Inf).
func geMask(x, v float64) int { return int(math.Float64bits(x-v)>>63) - 1 }

// gtMask returns −1 when x > v and 0 otherwise: v − x is negative exactly then.
func gtMask(x, v float64) int { return -int(math.Float64bits(v-x) >> 63) }

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
	// run[a's offset + i]: active negatives of a's i-th sorted positive.
	run := make([]int32, len(k.dp))
	parallelRange(n, func(a0, a1 int) {
		for a := a0; a < a1; a++ {
			an := &k.anchors[a]
			var acc int32
			for i := range an.p {
				for _, d := range k.diff {
					acc += d[an.doff+i]
				}
				run[an.off+i] = acc
			}
		}
	})
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
				for i := range an.p {
					coef[(a-cl.lo)*m+int(k.idx[an.off+i])-cl.lo] = float64(run[an.off+i])
				}
			}
			for a := cl.lo; a < cl.hi; a++ {
				for p := a + 1; p < cl.hi; p++ {
					g := coef[(a-cl.lo)*m+p-cl.lo] + coef[(p-cl.lo)*m+a-cl.lo]
					var v float32
					if g != 0 {
						dv := pairDist(dk, sq[a], sq[p], e.sim(a, p))
						wv, h := distCoef(dk, g, dv)
						v = float32(wv)
						if posH != nil {
							posH[a] += h
							posH[p] += h
						}
					}
					w[a*n+p] = v
					w[p*n+a] = v
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
	return sum, float64(cnt), hrow
}
