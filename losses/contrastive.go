package losses

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// ContrastiveSettings configures the contrastive loss. The zero value
// means the defaults of DESIGN.md.
type ContrastiveSettings struct {
	// Margin is the negative margin (default 1.0).
	Margin *float64
	// PosMargin is the positive margin (default 0).
	PosMargin float64
	// Normalize L2-normalizes the rows first (default true).
	Normalize *bool
}

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
}

// NewContrastive returns a contrastive loss with s's settings, defaults filled in.
func NewContrastive(s ContrastiveSettings) (*Contrastive, error) {
	c := &Contrastive{Margin: orFloat(s.Margin, 1.0), PosMargin: s.PosMargin, Normalize: orBool(s.Normalize, true)}
	if c.Margin < 0 || c.PosMargin < 0 {
		return nil, fmt.Errorf("contrastive: margin and pos_margin must be ≥ 0")
	}
	return c, nil
}

// Name returns "contrastive".
func (c *Contrastive) Name() string { return "contrastive" }

// Params returns margin, pos_margin and normalize.
func (c *Contrastive) Params() map[string]any {
	return map[string]any{"margin": c.Margin, "pos_margin": c.PosMargin, "normalize": c.Normalize}
}

// Eval implements Loss.
func (c *Contrastive) Eval(b Batch, grad blas32.General) float64 {
	l := batchLabels(b.X.Rows, b.Labels, b.Queries)
	return evalPairwise32(b.X, l, 0, c.Normalize, c.kernel, grad)
}

// EvalFloat64 implements Float64Loss.
func (c *Contrastive) EvalFloat64(b Batch64, grad blas64.General) float64 {
	l := batchLabels(b.X.Rows, b.Labels, b.Queries)
	return evalPairwise64(b.X, l, 0, c.Normalize, c.kernel, grad)
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
