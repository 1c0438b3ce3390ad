package pipeline

import (
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/losses"
)

// BenchmarkTrainStep measures one training step as the trainer runs it:
// gather, head forward, loss value and gradient, head backward, AdamW
// update. Batch 256 pairs, D=100, linear head, pair-form InfoNCE with 3
// mined negatives per pair (768 extra candidates).
func BenchmarkTrainStep(b *testing.B) {
	const q, d, negs = 256, 100, 3
	r := rand.New(rand.NewPCG(1, 2))
	emb := randMat(r, q*(2+negs), d)
	pb := PairBatch{}
	for i := range q {
		pb.Anchors = append(pb.Anchors, i)
		pb.Positives = append(pb.Positives, q+i)
	}
	for i := 2 * q; i < emb.Rows; i++ {
		pb.Negatives = append(pb.Negatives, i)
	}
	head, _ := NewHead(HeadSettings{In: d}, 1)
	loss, err := losses.Parse("infonce")
	if err != nil {
		b.Fatal(err)
	}
	tr := &Trainer{Losses: []WeightedLoss{{Spec: "infonce", Weight: 1, Loss: loss}}, Data: TrainData{Emb: emb}}
	params := head.Params()
	grads := make([]blas32.General, len(params))
	for i, p := range params {
		grads[i] = linalg.NewMatrix(p.Rows, p.Cols)
	}
	opt, _ := NewOptimizer(OptimSettings{}, params, b.N+1)
	var buf stepBuffers
	b.ResetTimer()
	for range b.N {
		tr.step(&buf, head, nil, &pb, grads, nil, nil)
		opt.Step(grads)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
}
