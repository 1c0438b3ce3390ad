package losses

import (
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"
)

// TestCenterTrainerStateRoundTrip checks that centers survive a
// MarshalBinary/UnmarshalBinary round trip bit for bit, so that a resumed
// run continues with the same centers, and that foreign state is refused.
func TestCenterTrainerStateRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const n, d, classes = 12, 5, 3
	x := blas32.General{Rows: n, Cols: d, Stride: d, Data: make([]float32, n*d)}
	for i := range x.Data {
		x.Data[i] = float32(r.NormFloat64())
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = i % classes
	}
	a, err := NewCenterTrainer(defaultCenter(), classes, d, 1)
	if err != nil {
		t.Fatal(err)
	}
	a.Eval(Batch{X: x, Labels: labels}, blas32.General{})
	a.Step() // centers move away from zero
	state, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewCenterTrainer(defaultCenter(), classes, d, 1)
	if err := b.UnmarshalBinary(state); err != nil {
		t.Fatal(err)
	}
	moved := false
	for i := range a.centers {
		if a.centers[i] != b.centers[i] {
			t.Fatalf("center %d: %v after round trip, want %v", i, b.centers[i], a.centers[i])
		}
		moved = moved || a.centers[i] != 0
	}
	if !moved {
		t.Fatal("Step did not move the centers; the test checks nothing")
	}
	// Same loss on the next batch from both.
	if va, vb := a.Eval(Batch{X: x, Labels: labels}, blas32.General{}), b.Eval(Batch{X: x, Labels: labels}, blas32.General{}); va != vb {
		t.Fatalf("loss after restore %v, want %v", vb, va)
	}

	other, _ := NewCenterTrainer(defaultCenter(), classes+1, d, 1)
	if err := other.UnmarshalBinary(state); err == nil {
		t.Fatal("state for another shape was accepted")
	}
	if err := b.UnmarshalBinary([]byte("nonsense")); err == nil {
		t.Fatal("foreign bytes were accepted")
	}
}
