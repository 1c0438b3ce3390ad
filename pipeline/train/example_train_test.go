package train_test

import (
	"context"
	"fmt"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/losses"
	"github.com/embfit/embfit/pipeline/head"
	"github.com/embfit/embfit/pipeline/train"
)

// Train a linear head with InfoNCE on pair data held as cached embeddings
// (one row per distinct text), evaluating on a dev split each epoch.
func ExampleTrainer() {
	pairs := func(seed uint64, n int) (blas32.General, []train.PairRow) {
		r := rand.New(rand.NewPCG(seed, 1))
		emb := linalg.NewMatrix(2*n, 8)
		var rows []train.PairRow
		for i := range n {
			for k := range 8 {
				z, noise := r.NormFloat64(), 0.1
				if k >= 2 { // dimensions 2..7 are noise
					z, noise = 0, 0.8
				}
				emb.Data[2*i*8+k] = float32(z + noise*r.NormFloat64())
				emb.Data[(2*i+1)*8+k] = float32(z + noise*r.NormFloat64())
			}
			rows = append(rows, train.PairRow{Anchor: 2 * i, Positive: 2*i + 1})
		}
		return emb, rows
	}
	trainEmb, trainRows := pairs(1, 500)
	devEmb, devRows := pairs(2, 200)
	infonce, _ := losses.Parse("infonce:temperature=0.1")
	t := &train.Trainer{
		Settings: train.Settings{
			Head:   head.Settings{In: 8},
			Optim:  train.OptimSettings{LR: 0.05},
			Epochs: 8, BatchSize: 32, Seed: 1, Patience: -1,
		},
		Losses: []train.WeightedLoss{{Spec: "infonce", Weight: 1, Loss: infonce}},
		Data:   train.Data{Emb: trainEmb, Pairs: trainRows},
		Dev:    train.NewPairEvalSet(devEmb, devRows),
	}
	res, err := t.Run(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	before, after := res.History[0].Dev.MAPAtR, res.History[res.BestEpoch].Dev.MAPAtR
	fmt.Println("epochs:", len(res.History)-1, "improved:", after > before+0.1)
	// Output: epochs: 8 improved: true
}

// An m-per-class sampler yields batches of P classes × K rows.
func ExampleMPerClassSampler() {
	labels := []int{0, 0, 0, 1, 1, 1, 2, 2, 2, 2}
	s, _ := train.NewMPerClassSampler(labels, 2, 2)
	batches := s.Epoch(rand.New(rand.NewPCG(1, 1)))
	fmt.Println(len(batches), "batches of", len(batches[0]), "rows")
	// Output: 3 batches of 4 rows
}

// AdamW with warm-up and cosine decay over 100 steps.
func ExampleOptimizer() {
	w := blas32.General{Rows: 1, Cols: 2, Stride: 2, Data: []float32{1, -1}}
	g := blas32.General{Rows: 1, Cols: 2, Stride: 2, Data: []float32{0.5, -0.5}}
	opt, _ := train.NewOptimizer(train.OptimSettings{Name: train.OptimAdamW, LR: 0.1}, []blas32.General{w}, 100)
	fmt.Printf("lr at steps 0, 10, 55, 99: %.3f %.3f %.3f %.4f\n", opt.LR(0), opt.LR(10), opt.LR(55), opt.LR(99))
	opt.Step([]blas32.General{g})
	fmt.Printf("after one step: %.4f %.4f\n", w.Data[0], w.Data[1])
	// Output:
	// lr at steps 0, 10, 55, 99: 0.010 0.100 0.050 0.0000
	// after one step: 0.9899 -0.9899
}
