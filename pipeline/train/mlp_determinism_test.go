package train

import (
	"context"
	"errors"
	"reflect"
	"runtime"
	"testing"

	"github.com/embfit/embfit/losses"
)

// runMLP trains an MLP head wide enough that every kernel splits its work
// into several parallel blocks (batch rows, hidden columns, parameters),
// with the real pair-form InfoNCE; cancelAfter > 0 interrupts it after
// that many steps.
func runMLP(t *testing.T, dir string, resume bool, cancelAfter int) (*Result, error) {
	t.Helper()
	emb, rows := synthPairs(3, 400)
	demb, drows := synthPairs(4, 100)
	s := testSettings()
	s.Head.Kind, s.Head.Hidden, s.Head.Normalize = "mlp", 600, false
	s.Epochs, s.BatchSize, s.Losses = 2, 128, []string{"infonce"}
	loss, err := losses.Parse("infonce")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	steps := 0
	tr := &Trainer{Settings: s, Data: Data{Emb: emb, Pairs: rows}, Dev: NewPairEvalSet(demb, drows),
		Losses: []WeightedLoss{{Spec: "infonce", Weight: 1, Loss: loss}}, Dir: dir, Resume: resume,
		Progress: func(p Progress) {
			if !p.EpochDone {
				steps++
			}
			if cancelAfter > 0 && steps == cancelAfter {
				cancel()
			}
		}}
	return tr.Run(ctx)
}

func TestMLPTrainingBitIdenticalAcrossThreadsAndResume(t *testing.T) {
	var ref [][]float32
	for _, procs := range []int{1, 2, 5} {
		old := runtime.GOMAXPROCS(procs)
		res, err := runMLP(t, "", false, 0)
		runtime.GOMAXPROCS(old)
		if err != nil {
			t.Fatal(err)
		}
		got := copyParams(res.Head.Params())
		if ref == nil {
			ref = got
			continue
		}
		if !reflect.DeepEqual(ref, got) {
			t.Fatalf("GOMAXPROCS %d changed the trained MLP head", procs)
		}
	}
	dir := t.TempDir()
	if _, err := runMLP(t, dir, false, 5); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v, want context.Canceled", err)
	}
	res, err := runMLP(t, dir, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ref, copyParams(res.Head.Params())) {
		t.Fatal("a resumed run's MLP head differs from an uninterrupted run's")
	}
}
