package losses

import "math"

// tiles returns the circle loss in the tile engine's form.
func (c *Circle) tiles(*pairCtx) tileKernel {
	return &circleTiles{c: c, negLSETiles: negLSETiles{rows: circleRows{g: c.Gamma, m: c.M},
		fastRange: fastRange, constRange: constRange}}
}

// circleTiles is the circle loss for the tile engine (see negLSETiles):
// a negative pair's logit is γ·α_n·(s−m) with α_n = max(0, s+m) from both
// ends, and l' = γ·α_n (α held constant). Between the sweeps, each
// class's positive pairs give each anchor's log-sum-exp over its
// positives, lseP; with z = lseP + lse the anchor's loss is softplus(z)
// and its factor c_a = σ(z) (see circleKernel.row).
type circleTiles struct {
	c *Circle
	negLSETiles
	mp, lseP []float64 // per anchor: largest positive logit, then log-sum-exp
	count    float64
}

// circleRows are the circle loss's loops over negatives.
type circleRows struct{ g, m float64 }

// bounds uses that the logit is 0 for s ≤ −m and γ(s²−m²) above: its
// extremes on [−1, 1] are at the ends, at s = 0 or at the kink s = −m.
func (q circleRows) bounds() (lo, hi float64) {
	f := func(s float64) float64 { return q.g * max(0, s+q.m) * (s - q.m) }
	lo, hi = min(f(-1), f(1), f(0)), max(f(-1), f(1))
	if q.m >= -1 && q.m <= 1 {
		lo = min(lo, 0)
	}
	return lo, hi
}

func (q circleRows) rowMax(s []float32, colM []float64, rm float64) float64 {
	colM = colM[:len(s)]
	g, m := q.g, q.m
	for c, v := range s {
		x := float64(v)
		an := x + m
		if !(an > 0) {
			an = 0
		}
		l := g * an * (x - m)
		if l > rm {
			rm = l
		}
		if l > colM[c] {
			colM[c] = l
		}
	}
	return rm
}

// (The exponentials are written out as in infoNCERows.)

func (q circleRows) rowSum(s []float32, colM, colZ []float64, mr float64) float64 {
	colM, colZ = colM[:len(s)], colZ[:len(s)]
	g, m := q.g, q.m
	var rz float64
	for c, v := range s {
		x := float64(v)
		an := x + m
		if !(an > 0) {
			an = 0
		}
		l := g * an * (x - m)
		rz += exp256(l - mr)
		colZ[c] += exp256(l - colM[c])
	}
	return rz
}

func (q circleRows) rowSumConst(s []float32, colZ []float64, shift float64) float64 {
	colZ = colZ[:len(s)]
	g, m := q.g, q.m
	var rz float64
	for c, v := range s {
		xs := float64(v)
		an := xs + m
		if !(an > 0) {
			an = 0
		}
		dl := g * an
		E := exp256In(dl*(xs-m) - shift) // ≥ −constRange − rounding > −700
		rz += E
		colZ[c] += E
		s[c] = float32(dl * E)
	}
	return rz
}

func (q circleRows) rowSumFast(s []float32, hmC, hC, colZ []float64, hmr, hr float64) float64 {
	hmC, hC, colZ = hmC[:len(s)], hC[:len(s)], colZ[:len(s)]
	g, m := q.g, q.m
	var rz float64
	for c, v := range s {
		xs := float64(v)
		an := xs + m
		if !(an > 0) {
			an = 0
		}
		dl := g * an
		E := exp256(dl*(xs-m) - hmr - hmC[c])
		rz += E * hC[c]
		colZ[c] += E * hr
		s[c] = float32(dl * E)
	}
	return rz
}

func (q circleRows) rowCoef(s []float32, lseC, cC []float64, lseA, cA float64) {
	lseC, cC = lseC[:len(s)], cC[:len(s)]
	g, m := q.g, q.m
	for c, v := range s {
		xs := float64(v)
		an := xs + m
		if !(an > 0) {
			an = 0
		}
		dl := g * an
		l := dl * (xs - m)
		e1 := exp256(l - lseA)
		e2 := exp256(l - lseC[c])
		s[c] = float32(dl * (cA*e1 + cC[c]*e2))
	}
}

func (k *circleTiles) prepare(e *tileEngine) {
	k.negLSETiles.prepare(e)
	k.mp, k.lseP = make([]float64, e.n), make([]float64, e.n)
}

// posLogit returns the logit −γ·α_p·(s − (1−m)) of a positive pair with
// similarity s, α_p = max(0, 1+m−s), and its derivative −γ·α_p.
func (k *circleTiles) posLogit(s float64) (l, dl float64) {
	g, m := k.c.Gamma, k.c.M
	ap := max(0, 1+m-s)
	return -g * ap * (s - (1 - m)), -g * ap
}

// between computes every anchor's log-sum-exp over its negatives, then,
// per class, over its positives (the class block of W, each pair from
// both ends), the anchors' losses and factors σ(z), and the positive
// pairs' coefficients.
func (k *circleTiles) between(e *tileEngine, _ int) {
	n, w := e.n, e.w
	classes(e, func(lo, hi int) {
		if k.skipClass(e, lo, hi) {
			return
		}
		mp := k.mp[lo:hi]
		for i := range mp {
			mp[i] = math.Inf(-1)
		}
		for a := lo; a < hi; a++ {
			for p := a + 1; p < hi; p++ {
				l, _ := k.posLogit(float64(w[a*n+p]))
				mp[a-lo], mp[p-lo] = max(mp[a-lo], l), max(mp[p-lo], l)
			}
		}
		zp := k.lseP[lo:hi] // Σ e^(l−mp), then lseP
		for a := lo; a < hi; a++ {
			for p := a + 1; p < hi; p++ {
				l, _ := k.posLogit(float64(w[a*n+p]))
				zp[a-lo] += fastExp(l - mp[a-lo])
				zp[p-lo] += fastExp(l - mp[p-lo])
			}
		}
		for a := lo; a < hi; a++ {
			k.lseP[a] = k.mp[a] + math.Log(k.lseP[a])
			z := k.lseP[a] + k.lse[a]
			k.loss[a], k.coef[a] = softplusSigmoid(z)
		}
		for a := lo; a < hi; a++ {
			for p := a + 1; p < hi; p++ {
				l, dl := k.posLogit(float64(w[a*n+p]))
				w[a*n+p] = float32(dl * (k.coef[a]*fastExp(l-k.lseP[a]) + k.coef[p]*fastExp(l-k.lseP[p])))
			}
		}
	})
	for a := 0; a < n; a = e.ctx.hi[a] {
		if m := e.ctx.hi[a] - a; m >= 2 && m < n {
			k.count += float64(m)
		}
	}
}

func (k *circleTiles) finish(*tileEngine) (sum, count float64, hrow []float64) {
	return k.lossSum(), k.count, nil
}
