package train

import (
	"context"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/losses"
	"github.com/embfit/embfit/pipeline/head"
)

func TestMatryoshkaSettings(t *testing.T) {
	for _, tc := range []struct {
		widths  []int
		weights []float64
		want    string // error substring, "" = valid
	}{
		{[]int{4, 8, 16}, nil, ""},
		{[]int{16}, []float64{2}, ""},
		{[]int{8, 4}, nil, "matryoshka: widths [8 4] must ascend"},
		{[]int{4, 32}, nil, "within 1…16"},
		{[]int{0, 4}, nil, "must ascend"},
		{[]int{4, 8}, []float64{1}, "matryoshka_weights: 1 weights for 2 widths"},
		{[]int{4, 8}, []float64{1, -1}, "matryoshka_weights: weight -1"},
		{nil, []float64{1}, "weights given without widths"},
	} {
		s := testSettings()
		s.Matryoshka, s.MatryoshkaWeights = tc.widths, tc.weights
		got, err := s.WithDefaults()
		if tc.want == "" {
			if err != nil {
				t.Errorf("%v %v: %v", tc.widths, tc.weights, err)
			} else if len(got.MatryoshkaWeights) != len(tc.widths) {
				t.Errorf("%v: weights %v", tc.widths, got.MatryoshkaWeights)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: error %v, want %q", tc.widths, tc.weights, err, tc.want)
		}
	}
}

// TestMatryoshkaStep checks the nested objective: one width equal to the
// output is the plain step bit for bit, and widths {w1, w2} give the
// weighted sum of the losses of the two prefixes with the matching
// gradient columns (checked against the plain steps of prefix heads).
func TestMatryoshkaStep(t *testing.T) {
	emb, rows := synthPairs(5, 64)
	pb := PairEpochBatches(rows, Settings{BatchSize: 32, Negatives: 2, Seed: 1}, 0)[0]
	loss, err := losses.Parse("infonce")
	if err != nil {
		t.Fatal(err)
	}
	ws := []WeightedLoss{{Spec: "infonce", Weight: 0.5, Loss: loss}}
	newStepper := func() *Stepper {
		h, err := head.New(head.Settings{Kind: "linear", In: 16, Out: 16}, 3)
		if err != nil {
			t.Fatal(err)
		}
		// A non-identity start so the columns differ.
		r := rand.New(rand.NewPCG(1, 1))
		for _, p := range h.Params() {
			for i := range p.Data {
				p.Data[i] += float32(0.1 * r.NormFloat64())
			}
		}
		return NewStepper(h, ws, Data{Emb: emb, Pairs: rows})
	}
	plain := newStepper()
	v0 := plain.Step(nil, &pb)
	one := newStepper()
	one.SetMatryoshka([]int{16}, []float64{1})
	if v := one.Step(nil, &pb); v != v0 || !reflect.DeepEqual(copyParams(one.Grads()), copyParams(plain.Grads())) {
		t.Fatalf("width {16}: loss %v, plain %v (or gradients differ)", v, v0)
	}

	two := newStepper()
	two.SetMatryoshka([]int{4, 16}, []float64{2, 1})
	v := two.Step(nil, &pb)
	// Reference: the loss of the first 4 output columns, computed directly.
	out := linalg.NewMatrix(len(pb.Anchors)*2+len(pb.Negatives), 16)
	in := linalg.NewMatrix(out.Rows, 16)
	linalg.Gather(in, emb, append(append(append([]int{}, pb.Anchors...), pb.Positives...), pb.Negatives...))
	two.head.Forward(out, in)
	pre := linalg.NewMatrix(out.Rows, 4)
	for i := range out.Rows {
		copy(linalg.Row(pre, i), linalg.Row(out, i)[:4])
	}
	l4 := loss.Eval(losses.Batch{X: pre, Queries: len(pb.Anchors)}, linalg.NewMatrix(out.Rows, 4))
	if want := 0.5*2*l4 + v0; math.Abs(v-want) > 1e-12*math.Abs(want) {
		t.Errorf("widths {4,16}: loss %v, want %v", v, want)
	}
	// Weight-gradient rows of output columns ≥ 4 see only the full-width term.
	g2, g0 := two.Grads()[0], plain.Grads()[0]
	for r := 4; r < 16; r++ {
		for c := range 16 {
			a, b := g2.Data[r*16+c], g0.Data[r*16+c]
			if math.Abs(float64(a-b)) > 1e-6*math.Max(1, math.Abs(float64(b))) {
				t.Fatalf("gradient of W[%d][%d]: %v, full-width only %v", r, c, a, b)
			}
		}
	}
}

func TestMatryoshkaTrainingReportsEveryWidth(t *testing.T) {
	// The signal lives in 4 dimensions, moved to the last 4 columns: the
	// 4-wide prefix of the (identity) head starts without it.
	emb, rows := synthPairs(1, 600)
	demb, drows := synthPairs(2, 300)
	for _, m := range []*blas32.General{&emb, &demb} {
		for i := range m.Rows {
			slices.Reverse(linalg.Row(*m, i))
		}
	}
	s := testSettings()
	s.Losses, s.Matryoshka, s.Epochs = []string{"infonce"}, []int{4, 8, 16}, 6
	loss, _ := losses.Parse("infonce")
	tr := &Trainer{Settings: s, Data: Data{Emb: emb, Pairs: rows}, Dev: NewPairEvalSet(demb, drows),
		Losses: []WeightedLoss{{Spec: "infonce", Weight: 1, Loss: loss}}}
	res, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range res.History {
		if len(h.DevWidths) != 3 || !reflect.DeepEqual(h.DevWidths[2].Metrics, *h.Dev) {
			t.Fatalf("epoch %d: widths %+v, dev %+v", h.Epoch, h.DevWidths, h.Dev)
		}
	}
	last := res.History[len(res.History)-1]
	t.Logf("MAP@R by width after training: 4 → %.4f, 8 → %.4f, 16 → %.4f", last.DevWidths[0].Metrics.MAPAtR, last.DevWidths[1].Metrics.MAPAtR, last.DevWidths[2].Metrics.MAPAtR)
	// Without the nested objective the 4-wide prefix of the trained head
	// stays far worse.
	s.Matryoshka = nil
	tr.Settings = s
	plain, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pm, err := tr.Dev.EvaluateWidths(context.Background(), plain.Head, []int{4})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("4-wide prefix without matryoshka: %.4f", pm[0].MAPAtR)
	if got := last.DevWidths[0].Metrics.MAPAtR; got < pm[0].MAPAtR+0.1 {
		t.Errorf("4-wide prefix MAP@R %.4f with matryoshka, %.4f without", got, pm[0].MAPAtR)
	}
}
