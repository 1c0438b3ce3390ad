package train

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/embfit/embfit/internal/linalg"
)

// repeatedAnchorPairs builds pair data in which a few anchors occur in
// many rows (each with its own positive), so that how many batches an
// epoch packs depends on the shuffle: a batch holds each text once, and
// the rows of a repeated anchor wait for later batches.
func repeatedAnchorPairs(n, heavy, repeats int) (Data, int) {
	r := rand.New(rand.NewPCG(5, 6))
	var rows []PairRow
	next := 0
	newText := func() int { next++; return next - 1 }
	for range heavy {
		a := newText()
		for range repeats {
			rows = append(rows, PairRow{Anchor: a, Positive: newText()})
		}
	}
	for range n {
		rows = append(rows, PairRow{Anchor: newText(), Positive: newText()})
	}
	emb := linalg.NewMatrix(next, 16)
	for i := range emb.Data {
		emb.Data[i] = float32(r.NormFloat64())
	}
	return Data{Emb: emb, Pairs: rows}, next
}

// TestTrainerStepsPerEpochFollowEachEpoch trains on data whose epochs
// pack different numbers of batches: every epoch must run exactly its own
// batches (no index past the end, none skipped), and the schedule must
// span the real total number of steps.
func TestTrainerStepsPerEpochFollowEachEpoch(t *testing.T) {
	data, _ := repeatedAnchorPairs(60, 2, 6)
	varied := 0
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			s := testSettings()
			s.Seed, s.Epochs, s.BatchSize, s.Negatives = seed, 4, 16, -1
			s.Optim.Schedule, s.Optim.WarmupRatio = ScheduleLinear, -1
			// The batches each epoch draws, as the trainer draws them.
			want, total := make([]int, s.Epochs), 0
			for e := range s.Epochs {
				want[e] = len(PairBatches(data.Pairs, s.BatchSize, 0, rand.New(rand.NewPCG(seed, uint64(e)+1))))
				total += want[e]
			}
			for _, w := range want[1:] {
				if w != want[0] {
					varied++
					break
				}
			}
			var perEpoch []int
			tr := &Trainer{Settings: s, Data: data,
				Losses: []WeightedLoss{{Spec: "test-ntxent", Weight: 1, Loss: newTestNTXent()}},
				Progress: func(p Progress) {
					if p.EpochDone {
						perEpoch = append(perEpoch, p.Steps)
					}
				}}
			res, err := tr.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(perEpoch) != fmt.Sprint(want) {
				t.Errorf("steps per epoch %v, want %v", perEpoch, want)
			}
			last := res.History[len(res.History)-1]
			if last.Steps != total {
				t.Errorf("%d steps in all, want %d", last.Steps, total)
			}
			// A linear schedule over the real total ends at lr·1/total
			// on the last step (t = total−1).
			lr, _ := s.Optim.WithDefaults()
			if wantLR := lr.LR / float64(total); !nearlyEqual(last.LR, wantLR, 1e-12) {
				t.Errorf("last learning rate %g, want %g (schedule over %d steps)", last.LR, wantLR, total)
			}
		})
	}
	if varied == 0 {
		t.Fatal("no seed gave epochs of different batch counts; the test data does not exercise the case")
	}
}

func nearlyEqual(a, b, tol float64) bool { return a-b <= tol && b-a <= tol }
