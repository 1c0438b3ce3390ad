package losses

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// Mining selects which triplets a triplet loss averages over.
type Mining int

const (
	// MineAll uses every valid triplet (spec "all", the default).
	MineAll Mining = iota
	// MineEasy uses triplets with D_an − D_ap > margin ("easy").
	MineEasy
	// MineSemihard uses triplets with 0 < D_an − D_ap ≤ margin ("semihard").
	MineSemihard
	// MineHard uses triplets with D_an − D_ap ≤ 0 ("hard").
	MineHard
	// MineBatchHard uses, per anchor, its farthest positive and its nearest
	// negative ("batch-hard").
	MineBatchHard
)

var miningEnum = enum{"mining", []string{"all", "easy", "semihard", "hard", "batch-hard"}}

// String returns the spec name of m.
func (m Mining) String() string { return miningEnum.name("Mining", int(m)) }

// Reduction selects how per-triplet losses are averaged.
type Reduction int

const (
	// AvgNonzero averages over the triplets with ℓ > 0 ("avg_nonzero", default).
	AvgNonzero Reduction = iota
	// Mean averages over every mined triplet ("mean").
	Mean
)

var reductionEnum = enum{"reduction", []string{"avg_nonzero", "mean"}}

// String returns the spec name of r.
func (r Reduction) String() string { return reductionEnum.name("Reduction", int(r)) }

// tripletDef is the triplet loss's entry in the registry.
var tripletDef = &def[Triplet]{name: "triplet", params: []param[Triplet]{
	floatParam("margin", 0.2, anyFinite, func(t *Triplet) *float64 { return &t.Margin }),
	enumParam("distance", Euclidean, distanceEnum, func(t *Triplet) *Distance { return &t.Distance }),
	enumParam("mining", MineAll, miningEnum, func(t *Triplet) *Mining { return &t.Mining }),
	boolParam("soft", false, func(t *Triplet) *bool { return &t.Soft }),
	enumParam("reduction", AvgNonzero, reductionEnum, func(t *Triplet) *Reduction { return &t.Reduction }),
	boolParam("normalize", true, func(t *Triplet) *bool { return &t.Normalize }),
}}

// Triplet is the FaceNet triplet loss over triplets (a,p,n) with
// y_a = y_p ≠ y_n, a ≠ p: ℓ = max(0, D_ap − D_an + margin), or its
// softplus when Soft. It matches pytorch-metric-learning's
// TripletMarginLoss with TripletMarginMiner / BatchHardMiner.
//
// With the hinge, triplets are never enumerated: per anchor the positives
// are sorted by D_ap and each negative adds its contribution to a
// contiguous range of them (found through a bucket table over the sorted
// D_ap, or for at most 16 positives a branch-free count; difference arrays
// and prefix sums), expected O(N) time
// after an O(P log P) sort and O(N) memory per anchor. Batch-hard with the
// Euclidean distance selects on squared distances and takes only the
// chosen rows' square roots. The soft form is
// not piecewise linear, so it streams over each anchor's positives ×
// negatives (still O(N) memory). Labels-only: in a pair-form batch query i
// and positive i are class i and each explicit negative its own class.
//
// The exported fields are the parameters (spec keys margin, distance,
// mining, soft, reduction, normalize); Parse fills in their defaults and
// checks their ranges, a literal gets exactly what it says.
type Triplet struct {
	// Margin is the triplet margin.
	Margin float64
	// Distance measures D_ap and D_an.
	Distance Distance
	// Mining selects which triplets are averaged.
	Mining Mining
	// Soft replaces max(0, z) by softplus(z).
	Soft bool
	// Reduction is AvgNonzero or Mean.
	Reduction Reduction
	// Normalize L2-normalizes the rows first.
	Normalize bool

	// cache keeps the tile engine's N×N buffer between evaluations.
	cache tileCache
}

var (
	_ Loss        = (*Triplet)(nil)
	_ Float64Loss = (*Triplet)(nil)
)

// Name returns "triplet".
func (t *Triplet) Name() string { return tripletDef.name }

// Params returns margin, distance, mining, soft, reduction and normalize.
func (t *Triplet) Params() map[string]any { return tripletDef.values(t) }

// Eval implements Loss.
func (t *Triplet) Eval(b Batch, grad blas32.General) float64 {
	tiles := func(l []int) func(*pairCtx) tileKernel {
		if !t.tileable(l) {
			return nil
		}
		return t.tiles
	}
	return evalLabelled32(b, t.Normalize, tiles, t.kernel, grad, &t.cache)
}

// EvalFloat64 implements Float64Loss.
func (t *Triplet) EvalFloat64(b Batch64, grad blas64.General) float64 {
	return evalLabelled64(b, t.Normalize, t.kernel, grad)
}

// tiles returns the triplet loss in the tile engine's form (see
// tileable): batchHardTiles for batch-hard mining, tripletTiles otherwise.
func (t *Triplet) tiles(ctx *pairCtx) tileKernel {
	if t.Mining == MineBatchHard {
		return &batchHardTiles{t: t}
	}
	return &tripletTiles{t: t}
}

// tileable reports whether t has a tile form for labels: batch-hard
// mining always (hinge or soft, any class sizes); otherwise the hinge
// only (the soft form's per-anchor float reductions over positives would
// depend on the task order), and no class larger than maxTileClass.
func (t *Triplet) tileable(labels []int) bool {
	if t.Mining == MineBatchHard {
		return true
	}
	if t.Soft {
		return false
	}
	count := map[int]int{}
	for _, y := range labels {
		count[y]++
		if count[y] > maxTileClass {
			return false
		}
	}
	return true
}

func (t *Triplet) kernel(ctx *pairCtx) rowKernel { return &tripletKernel{t: t, ctx: ctx} }

type tripletKernel struct {
	t   *Triplet
	ctx *pairCtx
	// general disables hingeSmall (tests check the two paths agree).
	general bool
}

func (k *tripletKernel) usesH() bool { return usesDistH(k.t.Distance) }

// split fills sc.pos/sc.neg with the positives and negatives of anchor a.
func split(a int, labels []int, sc *scratch) (pos, neg []int) {
	n := len(labels)
	pos, neg = growInt(sc.pos, n), growInt(sc.neg, n)
	ya := labels[a]
	for j, y := range labels {
		if j == a {
			continue
		}
		if y == ya {
			pos = append(pos, j)
		} else {
			neg = append(neg, j)
		}
	}
	sc.pos, sc.neg = pos, neg
	return pos, neg
}

// inMined reports whether margin value m = D_an − D_ap is in the mined set.
func inMined(mining Mining, m, margin float64) bool {
	switch mining {
	case MineEasy:
		return m > margin
	case MineSemihard:
		return m > 0 && m <= margin
	case MineHard:
		return m <= 0
	}
	return true
}

func (k *tripletKernel) row(a int, s, w, h []float64, sc *scratch) (float64, float64) {
	t := k.t
	n, lo, hi := k.ctx.n, k.ctx.lo[a], k.ctx.hi[a]
	if hi-lo < 2 || hi-lo == n {
		return 0, 0 // no positive or no negative
	}
	sc.d = grow(sc.d, n)
	d := sc.d
	// Rows are sorted by class: the positives are [lo,hi) without a, the
	// negatives [0,lo) and [hi,n).
	negs := [2][2]int{{0, lo}, {hi, n}}
	if t.Mining == MineBatchHard && t.Distance == Euclidean {
		// The nearest negative is selected on squared distances (the same
		// values dist takes the square root of), so the N square roots
		// are not computed; only the positives' and the chosen negative's.
		dist(SquaredEuclidean, a, s, k.ctx.sq, d)
		for j := lo; j < hi; j++ {
			d[j] = math.Sqrt(d[j])
		}
		return k.batchHard(a, lo, hi, negs, d, true, w, h)
	}
	dist(t.Distance, a, s, k.ctx.sq, d)
	switch {
	case t.Mining == MineBatchHard:
		return k.batchHard(a, lo, hi, negs, d, false, w, h)
	case t.Soft:
		pos, neg := k.ctx.split(a, sc)
		return k.soft(d, pos, neg, w, h)
	}
	pos := growInt(sc.pos, n)
	for j := lo; j < hi; j++ {
		if j != a {
			pos = append(pos, j)
		}
	}
	sc.pos = pos
	return k.hinge(d, pos, negs, w, h, sc)
}

// batchHard computes the batch-hard term of anchor a from its distances d.
// When negSq is set, d holds the negatives' squared Euclidean distances
// (the positives' are plain distances); the nearest negative is then the
// same row as on the distances themselves, and its entry of d is replaced
// by its square root.
func (k *tripletKernel) batchHard(a, lo, hi int, negs [2][2]int, d []float64, negSq bool, w, h []float64) (float64, float64) {
	t := k.t
	// The first farthest positive and the first nearest negative, in row order.
	p := lo
	if p == a {
		p++
	}
	for j := p + 1; j < hi; j++ {
		if j != a && d[j] > d[p] {
			p = j
		}
	}
	q := negs[0][0]
	if negs[0][1] == 0 {
		q = negs[1][0]
	}
	for _, r := range negs {
		for j := r[0]; j < r[1]; j++ {
			if d[j] < d[q] {
				q = j
			}
		}
	}
	if negSq {
		q = firstWithSqrt(d, negs, q)
	}
	z := d[p] - d[q] + t.Margin
	var l, g float64
	if t.Soft {
		l, g = softplus(z), sigmoid(z)
	} else if z > 0 {
		l, g = z, 1
	}
	cnt := 1.0
	if t.Reduction == AvgNonzero && l <= 0 {
		cnt = 0
	}
	if g != 0 {
		addDistGrad(t.Distance, p, g, d[p], w, h)
		addDistGrad(t.Distance, q, -g, d[q], w, h)
	}
	return l, cnt
}

// firstWithSqrt returns the first index j of the ranges negs (in order)
// with √d[j] = √d[q], where q is the first index of the smallest d: since
// the rounded square root is monotone but not injective, an earlier row
// can tie with q after the root. It stores that root in d[j]. Only rows
// with d[j] within a relative 1e-12 of d[q] (far more than the rounding of
// a square root can merge) are tested, so this costs a few square roots.
func firstWithSqrt(d []float64, negs [2][2]int, q int) int {
	m := d[q]
	dm := math.Sqrt(m)
	bound := m * (1 + 1e-12)
	for _, r := range negs {
		for j := r[0]; j < r[1] && j <= q; j++ {
			if d[j] <= bound && math.Sqrt(d[j]) == dm {
				d[j] = dm
				return j
			}
		}
	}
	d[q] = dm // NaN: no row compares equal, q stays (as on the distances)
	return q
}

func (k *tripletKernel) soft(d []float64, pos, neg []int, w, h []float64) (float64, float64) {
	t := k.t
	var sum, cnt float64
	for _, p := range pos {
		var gp float64
		for _, q := range neg {
			m := d[q] - d[p]
			if !inMined(t.Mining, m, t.Margin) {
				continue
			}
			z := t.Margin - m
			l := softplus(z)
			sum += l
			if t.Reduction == Mean || l > 0 {
				cnt++
			}
			g := sigmoid(z)
			gp += g
			addDistGrad(t.Distance, q, -g, d[q], w, h)
		}
		addDistGrad(t.Distance, p, gp, d[p], w, h)
	}
	return sum, cnt
}

// hinge sums max(0, D_ap − D_an + margin) over the mined triplets of one
// anchor without enumerating them: with the positives sorted by D_ap, the
// positives forming a mined triplet with negative n are a contiguous range,
// and so are those where the hinge is active (D_ap > D_an − margin).
func (k *tripletKernel) hinge(d []float64, pos []int, negs [2][2]int, w, h []float64, sc *scratch) (float64, float64) {
	t := k.t
	P := len(pos)
	slices.SortFunc(pos, func(i, j int) int {
		if d[i] < d[j] {
			return -1
		} else if d[i] > d[j] {
			return 1
		}
		return i - j
	})
	sc.e = grow(sc.e, P+1) // sorted D_ap, then prefix sums in sc.f
	sc.f = grow(sc.f, P+1)
	sc.cnt = grow(sc.cnt, P+1)
	dp, pre, diff := sc.e[:P], sc.f, sc.cnt
	clear(diff)
	pre[0] = 0
	for i, p := range pos {
		dp[i] = d[p]
		pre[i+1] = pre[i] + d[p]
	}
	if P <= 16 && !k.general && t.Reduction == AvgNonzero && (t.Mining == MineAll || t.Mining == MineSemihard) {
		if t.Mining == MineSemihard {
			sc.rank.initBuckets(dp, 16) // ≤ 256 buckets: cheap next to a row
		}
		return k.hingeSmall(d, pos, negs, dp, pre, &sc.rank, w, h)
	}
	rt := &sc.rank
	rt.init(dp)
	// rt.lower(x): first D_ap ≥ x; rt.upper(x): first D_ap > x.
	var sum, cnt float64
	for _, r := range negs {
		for q := r[0]; q < r[1]; q++ {
			dn := d[q]
			// [mlo, mhi) is the mined range of sorted positives, [alo, mhi)
			// the part where the hinge is active (D_ap > dn − margin). mlo is
			// only needed for the Mean count.
			mean := t.Reduction == Mean
			if !mean && dn-t.Margin >= dp[P-1] {
				continue // no active triplet with this negative (the common, easy case)
			}
			var mlo, mhi, alo int
			switch t.Mining {
			case MineAll:
				mlo, mhi, alo = 0, P, rt.upper(dn-t.Margin)
			case MineEasy: // D_ap < dn − margin: never active
				if mean {
					cnt += float64(rt.lower(dn - t.Margin))
				}
				continue
			case MineSemihard: // dn − margin ≤ D_ap < dn
				if !mean && dp[0] >= dn {
					continue // every positive is farther than the negative: all hard
				}
				mhi, alo = rt.lower(dn), rt.upper(dn-t.Margin)
				if mean {
					mlo = rt.lower(dn - t.Margin)
				}
			case MineHard: // D_ap ≥ dn
				mlo, mhi = rt.lower(dn), P
				alo = max(mlo, rt.upper(dn-t.Margin))
			}
			if mean && mhi > mlo {
				cnt += float64(mhi - mlo)
			}
			if mhi <= alo {
				continue
			}
			na := float64(mhi - alo)
			if t.Reduction == AvgNonzero {
				cnt += na
			}
			sum += pre[mhi] - pre[alo] + na*(t.Margin-dn)
			addDistGrad(t.Distance, q, -na, dn, w, h)
			diff[alo]++
			diff[mhi]--
		}
	}
	var run float64
	for i, p := range pos {
		run += diff[i]
		if run != 0 {
			addDistGrad(t.Distance, p, run, dp[i], w, h)
		}
	}
	return sum, cnt
}

// hingeSmall is hinge for the common case of at most 16 positives, mining
// all or semihard and reduction avg_nonzero, with the same accumulation
// order (so bit-identical results) but a tighter loop over the negatives:
// the start of the active range is a branch-free count over the sorted
// D_ap padded with +Inf to 16 entries (skipped when the query is below
// D_ap,min), the semihard end a rank-table lookup with 16 buckets per
// positive (rt was prepared by the caller), and the per-positive counts go
// to a small integer array on the stack.
func (k *tripletKernel) hingeSmall(d []float64, pos []int, negs [2][2]int, dp, pre []float64, rt *rankTable, w, h []float64) (float64, float64) {
	t := k.t
	P := len(dp)
	var pad [16]float64
	copy(pad[:], dp)
	for i := P; i < len(pad); i++ {
		pad[i] = math.Inf(1)
	}
	var diff [17]int32 // diff[i]: change of the active-negative count at sorted positive i
	margin, dk, semi := t.Margin, t.Distance, t.Mining == MineSemihard
	first, last := dp[0], dp[P-1]
	var sum float64
	var cnt int
	for _, r := range negs {
		for q := r[0]; q < r[1]; q++ {
			dn := d[q]
			x := dn - margin
			if x >= last {
				continue // no active triplet with this negative (the common, easy case)
			}
			// alo: first D_ap > x, the start of the active range; x < last
			// keeps it ≤ P−1, x < first (or NaN) makes it 0.
			alo := 0
			if x >= first {
				alo = countLE16(&pad, x)
			}
			mhi := P
			if semi {
				// mhi: first D_ap ≥ dn, the end of the semihard range.
				if !(dn > first) {
					continue // every positive is at least as far as the negative: all hard
				}
				if dn <= last {
					mhi = rt.lower(dn)
				}
				if mhi <= alo {
					continue
				}
				diff[mhi]--
			}
			na := mhi - alo
			cnt += na
			fna := float64(na)
			sum += pre[mhi] - pre[alo] + fna*(margin-dn)
			addDistGrad(dk, q, -fna, dn, w, h)
			diff[alo]++
		}
	}
	var run int32
	for i, p := range pos {
		run += diff[i]
		if run != 0 {
			addDistGrad(dk, p, float64(run), dp[i], w, h)
		}
	}
	return sum, float64(cnt)
}

// countLE16 returns how many of the 16 entries of p are ≤ x: sixteen
// independent compares summed in a tree, no branches and no long
// dependency chain (a binary search over 16 entries would be four
// dependent load-compare steps).
func countLE16(p *[16]float64, x float64) int {
	c0 := b2i(p[0] <= x) + b2i(p[1] <= x) + b2i(p[2] <= x) + b2i(p[3] <= x)
	c1 := b2i(p[4] <= x) + b2i(p[5] <= x) + b2i(p[6] <= x) + b2i(p[7] <= x)
	c2 := b2i(p[8] <= x) + b2i(p[9] <= x) + b2i(p[10] <= x) + b2i(p[11] <= x)
	c3 := b2i(p[12] <= x) + b2i(p[13] <= x) + b2i(p[14] <= x) + b2i(p[15] <= x)
	return (c0 + c1) + (c2 + c3)
}

// b2i returns 1 for true and 0 for false (compiled to SETcc, no branch).
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// rankTable answers rank queries (lowerBound, upperBound) on a short sorted
// slice in expected O(1): a table over equal-width buckets spanning
// [a[0], a[len−1]] gives a starting index, which comparisons with the
// neighbouring elements then correct, so every answer is exact whatever
// the rounding of the bucket computation.
type rankTable struct {
	a     []float64
	lo    float64 // left edge of bucket 0 (a[0])
	scale float64 // buckets per unit; 0 when a has no spread
	nb    int     // number of buckets
	start []int32 // start[b] = lowerBound(a, left edge of bucket b)
}

// init prepares t for the sorted slice a (which t keeps), with 4 buckets
// per element.
func (t *rankTable) init(a []float64) { t.initBuckets(a, 4) }

// initBuckets prepares t for the sorted slice a (which t keeps), with
// perElem buckets per element: more buckets make the first guess more often
// exact (fewer mispredicted correction steps) at O(perElem·len(a)) setup.
func (t *rankTable) initBuckets(a []float64, perElem int) {
	t.a = a
	t.scale, t.nb = 0, 0
	P := len(a)
	if P == 0 {
		return
	}
	t.lo = a[0]
	span := a[P-1] - a[0]
	nb := perElem * P
	if !(span > 0) || math.IsInf(span, 0) {
		return // every query starts at 0 and is corrected linearly
	}
	t.scale, t.nb = float64(nb)/span, nb
	if cap(t.start) < nb {
		t.start = make([]int32, nb)
	}
	t.start = t.start[:nb]
	c := 0
	for b := range nb {
		edge := t.lo + float64(b)/t.scale
		for c < P && a[c] < edge {
			c++
		}
		t.start[b] = int32(c)
	}
}

// guess returns a starting index for x.
func (t *rankTable) guess(x float64) int {
	f := (x - t.lo) * t.scale
	if !(f > 0) {
		return 0
	}
	if f >= float64(t.nb) {
		return len(t.a)
	}
	return int(t.start[int(f)])
}

// lower returns the first index i with a[i] ≥ x (len(a) if none).
func (t *rankTable) lower(x float64) int {
	a := t.a
	c := t.guess(x)
	for c < len(a) && a[c] < x {
		c++
	}
	for c > 0 && a[c-1] >= x {
		c--
	}
	return c
}

// upper returns the first index i with a[i] > x (len(a) if none).
func (t *rankTable) upper(x float64) int {
	a := t.a
	c := t.guess(x)
	for c < len(a) && a[c] <= x {
		c++
	}
	for c > 0 && a[c-1] > x {
		c--
	}
	return c
}

// smallSearch is the length up to which lowerBound and upperBound count
// linearly instead of searching (faster for the few positives of an anchor).
const smallSearch = 32

// lowerBound returns the first index i of sorted a with a[i] ≥ x (len(a)
// if none). Branch-free binary search: the compiler turns the conditional
// update into a conditional move, so unpredictable comparisons cost no
// mispredictions.
func lowerBound(a []float64, x float64) int {
	n := len(a)
	if n <= smallSearch {
		// Count the elements below x: the sign bit of a[i] − x is 1
		// exactly when a[i] < x (equal values give +0), no branches and
		// no dependency chain.
		c := 0
		for _, v := range a {
			c += int(math.Float64bits(v-x) >> 63)
		}
		return c
	}
	base := 0
	for n > 1 {
		half := n >> 1
		if a[base+half-1] < x {
			base += half
		}
		n -= half
	}
	if a[base] < x {
		base++
	}
	return base
}

// upperBound returns the first index i of sorted a with a[i] > x (len(a) if
// none), branch-free like lowerBound.
func upperBound(a []float64, x float64) int {
	n := len(a)
	if n <= smallSearch {
		// Count the elements ≤ x: x − a[i] has its sign bit set exactly
		// when a[i] > x.
		c := n
		for _, v := range a {
			c -= int(math.Float64bits(x-v) >> 63)
		}
		return c
	}
	base := 0
	for n > 1 {
		half := n >> 1
		if a[base+half-1] <= x {
			base += half
		}
		n -= half
	}
	if a[base] <= x {
		base++
	}
	return base
}
