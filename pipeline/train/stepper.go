package train

import (
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/losses"
	"github.com/embfit/embfit/pipeline/head"
)

// Stepper turns one batch into the weighted training loss and the
// gradient of every trainable parameter: it gathers the batch's rows of
// the cached embeddings, runs the head, sums the weighted losses' values
// and gradients, and back-propagates through the head. The parameters are
// the head's, then the weights of each losses.Trainable in loss order. Its
// buffers are reused, so a step allocates nothing once they have grown.
type Stepper struct {
	head       head.Head
	losses     []WeightedLoss
	data       Data
	trainables []losses.Trainable
	tw         []float64 // the weight of each trainable's loss
	params     []blas32.General
	grads      []blas32.General

	in, out, grad, tmp blas32.General
	labels, rows       []int
}

// NewStepper returns the stepper of head h with the weighted losses ls on
// data d.
func NewStepper(h head.Head, ls []WeightedLoss, d Data) *Stepper {
	s := &Stepper{head: h, losses: ls, data: d, params: h.Params()}
	for _, wl := range ls {
		if tr, ok := wl.Loss.(losses.Trainable); ok {
			s.trainables = append(s.trainables, tr)
			s.tw = append(s.tw, wl.Weight)
			s.params = append(s.params, tr.Weights()...)
		}
	}
	s.grads = make([]blas32.General, len(s.params))
	for i, p := range s.params {
		s.grads[i] = linalg.NewMatrix(p.Rows, p.Cols)
	}
	return s
}

// Params returns every trainable parameter (sharing storage).
func (s *Stepper) Params() []blas32.General { return s.params }

// Grads returns the gradient of each of Params as left by the last Step.
func (s *Stepper) Grads() []blas32.General { return s.grads }

// Trainables returns the losses with trainable state, in loss order.
func (s *Stepper) Trainables() []losses.Trainable { return s.trainables }

// Step runs one forward/backward pass for a batch: labelled rows (indices
// into Data.Emb with Data.Labels) or, when pb is not nil, a pair batch. It
// leaves the gradients in Grads and returns the weighted loss.
func (s *Stepper) Step(rows []int, pb *PairBatch) float64 {
	var batch losses.Batch
	if pb != nil {
		q := len(pb.Anchors)
		s.rows = append(append(append(s.rows[:0], pb.Anchors...), pb.Positives...), pb.Negatives...)
		batch.Queries = q
	} else {
		s.rows = append(s.rows[:0], rows...)
		s.labels = s.labels[:0]
		for _, r := range rows {
			s.labels = append(s.labels, s.data.Labels[r])
		}
		batch.Labels = s.labels
	}
	hs := s.head.Settings()
	n := len(s.rows)
	s.in = linalg.Ensure(s.in, n, hs.In)
	s.out = linalg.Ensure(s.out, n, hs.Out)
	s.grad = linalg.Ensure(s.grad, n, hs.Out)
	s.tmp = linalg.Ensure(s.tmp, n, hs.Out)
	linalg.Gather(s.in, s.data.Emb, s.rows)
	s.head.Forward(s.out, s.in)
	batch.X = s.out
	clear(s.grad.Data)
	var total float64
	for _, wl := range s.losses {
		v := wl.Loss.Eval(batch, s.tmp)
		total += wl.Weight * v
		for i, g := range s.tmp.Data {
			s.grad.Data[i] += float32(wl.Weight * float64(g))
		}
	}
	s.head.Backward(blas32.General{}, s.grad)
	hg := s.head.Grads()
	k := 0
	for ; k < len(hg); k++ {
		copy(s.grads[k].Data, hg[k].Data)
	}
	for i, tr := range s.trainables {
		for _, g := range tr.WeightGrads() {
			for j, v := range g.Data {
				s.grads[k].Data[j] = float32(s.tw[i] * float64(v))
			}
			k++
		}
	}
	return total
}
