package losses

import (
	"math"

	"github.com/embfit/embfit/internal/mathx"
)

// This file holds the tile forms of the losses built on a per-anchor
// log-sum-exp over the anchor's negatives (InfoNCE here, circle in
// circle_tiles.go), and the two-sweep skeleton they share (negLSETiles).
//
// Sweep 0 reads the similarity tiles and, for every pair {a, j} of rows
// of different classes, evaluates the logit l = l(s_aj) (the same
// function of s from both ends) once and adds it to both anchors'
// "online softmax" partials: for each anchor and tile pair (a segment),
// the largest logit M and Σ e^(l−M). A tile is read twice for that:
// first every segment's maximum (rows and columns), then the sums.
// Between the sweeps each class is handled by one worker: its anchors'
// segments are combined in order into the log-sum-exp over their
// negatives, lse; the positive pairs (inside the class block of W) give
// the loss, each anchor's factor c_a, and their own coefficients, which
// are written over their similarities. Sweep 1 writes each negative
// pair's coefficient
//
//	W_aj = l'(s)·(c_a·e^(l−lse_a) + c_j·e^(l−lse_j)),
//
// the derivative of the loss through both anchors' rows (c_a is 0 for an
// anchor without a term).
//
// One exponential per pair: when the segment maxima of a tile pair lie
// within fastRange of each other (always, unless the logits span a huge
// range: a tiny temperature or large unnormalized rows), sweep 0
// computes E = e^(l − (M_a+M_j)/2) ≤ 1 and gets both ends from it,
// e^(l−M_a) = E·h_j/h_a with h_k = e^((M_k−ref)/2) (ref: the tile's
// largest M), so Σ_j e^(l−M_a) = (1/h_a)·Σ_j E·h_j. It leaves
// F = l'(s)·E in W in place of s, and sweep 1 needs no exponential:
// W_aj = F·(β_a·h_j + β_j·h_a) with β_a = c_a·e^(M_a−lse_a)/h_a. Other
// tiles compute both exponentials in both sweeps (s stays in W). When the
// rows are normalized and the logit of any s in [−1, 1] lies within
// constRange of its upper bound K (InfoNCE with τ ≥ 2/constRange, circle
// with 0 ≤ m ≤ 1 and γ ≤ constRange: both defaults), every M is K
// instead (so h = 1) and the pass finding the maxima is skipped.

// constRange is the largest a-priori range of the logits (from bounds)
// for which every anchor of every tile pair is given the same shift K,
// the upper bound of the logits, instead of its segment maximum: sweep 0
// then skips the pass that finds the maxima, and h = 1. E = e^(l−K) ≤ 1
// cannot overflow; stored as a float32 F, its absolute error is at most
// 2⁻¹⁴⁹ (subnormals) on top of the relative rounding, and sweep 1
// multiplies it by at most c·e^(K−M_a) ≤ c·e^constRange, which keeps that
// error below 1e-9·c.
const constRange = 82

// fastRange is the largest spread of a tile pair's segment maxima for
// which it takes the one-exponential path: E ≥ e^(−fastRange/2) times
// e^(l−M_a), so every term that matters in float32 (e^(l−M_a) ≥ 1e−10)
// keeps a normal float32 F, and 1/h stays below e^(fastRange/2).
const fastRange = 100

// negRows is the part of a negLSETiles kernel that depends on the loss:
// loops over one tile row's negatives (s, similarities, in W), with the
// columns' per-anchor data alongside. Every method must compute the same
// logit of s, bit for bit.
type negRows interface {
	// rowMax returns the largest of rm and the logits of s, and raises
	// colM[c] to the logit of s[c].
	rowMax(s []float32, colM []float64, rm float64) float64
	// rowSum returns Σ e^(l(s[c])−mr) and adds e^(l(s[c])−colM[c]) to colZ[c].
	rowSum(s []float32, colM, colZ []float64, mr float64) float64
	// rowSumConst computes E = e^(l(s[c]) − shift), returns Σ E, adds E to
	// colZ[c] and overwrites s[c] with l'(s[c])·E.
	rowSumConst(s []float32, colZ []float64, shift float64) float64
	// rowSumFast computes E = e^(l(s[c]) − hmr − hmC[c]), returns Σ E·hC[c],
	// adds E·hr to colZ[c] and overwrites s[c] with l'(s[c])·E.
	rowSumFast(s []float32, hmC, hC, colZ []float64, hmr, hr float64) float64
	// rowCoef overwrites s[c] with l'(s[c])·(cA·e^(l−lseA) + cC[c]·e^(l−lseC[c])).
	rowCoef(s []float32, lseC, cC []float64, lseA, cA float64)
	// bounds returns the range of the logit for similarities in [−1, 1].
	bounds() (lo, hi float64)
}

// negLSETiles is the two-sweep skeleton of the tile forms of InfoNCE and
// circle (see the top of this file); the kernels embed it and add
// between (the positives) and finish.
type negLSETiles struct {
	rows negRows
	// fastRange is the largest spread of segment maxima a tile pair may
	// have to take the one-exponential path (fastRange; tests lower it),
	// constRange the largest range of the logits for the constant shift
	// (constRange, used with normalized rows only and within fastRange
	// too; tests lower them).
	fastRange, constRange float64
	// constShift is set when every segment maximum is replaced by
	// shift, the upper bound of the logits.
	constShift bool
	shift      float64
	m, z       []float64 // segments: largest negative logit (K with constShift), Σ e^(l−m)
	lse        []float64 // per anchor: log-sum-exp over its negatives
	coef       []float64 // per anchor: c_a (0: no term)
	loss       []float64 // per anchor: unscaled loss
	ref        []float64 // per tile pair (ti·T+tj): ref of the one-exponential path
	fast       []bool    // per tile pair: W holds F (one-exponential path), not s
}

func (k *negLSETiles) passes() int { return 2 }

func (k *negLSETiles) prepare(e *tileEngine) {
	k.m, k.z = e.newPart(), e.newPart()
	k.lse, k.coef, k.loss = make([]float64, e.n), make([]float64, e.n), make([]float64, e.n)
	k.ref, k.fast = make([]float64, e.t*e.t), make([]bool, e.t*e.t)
	if lo, hi := k.rows.bounds(); e.ctx.normalized && hi-lo <= min(k.constRange, k.fastRange) {
		// |s| may exceed 1 by a float32 rounding: l − shift stays ≈ 0.
		k.constShift, k.shift = true, hi
	}
}

// negRange returns the columns [plo, phi) of tile row a (columns q0+c,
// c < nc) that are of a's class, clamped to [c0, nc): the row's negatives
// are [c0, plo) and [phi, nc).
func negRange(e *tileEngine, a, q0, c0, nc int) (plo, phi int) {
	plo = min(nc, max(c0, e.ctx.lo[a]-q0))
	phi = min(nc, max(plo, e.ctx.hi[a]-q0))
	return plo, phi
}

func (k *negLSETiles) tile(e *tileEngine, pass int, t *tileTask) {
	if pass == 0 {
		k.sumTile(e, t)
	} else {
		k.coefTile(e, t)
	}
}

// tileSegs returns tile pair t's row and column segments of part (the
// same slice twice for a diagonal tile: both ends of its pairs go to it).
func tileSegs(e *tileEngine, part []float64, t *tileTask) (rows, cols []float64) {
	return e.slot(part, t.ti, t.tj)[:t.p1-t.p0], e.slot(part, t.tj, t.ti)[:t.q1-t.q0]
}

// halfShifts sets hm[i] = m[i]/2 and h[i] = e^((m[i]−ref)/2) (0 where
// m[i] = −Inf: no negative there).
func halfShifts(m, hm, h []float64, ref float64) {
	hm, h = hm[:len(m)], h[:len(m)]
	for i, v := range m {
		hm[i] = v / 2
		h[i] = 0
		if !math.IsInf(v, -1) {
			h[i] = fastExp((v - ref) / 2)
		}
	}
}

// sumTile is sweep 0 on tile pair t: the segments' maxima, then their
// sums of exponentials.
func (k *negLSETiles) sumTile(e *tileEngine, t *tileTask) {
	n, w := e.n, e.w
	nr, nc := t.p1-t.p0, t.q1-t.q0
	mR, mC := tileSegs(e, k.m, t)
	zR, zC := tileSegs(e, k.z, t)
	inf := math.Inf(-1)
	m0 := inf
	if k.constShift {
		m0 = k.shift // (m is then the shift, not the maximum)
	}
	for i := range mR {
		mR[i] = m0
	}
	for i := range mC {
		mC[i] = m0
	}
	for r := range nr {
		if k.constShift {
			break
		}
		a := t.p0 + r
		c0 := 0
		if t.diag {
			c0 = r + 1
		}
		row := w[a*n+t.q0 : a*n+t.q1]
		plo, phi := negRange(e, a, t.q0, c0, nc)
		rm := mR[r]
		if plo > c0 {
			rm = k.rows.rowMax(row[c0:plo], mC[c0:plo], rm)
		}
		if phi < nc {
			rm = k.rows.rowMax(row[phi:], mC[phi:], rm)
		}
		mR[r] = rm
	}
	hi, lo := inf, math.Inf(1)
	for _, ms := range [2][]float64{mR, mC} {
		for _, v := range ms {
			if !math.IsInf(v, -1) {
				hi, lo = max(hi, v), min(lo, v)
			}
		}
	}
	tid := t.ti*e.t + t.tj
	fast := hi-lo <= k.fastRange || k.constShift
	k.fast[tid], k.ref[tid] = fast, hi
	var hmR, hR, hmC, hC []float64
	if fast && !k.constShift { // (with constShift, h = 1)
		t.sc.d = grow(t.sc.d, 2*e.r)
		t.sc.e = grow(t.sc.e, 2*e.r)
		hmR, hmC = t.sc.d[:nr], t.sc.d[e.r:e.r+nc]
		hR, hC = t.sc.e[:nr], t.sc.e[e.r:e.r+nc]
		halfShifts(mR, hmR, hR, hi)
		halfShifts(mC, hmC, hC, hi)
	}
	for r := range nr {
		a := t.p0 + r
		c0 := 0
		if t.diag {
			c0 = r + 1
		}
		row := w[a*n+t.q0 : a*n+t.q1]
		plo, phi := negRange(e, a, t.q0, c0, nc)
		var rz float64
		if k.constShift {
			if plo > c0 {
				rz += k.rows.rowSumConst(row[c0:plo], zC[c0:plo], k.shift)
			}
			if phi < nc {
				rz += k.rows.rowSumConst(row[phi:], zC[phi:], k.shift)
			}
		} else if fast {
			if plo > c0 {
				rz += k.rows.rowSumFast(row[c0:plo], hmC[c0:plo], hC[c0:plo], zC[c0:plo], hmR[r], hR[r])
			}
			if phi < nc {
				rz += k.rows.rowSumFast(row[phi:], hmC[phi:], hC[phi:], zC[phi:], hmR[r], hR[r])
			}
		} else {
			if plo > c0 {
				rz += k.rows.rowSum(row[c0:plo], mC[c0:plo], zC[c0:plo], mR[r])
			}
			if phi < nc {
				rz += k.rows.rowSum(row[phi:], mC[phi:], zC[phi:], mR[r])
			}
		}
		zR[r] += rz
	}
	if fast && !k.constShift {
		// The sums are Σ E·h of the other ends: divide by the anchor's h.
		for i := range zR {
			if hR[i] != 0 {
				zR[i] /= hR[i]
			}
		}
		if !t.diag {
			for i := range zC {
				if hC[i] != 0 {
					zC[i] /= hC[i]
				}
			}
		}
	}
}

// coefTile is sweep 1 on tile pair t: the negative pairs' coefficients.
func (k *negLSETiles) coefTile(e *tileEngine, t *tileTask) {
	n, w := e.n, e.w
	nr, nc := t.p1-t.p0, t.q1-t.q0
	tid := t.ti*e.t + t.tj
	fast := k.fast[tid]
	var hR, hC, bR, bC []float64
	if fast {
		// h as in sweep 0 (1 with constShift), and β_a = c_a·e^(M_a−lse_a)/h_a.
		mR, mC := tileSegs(e, k.m, t)
		t.sc.d = grow(t.sc.d, 2*e.r)
		t.sc.e = grow(t.sc.e, 2*e.r)
		hR, hC = t.sc.e[:nr], t.sc.e[e.r:e.r+nc]
		bR, bC = t.sc.d[:nr], t.sc.d[e.r:e.r+nc]
		if k.constShift {
			for i := range hR {
				hR[i] = 1
			}
			for i := range hC {
				hC[i] = 1
			}
		} else {
			halfShifts(mR, bR, hR, k.ref[tid])
			halfShifts(mC, bC, hC, k.ref[tid])
		}
		for _, x := range [2]struct {
			m, h, b, c, lse []float64
		}{{mR, hR, bR, k.coef[t.p0:t.p1], k.lse[t.p0:t.p1]}, {mC, hC, bC, k.coef[t.q0:t.q1], k.lse[t.q0:t.q1]}} {
			for i := range x.b {
				x.b[i] = 0
				if x.h[i] != 0 && x.c[i] != 0 {
					x.b[i] = x.c[i] * fastExp(x.m[i]-x.lse[i]) / x.h[i]
				}
			}
		}
	}
	lseQ, cQ := k.lse[t.q0:t.q1], k.coef[t.q0:t.q1]
	for r := range nr {
		a := t.p0 + r
		c0 := 0
		if t.diag {
			c0 = r + 1
		}
		row := w[a*n+t.q0 : a*n+t.q1]
		plo, phi := negRange(e, a, t.q0, c0, nc)
		if k.constShift { // h = 1
			if plo > c0 {
				coefConst(row[c0:plo], bC[c0:plo], bR[r])
			}
			if phi < nc {
				coefConst(row[phi:], bC[phi:], bR[r])
			}
			continue
		}
		if fast {
			if plo > c0 {
				coefFast(row[c0:plo], hC[c0:plo], bC[c0:plo], hR[r], bR[r])
			}
			if phi < nc {
				coefFast(row[phi:], hC[phi:], bC[phi:], hR[r], bR[r])
			}
			continue
		}
		if plo > c0 {
			k.rows.rowCoef(row[c0:plo], lseQ[c0:plo], cQ[c0:plo], k.lse[a], k.coef[a])
		}
		if phi < nc {
			k.rows.rowCoef(row[phi:], lseQ[phi:], cQ[phi:], k.lse[a], k.coef[a])
		}
	}
}

// coefFast overwrites each F = s[c] with F·(br·hC[c] + bC[c]·hr).
func coefFast(s []float32, hC, bC []float64, hr, br float64) {
	hC, bC = hC[:len(s)], bC[:len(s)]
	for c, f := range s {
		s[c] = float32(float64(f) * (br*hC[c] + bC[c]*hr))
	}
}

// coefConst overwrites each F = s[c] with F·(br + bC[c]).
func coefConst(s []float32, bC []float64, br float64) {
	bC = bC[:len(s)]
	for c, f := range s {
		s[c] = float32(float64(f) * (br + bC[c]))
	}
}

// setNegLSE sets lse[a] for the anchors a of [lo, hi), all in one tile
// row: each anchor's segments are combined in order y = 0..T−1 into its
// log-sum-exp over its negatives (−Inf when it has none). The loops run
// over the anchors inside each segment, whose entries are contiguous.
// zs is scratch of length hi−lo.
func (k *negLSETiles) setNegLSE(e *tileEngine, lo, hi int, zs []float64) {
	x, i0 := lo/e.r, lo%e.r
	mx, zs := k.lse[lo:hi], zs[:hi-lo]
	for i := range mx {
		mx[i], zs[i] = math.Inf(-1), 0
	}
	for y := range e.t {
		o := (x*e.t+y)*e.r + i0
		for i, v := range k.m[o : o+len(mx)] {
			if v > mx[i] {
				mx[i] = v
			}
		}
	}
	for y := range e.t {
		o := (x*e.t+y)*e.r + i0
		ms, z := k.m[o:o+len(mx)], k.z[o:o+len(mx)]
		for i := range zs {
			if z[i] != 0 {
				zs[i] += z[i] * fastExp(ms[i]-mx[i])
			}
		}
	}
	for i := range mx {
		if !math.IsInf(mx[i], -1) {
			mx[i] += math.Log(zs[i])
		}
	}
}

// classes calls f on every class [lo, hi) of the class-sorted rows, in
// parallel (one class is handled by one worker).
func classes(e *tileEngine, f func(lo, hi int)) {
	type class struct{ lo, hi int }
	var cl []class
	for a := 0; a < e.n; a = e.ctx.hi[a] {
		cl = append(cl, class{e.ctx.lo[a], e.ctx.hi[a]})
	}
	parallelRange(len(cl), func(c0, c1 int) {
		for _, c := range cl[c0:c1] {
			f(c.lo, c.hi)
		}
	})
}

// skipClass sets the log-sum-exp over the negatives of the anchors of
// class [lo, hi) and reports whether the class has no loss term (no
// positive or no negative). Then its block of W above the diagonal is
// cleared (those pairs have coefficient 0) and c stays 0.
func (k *negLSETiles) skipClass(e *tileEngine, lo, hi int) bool {
	if hi-lo == e.n {
		for a := lo; a < hi; a++ {
			clear(e.w[a*e.n+a+1 : a*e.n+hi])
		}
		return true
	}
	zs := make([]float64, 0, 64)
	for a := lo; a < hi; {
		b := min(hi, (a/e.r+1)*e.r) // the end of a's tile row
		zs = grow(zs, b-a)
		k.setNegLSE(e, a, b, zs)
		a = b
	}
	return hi-lo < 2
}

// softplusSigmoid returns softplus(t) and sigmoid(t) (the same values as
// those functions) from one exponential.
func softplusSigmoid(t float64) (sp, sg float64) { return mathx.SoftplusSigmoid(t, fastExp) }

// lossSum returns the sum of the anchors' losses, in order.
func (k *negLSETiles) lossSum() (sum float64) {
	for _, v := range k.loss {
		sum += v
	}
	return sum
}

// tiles returns the labelled InfoNCE (NT-Xent) in the tile engine's form.
func (l *InfoNCE) tiles(*pairCtx) tileKernel {
	return &infoNCETiles{l: l, negLSETiles: negLSETiles{rows: infoNCERows{inv: 1 / l.Temperature},
		fastRange: fastRange, constRange: constRange}}
}

// infoNCETiles is the labelled InfoNCE for the tile engine: the logit of
// a pair is s/τ from both ends, and anchor a's factor is c_a = A_a/τ,
// with A_a the sum over its positives p of σ(lse_a − s_ap/τ) (see
// infoNCEKernel.row); l' = 1/τ is folded into c, so F = E.
type infoNCETiles struct {
	l *InfoNCE
	negLSETiles
	count float64
}

// infoNCERows are InfoNCE's loops: l(s) = s·inv (l' = inv is in c).
type infoNCERows struct{ inv float64 }

func (q infoNCERows) bounds() (lo, hi float64) { return -q.inv, q.inv }

func (q infoNCERows) rowMax(s []float32, colM []float64, rm float64) float64 {
	colM = colM[:len(s)]
	inv := q.inv
	for c, v := range s {
		l := float64(v) * inv
		if l > rm {
			rm = l
		}
		if l > colM[c] {
			colM[c] = l
		}
	}
	return rm
}

// The exponentials below are expSumF32's (relative error < 1e-12, enough
// for float32 results), written out: a call in these loops costs more
// than the rest. Their arguments are ≤ 0 (l ≤ M ≤ lse) and are clamped
// at −700 (e^−700 stands for anything smaller: results are rounded to
// float32).

func (q infoNCERows) rowSum(s []float32, colM, colZ []float64, mr float64) float64 {
	colM, colZ = colM[:len(s)], colZ[:len(s)]
	inv := q.inv
	var rz float64
	for c, v := range s {
		l := float64(v) * inv
		rz += exp256(l - mr)
		colZ[c] += exp256(l - colM[c])
	}
	return rz
}

func (q infoNCERows) rowSumConst(s []float32, colZ []float64, shift float64) float64 {
	colZ = colZ[:len(s)]
	inv := q.inv
	var rz float64
	for c, v := range s {
		E := exp256In(float64(v)*inv - shift) // ≥ −2·inv − rounding > −700
		rz += E
		colZ[c] += E
		s[c] = float32(E)
	}
	return rz
}

func (q infoNCERows) rowSumFast(s []float32, hmC, hC, colZ []float64, hmr, hr float64) float64 {
	hmC, hC, colZ = hmC[:len(s)], hC[:len(s)], colZ[:len(s)]
	inv := q.inv
	var rz float64
	for c, v := range s {
		E := exp256(float64(v)*inv - hmr - hmC[c])
		rz += E * hC[c]
		colZ[c] += E * hr
		s[c] = float32(E)
	}
	return rz
}

func (q infoNCERows) rowCoef(s []float32, lseC, cC []float64, lseA, cA float64) {
	lseC, cC = lseC[:len(s)], cC[:len(s)]
	inv := q.inv
	for c, v := range s {
		l := float64(v) * inv
		e1 := exp256(l - lseA)
		e2 := exp256(l - lseC[c])
		s[c] = float32(cA*e1 + cC[c]*e2)
	}
}

// between computes every anchor's log-sum-exp over its negatives, then,
// per class, the positive pairs' terms from both ends: their loss, the
// anchors' sums A and the pairs' coefficients −(σ_ap + σ_pa)/τ.
func (k *infoNCETiles) between(e *tileEngine, _ int) {
	n, w, inv := e.n, e.w, 1/k.l.Temperature
	classes(e, func(lo, hi int) {
		if k.skipClass(e, lo, hi) {
			return
		}
		for a := lo; a < hi; a++ {
			for p := a + 1; p < hi; p++ {
				l := float64(w[a*n+p]) * inv
				t1, t2 := k.lse[a]-l, k.lse[p]-l
				sp1, g1 := softplusSigmoid(t1)
				sp2, g2 := softplusSigmoid(t2)
				k.loss[a] += sp1
				k.loss[p] += sp2
				k.coef[a] += g1
				k.coef[p] += g2
				w[a*n+p] = float32(-(g1 + g2) * inv)
			}
		}
		for a := lo; a < hi; a++ {
			k.coef[a] *= inv
		}
	})
	for a := 0; a < n; a = e.ctx.hi[a] {
		if m := e.ctx.hi[a] - a; m >= 2 && m < n {
			k.count += float64(m * (m - 1))
		}
	}
}

func (k *infoNCETiles) finish(*tileEngine) (sum, count float64, hrow []float64) {
	return k.lossSum(), k.count, nil
}
