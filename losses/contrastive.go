package losses

import (
	"math"

	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// contrastiveDef is the contrastive loss's entry in the registry.
var contrastiveDef = &def[Contrastive]{name: "contrastive", params: []param[Contrastive]{
	floatParam("margin", 1, nonNegative, func(c *Contrastive) *float64 { return &c.Margin }),
	floatParam("pos_margin", 0, nonNegative, func(c *Contrastive) *float64 { return &c.PosMargin }),
	boolParam("normalize", true, func(c *Contrastive) *bool { return &c.Normalize }),
}}

var (
	_ Loss        = (*Contrastive)(nil)
	_ Float64Loss = (*Contrastive)(nil)
)

// Contrastive is the Hadsell–Chopra–LeCun (2006) contrastive loss: the
// mean over all unordered pairs i<j of ½·max(0, d−pos_margin)² for
// positives and ½·max(0, margin−d)² for negatives, with d the Euclidean
// distance between the (normalized) rows. Labels-only: a pair-form batch
// is scored with query i and positive i as class i and every explicit
// negative as a class of its own.
type Contrastive struct {
	// Margin is the negative margin, PosMargin the positive one.
	Margin, PosMargin float64
	// Normalize L2-normalizes the rows before measuring distances.
	Normalize bool

	// cache keeps the tile engine's N×N buffer between evaluations.
	cache tileCache
}

// Name returns "contrastive".
func (c *Contrastive) Name() string { return contrastiveDef.name }

// Params returns margin, pos_margin and normalize.
func (c *Contrastive) Params() map[string]any { return contrastiveDef.values(c) }

// Eval implements Loss.
func (c *Contrastive) Eval(b Batch, grad blas32.General) float64 {
	return evalLabelled32(b, c.Normalize, func([]int) func(*pairCtx) tileKernel { return c.tiles }, c.kernel, grad, &c.cache)
}

// EvalFloat64 implements Float64Loss.
func (c *Contrastive) EvalFloat64(b Batch64, grad blas64.General) float64 {
	return evalLabelled64(b, c.Normalize, c.kernel, grad)
}

func (c *Contrastive) kernel(ctx *pairCtx) rowKernel { return &contrastiveKernel{c: c, ctx: ctx} }

type contrastiveKernel struct {
	c   *Contrastive
	ctx *pairCtx
}

func (k *contrastiveKernel) usesH() bool { return true }

// row sums over the pairs (a,j) with j > a, so each unordered pair is
// visited once; W is upper triangular and the engine's W + Wᵀ gives the
// gradient of both ends. The counts add up to N(N−1)/2.
func (k *contrastiveKernel) row(a int, s, w, h []float64, sc *scratch) (float64, float64) {
	n := k.ctx.n
	if a >= n-1 {
		return 0, 0
	}
	// Rows are sorted by class: the positives after a are (a, hi), the
	// negatives after a are [hi, n).
	hi := k.ctx.hi[a]
	sq := k.ctx.sq[:n]
	sqa := sq[a]
	s, h = s[:n], h[:n]
	pm, nm := k.c.PosMargin, k.c.Margin
	var sum float64
	for j := a + 1; j < hi; j++ {
		d := math.Sqrt(max(0, sqa+sq[j]-2*s[j]))
		if t := d - pm; t > 0 {
			sum += 0.5 * t * t
			if d > 0 {
				h[j] += t / (2 * d)
			}
		}
	}
	for j := hi; j < n; j++ {
		d := math.Sqrt(max(0, sqa+sq[j]-2*s[j]))
		if t := d - nm; t < 0 {
			sum += 0.5 * t * t
			if d > 0 {
				h[j] += t / (2 * d)
			}
		}
	}
	return sum, float64(n - 1 - a)
}

// tiles returns the contrastive loss in the tile engine's form.
func (c *Contrastive) tiles(ctx *pairCtx) tileKernel { return &contrastiveTiles{c: c} }

// contrastiveTiles is the contrastive loss for the tile engine: each
// unordered pair is one term, so a pair's coefficient is simply
// −2·∂ℓ/∂d² for both W[a][j] and W[j][a].
type contrastiveTiles struct {
	c       *Contrastive
	sum, hs []float64 // segments: loss (by row anchor), Σ H
}

func (k *contrastiveTiles) passes() int              { return 1 }
func (k *contrastiveTiles) between(*tileEngine, int) {}

func (k *contrastiveTiles) prepare(e *tileEngine) {
	k.sum = e.newPart()
	if e.needH() {
		k.hs = e.newPart()
	}
}

func (k *contrastiveTiles) tile(e *tileEngine, _ int, t *tileTask) {
	n, w, sq, cls := e.n, e.w, e.ctx.sq, e.ctx.hi
	pm, nm := k.c.PosMargin, k.c.Margin
	sumR := e.slot(k.sum, t.ti, t.tj)
	var hR, hC []float64
	if k.hs != nil {
		hR, hC = e.slot(k.hs, t.ti, t.tj), e.slot(k.hs, t.tj, t.ti)
	}
	sqQ, clsQ := sq[t.q0:t.q1], cls[t.q0:t.q1]
	for r := range t.p1 - t.p0 {
		a := t.p0 + r
		sqa, ca := sq[a], cls[a]
		c0 := 0
		if t.diag {
			c0 = r + 1
		}
		row := w[a*n+t.q0 : a*n+t.q1]
		var rs, rh float64
		for c := c0; c < len(row); c++ {
			d := math.Sqrt(max(0, sqa+sqQ[c]-2*float64(row[c])))
			var x float64
			if clsQ[c] == ca {
				x = max(0, d-pm)
			} else {
				x = min(0, d-nm)
			}
			var h float64
			if x != 0 {
				rs += 0.5 * x * x
				if d > 0 {
					h = x / (2 * d)
				}
			}
			v := float32(-2 * h)
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
}

func (k *contrastiveTiles) finish(e *tileEngine) (sum, count float64, hrow []float64) {
	for _, v := range e.reduce(k.sum) {
		sum += v
	}
	if k.hs != nil {
		hrow = e.reduce(k.hs)
	}
	n := float64(e.n)
	return sum, n * (n - 1) / 2, hrow
}
