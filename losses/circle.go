package losses

import (
	"math"

	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// circleDef is the circle loss's entry in the registry.
var circleDef = &def[Circle]{name: "circle", params: []param[Circle]{
	floatParam("m", 0.4, anyFinite, func(c *Circle) *float64 { return &c.M }),
	floatParam("gamma", 80, positive, func(c *Circle) *float64 { return &c.Gamma }),
	boolParam("normalize", true, func(c *Circle) *bool { return &c.Normalize }),
}}

var (
	_ Loss        = (*Circle)(nil)
	_ Float64Loss = (*Circle)(nil)
)

// Circle is the circle loss (Sun et al., CVPR 2020) on cosine similarities:
// per anchor with ≥1 positive and ≥1 negative,
// ℓ = softplus(LSE_n γ·α_n·(s_n − m) + LSE_p −γ·α_p·(s_p − (1−m))), with
// α_p = max(0, 1+m−s_p) and α_n = max(0, s_n+m) held constant in the
// gradient; mean over those anchors (pytorch-metric-learning CircleLoss).
// Stable for large γ (log-sum-exp, softplus). With normalize off, s is the
// raw dot product. Labels-only (pair form: see Contrastive).
type Circle struct {
	// M is the relaxation margin m, Gamma the scale γ.
	M, Gamma float64
	// Normalize L2-normalizes the rows first (cosine similarities).
	Normalize bool

	// cache keeps the tile engine's N×N buffer between evaluations.
	cache tileCache
}

// Name returns "circle".
func (c *Circle) Name() string { return circleDef.name }

// Params returns m, gamma and normalize.
func (c *Circle) Params() map[string]any { return circleDef.values(c) }

// Eval implements Loss. It runs in the tile engine when the N×N
// coefficient matrix fits in memory, on row blocks otherwise.
func (c *Circle) Eval(b Batch, grad blas32.General) float64 {
	return evalLabelled32(b, c.Normalize, func([]int) func(*pairCtx) tileKernel { return c.tiles }, c.kernel, grad, &c.cache)
}

// EvalFloat64 implements Float64Loss.
func (c *Circle) EvalFloat64(b Batch64, grad blas64.General) float64 {
	return evalLabelled64(b, c.Normalize, c.kernel, grad)
}

func (c *Circle) kernel(ctx *pairCtx) rowKernel { return &circleKernel{c: c, ctx: ctx} }

type circleKernel struct {
	c   *Circle
	ctx *pairCtx
	// alphaSim, when set (tests only), is an N×N similarity matrix the
	// weights α are computed from instead of s, so that a finite-difference
	// check sees them held constant as the gradient does.
	alphaSim []float64
}

func (k *circleKernel) usesH() bool { return false }

func (k *circleKernel) row(a int, s, w, h []float64, sc *scratch) (float64, float64) {
	n, lo, hi := k.ctx.n, k.ctx.lo[a], k.ctx.hi[a]
	if hi-lo < 2 || hi-lo == n {
		return 0, 0 // no positive or no negative
	}
	m, g := k.c.M, k.c.Gamma
	sc.d = grow(sc.d, n) // logits, then their exponentials
	sc.e = grow(sc.e, n) // ∂logit/∂s
	lg, dl := sc.d, sc.e
	as := s
	if k.alphaSim != nil {
		as = k.alphaSim[a*n : (a+1)*n]
		if perm := k.ctx.perm; perm != nil {
			// alphaSim is in the caller's row order.
			sc.f = grow(sc.f, n)
			for j := range n {
				sc.f[j] = k.alphaSim[perm[a]*n+perm[j]]
			}
			as = sc.f
		}
	}
	// Positives: the class range [lo,hi) without a; negatives: [0,lo) and [hi,n).
	mp, mn := math.Inf(-1), math.Inf(-1)
	for p := lo; p < hi; p++ {
		if p == a {
			continue
		}
		ap := max(0, 1+m-as[p])
		lg[p] = -g * ap * (s[p] - (1 - m))
		dl[p] = -g * ap
		if lg[p] > mp {
			mp = lg[p]
		}
	}
	negs := [2][2]int{{0, lo}, {hi, n}}
	for _, r := range negs {
		for q := r[0]; q < r[1]; q++ {
			an := max(0, as[q]+m)
			l := g * an * (s[q] - m)
			lg[q] = l
			dl[q] = g * an
			if l > mn {
				mn = l
			}
		}
	}
	var zp, zn float64 // the exponentials are kept in lg
	zp = k.ctx.expSum(lg[lo:a], lg[lo:a], 1, mp, zp)
	zp = k.ctx.expSum(lg[a+1:hi], lg[a+1:hi], 1, mp, zp)
	zn = k.ctx.expSum(lg[:lo], lg[:lo], 1, mn, zn)
	zn = k.ctx.expSum(lg[hi:], lg[hi:], 1, mn, zn)
	z := mp + math.Log(zp) + mn + math.Log(zn)
	sg := sigmoid(z)
	fp, fn := sg/zp, sg/zn
	for p := lo; p < hi; p++ {
		if p != a {
			w[p] += fp * lg[p] * dl[p]
		}
	}
	for _, r := range negs {
		for q := r[0]; q < r[1]; q++ {
			w[q] += fn * lg[q] * dl[q]
		}
	}
	return softplus(z), 1
}
