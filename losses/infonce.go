package losses

import (
	"math"

	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// infonceDef is the InfoNCE loss's entry in the registry.
var infonceDef = &def[InfoNCE]{name: "infonce", params: []param[InfoNCE]{
	floatParam("temperature", 0.07, positive, func(l *InfoNCE) *float64 { return &l.Temperature }),
	boolParam("symmetric", false, func(l *InfoNCE) *bool { return &l.Symmetric }),
	boolParam("normalize", true, func(l *InfoNCE) *bool { return &l.Normalize }),
}}

var (
	_ Loss        = (*InfoNCE)(nil)
	_ Float64Loss = (*InfoNCE)(nil)
)

// InfoNCE is the InfoNCE / NT-Xent loss with temperature τ, in two forms:
//
// Labelled (Batch.Queries == 0, NT-Xent, equal to pytorch-metric-learning's
// NTXentLoss): for each ordered positive pair (a,p),
// ℓ = −log(e^{s_ap/τ} / (e^{s_ap/τ} + Σ_{n: y_n≠y_a} e^{s_an/τ})), mean over
// positive pairs (anchors without a negative contribute nothing).
//
// Pair form (Batch.Queries = Q > 0): the candidates of query i are all
// positive rows [Q,2Q) then the explicit negatives [2Q,N); ℓ_i is the
// cross-entropy of s(q_i,·)/τ with target positive i, mean over i. With
// Symmetric the positive→query direction (candidates: the Q queries,
// target query i) is added and the two means are averaged, as
// sentence-transformers' MultipleNegativesSymmetricRankingLoss with scale 1/τ.
//
// Everything uses log-sum-exp. The labelled form runs in the tile engine
// (the upper half of the Gram matrix, one exponential per pair) when its N×N float32 coefficient matrix fits in 256 MiB, and on row
// blocks of the Gram matrix otherwise, so memory stays O(blockRows·N) even
// at N = 65,536; the pair form computes only the Q×(N−Q) query×candidate
// similarities (plus the Q×Q positive×query ones with Symmetric), also in
// row blocks.
type InfoNCE struct {
	// Temperature is τ > 0.
	Temperature float64
	// Symmetric adds the positive→query direction in the pair form.
	Symmetric bool
	// Normalize L2-normalizes the rows first (cosine similarities).
	Normalize bool

	// cache keeps the tile engine's N×N buffer between evaluations.
	cache tileCache
}

// Name returns "infonce".
func (l *InfoNCE) Name() string { return infonceDef.name }

// Params returns temperature, symmetric and normalize.
func (l *InfoNCE) Params() map[string]any { return infonceDef.values(l) }

// Eval implements Loss. The pair form computes only the query×candidate
// similarities it needs; the labelled form runs in the tile engine when
// the N×N coefficient matrix fits in memory, and on row blocks of the full
// Gram matrix otherwise.
func (l *InfoNCE) Eval(b Batch, grad blas32.General) float64 {
	if b.Queries > 0 {
		batchLabels(b.X.Rows, nil, b.Queries) // validates the shape
		return l.evalPairs32(b.X, b.Queries, grad)
	}
	lab := batchLabels(b.X.Rows, b.Labels, 0)
	if tileFits(b.X.Rows) {
		return evalTiles32Cached(b.X, lab, l.Normalize, l.tiles, grad, &l.cache)
	}
	return evalPairwise32(b.X, lab, 0, l.Normalize, l.kernel, grad)
}

// EvalFloat64 implements Float64Loss.
func (l *InfoNCE) EvalFloat64(b Batch64, grad blas64.General) float64 {
	if b.Queries > 0 {
		batchLabels(b.X.Rows, nil, b.Queries) // validates the shape
		return l.evalPairs64(b.X, b.Queries, grad)
	}
	lab := batchLabels(b.X.Rows, b.Labels, 0)
	return evalPairwise64(b.X, lab, 0, l.Normalize, l.kernel, grad)
}

func (l *InfoNCE) kernel(ctx *pairCtx) rowKernel { return &infoNCEKernel{l: l, ctx: ctx} }

type infoNCEKernel struct {
	l   *InfoNCE
	ctx *pairCtx
}

func (k *infoNCEKernel) usesH() bool { return false }

// row evaluates anchor a of a labelled batch (NT-Xent).
func (k *infoNCEKernel) row(a int, s, w, h []float64, sc *scratch) (float64, float64) {
	inv := 1 / k.l.Temperature
	n, lo, hi := k.ctx.n, k.ctx.lo[a], k.ctx.hi[a]
	if hi-lo < 2 || hi-lo == n {
		return 0, 0 // no positive or no negative
	}
	// LSE over the negatives, rows [0,lo) and [hi,n). max(s)·inv equals
	// max(s·inv) since inv > 0.
	mx := maxOf(maxOf(math.Inf(-1), s[:lo]), s[hi:]) * inv
	// Each exponential is computed once: stored in w[q] and rescaled below.
	z := k.ctx.expSum(w[:lo], s[:lo], inv, mx, 0)
	z = k.ctx.expSum(w[hi:], s[hi:], inv, mx, z)
	lse := mx + math.Log(z)
	var sum, A float64
	for p := lo; p < hi; p++ {
		if p == a {
			continue
		}
		t := lse - s[p]*inv
		sum += softplus(t)
		g := sigmoid(t)
		A += g
		w[p] -= g * inv
	}
	f := A * inv / z
	scaleBy(w[:lo], f)
	scaleBy(w[hi:], f)
	return sum, float64(hi - lo - 1)
}
