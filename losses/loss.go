// Package losses implements embfit's metric-learning losses with analytic
// gradients: contrastive, triplet, InfoNCE, center and circle, as defined
// normatively in DESIGN.md ("Definitions").
//
// Losses work on plain row-major float32 matrices (gonum's blas32.General)
// and integer labels; they never import onnx/ or pipeline/.
package losses

import "gonum.org/v1/gonum/blas/blas32"

// Batch is what a loss scores: raw embeddings and how their rows relate.
type Batch struct {
	// X holds the raw (unnormalized) embeddings, one row per item: N×D.
	X blas32.General
	// Labels gives the class of each row (len N) in the labelled form.
	Labels []int
	// Queries, when > 0, selects the pair form: rows [0,Q) are queries,
	// rows [Q,2Q) are their positives in the same order, and rows [2Q,N)
	// are explicit negatives shared by every query. Labels is nil then.
	Queries int
}

// Loss is a differentiable objective over a batch of embeddings.
//
// Eval returns the loss value of b and, when grad.Data is non-nil, writes
// ∂L/∂X into grad (same shape as b.X; overwritten, not accumulated). The
// gradient is with respect to the raw rows of X, through the optional L2
// normalization. A loss with nothing to average returns 0 and a zero
// gradient, never NaN.
type Loss interface {
	// Name is the loss name used in specs, e.g. "triplet".
	Name() string
	// Params returns every parameter by its spec key, defaults filled in.
	Params() map[string]any
	Eval(b Batch, grad blas32.General) float64
}

// Trainable is implemented by losses that carry learned state of their
// own, such as the training form of the center loss (a linear classifier
// and per-class centers).
//
// After Eval, WeightGrads holds ∂L/∂W for each matrix in Weights (same
// order and shapes); the trainer updates Weights with its optimizer and
// then calls Step, which applies any non-gradient state update (the
// centers' α rule) using the batch last seen by Eval.
type Trainable interface {
	Loss
	Weights() []blas32.General
	WeightGrads() []blas32.General
	Step()
}
