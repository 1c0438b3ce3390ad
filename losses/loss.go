package losses

import (
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

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
	// Weights returns the loss's own trainable matrices.
	Weights() []blas32.General
	// WeightGrads returns ∂L/∂W of the last Eval, one per Weights matrix.
	WeightGrads() []blas32.General
	// Step applies the non-gradient state update after the optimizer step.
	Step()
}

// TrainingLoss is implemented by a loss whose training form differs from
// the loss itself because it learns state of its own (the center loss: a
// classifier and per-class centers). A trainer asks every loss for it, so
// no training code names a loss: a loss that is a TrainingLoss is trained
// through TrainingForm(setup), any other loss as it is.
type TrainingLoss interface {
	Loss
	// TrainingForm returns the trainable form for a run described by s,
	// with the loss's parameters. It fails when s does not suit the loss
	// (for example no classes).
	TrainingForm(s TrainingSetup) (Trainable, error)
}

// TrainingSetup describes the run a training form is built for.
type TrainingSetup struct {
	// Classes is the number of classes of the labelled training data
	// (labels lie in [0, Classes)); 0 when the data are pairs.
	Classes int
	// Dim is the width of the embeddings the loss sees (the head's output).
	Dim int
	// Seed initialises the form's state deterministically.
	Seed uint64
}

// Batch64 is Batch in float64: the exact reference path. Every loss in this
// package also implements Float64Loss, which evaluates the same definition
// with float64 storage and float64 GEMMs (gonum's pure-Go blas64), so values
// and gradients can be checked against float64 references to ~1e-12. The
// float32 path (Loss.Eval) computes the Gram matrices with float32 BLAS and
// accumulates everything else in float64.
type Batch64 struct {
	// X holds the raw embeddings, N×D.
	X blas64.General
	// Labels and Queries have the meaning they have in Batch.
	Labels  []int
	Queries int
}

// Float64Loss is implemented by every loss of this package: EvalFloat64 is
// Eval on a float64 batch, writing ∂L/∂X into grad when grad.Data != nil.
type Float64Loss interface {
	EvalFloat64(b Batch64, grad blas64.General) float64
}

// batchLabels returns the labels a label-based loss uses for a batch of n
// rows. In the pair form (queries > 0) query i and positive i are class i
// and each explicit negative row is a class of its own. A length mismatch
// is a programmer error and panics.
func batchLabels(n int, labels []int, queries int) []int {
	if queries > 0 {
		if 2*queries > n {
			panic("losses: pair-form batch has fewer than 2·Queries rows")
		}
		l := make([]int, n)
		for i := range queries {
			l[i], l[queries+i] = i, i
		}
		for r := 2 * queries; r < n; r++ {
			l[r] = r - queries
		}
		return l
	}
	if len(labels) != n {
		panic("losses: len(Labels) does not match the rows of X")
	}
	return labels
}
