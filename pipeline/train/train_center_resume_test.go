package train

import (
	"context"
	"reflect"
	"testing"

	"github.com/embfit/embfit/losses"
)

// runCenterTrainer trains on labelled data with the center loss (a
// losses.Trainable with checkpointed centers), cancelling after
// cancelAfter steps when > 0.
func runCenterTrainer(t *testing.T, dir string, resume bool, cancelAfter int) (*Result, *losses.CenterTrainer, error) {
	t.Helper()
	emb, labels := synthLabelled(5, 300, 10)
	demb, dlabels := synthLabelled(6, 100, 10)
	center, err := losses.NewCenterTrainer(losses.Center{Alpha: 0.5, Lambda: 0.01}, 10, 16, 1)
	if err != nil {
		t.Fatal(err)
	}
	s := testSettings()
	s.Losses = []string{"center"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	steps := 0
	tr := &Trainer{Settings: s, Data: Data{Emb: emb, Labels: labels}, Dev: &EvalSet{Emb: demb, Labels: dlabels},
		Losses: []WeightedLoss{{Spec: "center", Weight: 1, Loss: center}},
		Dir:    dir, Resume: resume,
		Progress: func(Progress) {
			steps++
			if cancelAfter > 0 && steps == cancelAfter {
				cancel()
			}
		}}
	res, err := tr.Run(ctx)
	return res, center, err
}

// TestTrainerResumeWithCenterLossIsBitIdentical interrupts a center-loss
// run mid-epoch and resumes it: head, classifier and centers must equal an
// uninterrupted run's bit for bit (the centers travel in the checkpoint
// through CenterTrainer's BinaryMarshaler).
func TestTrainerResumeWithCenterLossIsBitIdentical(t *testing.T) {
	full, fullCenter, err := runCenterTrainer(t, t.TempDir(), false, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, _, err := runCenterTrainer(t, dir, true, 9); err != context.Canceled {
		t.Fatalf("interrupted run: %v", err)
	}
	resumed, resumedCenter, err := runCenterTrainer(t, dir, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(copyParams(full.Head.Params()), copyParams(resumed.Head.Params())) {
		t.Error("resumed head differs from the uninterrupted one")
	}
	if !reflect.DeepEqual(copyParams(fullCenter.Weights()), copyParams(resumedCenter.Weights())) {
		t.Error("resumed classifier differs from the uninterrupted one")
	}
	a, _ := fullCenter.MarshalBinary()
	b, _ := resumedCenter.MarshalBinary()
	if !reflect.DeepEqual(a, b) {
		t.Error("resumed centers differ from the uninterrupted ones")
	}
}
