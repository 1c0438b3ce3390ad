package train

import (
	"math/rand/v2"
	"testing"

	"github.com/embfit/embfit/losses"
	"github.com/embfit/embfit/pipeline/head"
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
	h, _ := head.New(head.Settings{In: d}, 1)
	loss, err := losses.Parse("infonce")
	if err != nil {
		b.Fatal(err)
	}
	st := NewStepper(h, []WeightedLoss{{Spec: "infonce", Weight: 1, Loss: loss}}, Data{Emb: emb})
	opt, _ := NewOptimizer(OptimSettings{}, st.Params(), b.N+1)
	b.ResetTimer()
	for range b.N {
		st.Step(nil, &pb)
		opt.Step(st.Grads())
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
}
