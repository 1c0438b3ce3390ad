package train

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/losses"
	"github.com/embfit/embfit/pipeline/head"
)

// testNTXent is a small labelled NT-Xent on raw dot products scaled by a
// learnable factor w (so it also exercises losses.Trainable): for every
// ordered positive pair (a,p), −log(e^{w·s_ap}/(e^{w·s_ap}+Σ_n e^{w·s_an})).
type testNTXent struct {
	w, gw blas32.General
}

func newTestNTXent() *testNTXent {
	return &testNTXent{w: vec(5), gw: vec(0)}
}

func (l *testNTXent) Name() string                  { return "test-ntxent" }
func (l *testNTXent) Params() map[string]any        { return nil }
func (l *testNTXent) Weights() []blas32.General     { return []blas32.General{l.w} }
func (l *testNTXent) WeightGrads() []blas32.General { return []blas32.General{l.gw} }
func (l *testNTXent) Step()                         {}

func (l *testNTXent) Eval(b losses.Batch, grad blas32.General) float64 {
	x, y := b.X, b.Labels
	n := x.Rows
	if b.Queries > 0 { // pair form as labels, as losses.Batch documents
		q := b.Queries
		y = make([]int, n)
		for i := range n {
			switch {
			case i < q:
				y[i] = i
			case i < 2*q:
				y[i] = i - q
			default:
				y[i] = i
			}
		}
	}
	w := float64(l.w.Data[0])
	s := linalg.NewMatrix(n, n)
	linalg.MulT(s, x, x)
	ds := make([]float64, n*n)
	var total float64
	pairs := 0
	for a := range n {
		for p := range n {
			if p == a || y[p] != y[a] {
				continue
			}
			// Softmax over {p} ∪ negatives of a.
			m := w * float64(s.Data[a*n+p])
			for j := range n {
				if y[j] != y[a] {
					m = max(m, w*float64(s.Data[a*n+j]))
				}
			}
			z := math.Exp(w*float64(s.Data[a*n+p]) - m)
			for j := range n {
				if y[j] != y[a] {
					z += math.Exp(w*float64(s.Data[a*n+j]) - m)
				}
			}
			pp := math.Exp(w*float64(s.Data[a*n+p])-m) / z
			total += -math.Log(pp)
			pairs++
			ds[a*n+p] += pp - 1
			for j := range n {
				if y[j] != y[a] {
					ds[a*n+j] += math.Exp(w*float64(s.Data[a*n+j])-m) / z
				}
			}
		}
	}
	if grad.Data != nil {
		clear(grad.Data)
	}
	l.gw.Data[0] = 0
	if pairs == 0 {
		return 0
	}
	var gw float64
	for i := range n {
		for j := range n {
			g := ds[i*n+j] / float64(pairs)
			if g == 0 {
				continue
			}
			gw += g * float64(s.Data[i*n+j])
			if grad.Data != nil {
				gi, gj := linalg.Row(grad, i), linalg.Row(grad, j)
				xi, xj := linalg.Row(x, i), linalg.Row(x, j)
				for k := range gi {
					gi[k] += float32(g * w * float64(xj[k]))
					gj[k] += float32(g * w * float64(xi[k]))
				}
			}
		}
	}
	l.gw.Data[0] = float32(gw)
	return total / float64(pairs)
}

// synthPairs builds pair data whose signal lives in the first 4 of 16
// dimensions, drowned by large independent noise in the other 12, so the
// frozen embeddings retrieve poorly and a linear head can do much better.
func synthPairs(seed uint64, n int) (blas32.General, []PairRow) {
	r := rand.New(rand.NewPCG(seed, 99))
	emb := linalg.NewMatrix(2*n, 16)
	var rows []PairRow
	for i := range n {
		a, p := linalg.Row(emb, 2*i), linalg.Row(emb, 2*i+1)
		for k := range 4 {
			z := r.NormFloat64()
			a[k] = float32(z + 0.1*r.NormFloat64())
			p[k] = float32(z + 0.1*r.NormFloat64())
		}
		for k := 4; k < 16; k++ {
			a[k] = float32(0.6 * r.NormFloat64())
			p[k] = float32(0.6 * r.NormFloat64())
		}
		rows = append(rows, PairRow{Anchor: 2 * i, Positive: 2*i + 1})
	}
	// Mined negatives: the next pairs' positives.
	for i := range rows {
		rows[i].Negatives = []int{rows[(i+1)%n].Positive, rows[(i+2)%n].Positive}
	}
	return emb, rows
}

func synthLabelled(seed uint64, n, classes int) (blas32.General, []int) {
	r := rand.New(rand.NewPCG(seed, 98))
	centers := randMat(r, classes, 4)
	emb := linalg.NewMatrix(n, 16)
	labels := make([]int, n)
	for i := range n {
		c := i % classes
		labels[i] = c
		row := linalg.Row(emb, i)
		for k := range 4 {
			row[k] = centers.Data[c*4+k] + float32(0.2*r.NormFloat64())
		}
		for k := 4; k < 16; k++ {
			row[k] = float32(0.8 * r.NormFloat64())
		}
	}
	return emb, labels
}

func testSettings() Settings {
	return Settings{
		Head:            head.Settings{In: 16, Normalize: true},
		Optim:           OptimSettings{LR: 0.02},
		Losses:          []string{"test-ntxent"},
		Epochs:          4,
		BatchSize:       32,
		Seed:            7,
		Patience:        -1,
		CheckpointEvery: 5,
	}
}

func TestTrainerImprovesOverFrozenEncoder(t *testing.T) {
	for _, tc := range []struct {
		name string
		data Data
		dev  *EvalSet
	}{
		{"pairs", func() Data { e, r := synthPairs(1, 600); return Data{Emb: e, Pairs: r} }(),
			func() *EvalSet { e, r := synthPairs(2, 300); return NewPairEvalSet(e, r) }()},
		{"labelled", func() Data { e, l := synthLabelled(1, 600, 30); return Data{Emb: e, Labels: l} }(),
			func() *EvalSet { e, l := synthLabelled(2, 300, 30); return &EvalSet{Emb: e, Labels: l} }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &Trainer{Settings: testSettings(), Data: tc.data, Dev: tc.dev,
				Losses: []WeightedLoss{{Spec: "test-ntxent", Weight: 1, Loss: newTestNTXent()}}}
			res, err := tr.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			base, last := res.History[0].Dev.MAPAtR, res.History[len(res.History)-1].Dev.MAPAtR
			t.Logf("MAP@R %.4f → %.4f (best epoch %d)", base, last, res.BestEpoch)
			if last < base+0.1 {
				t.Errorf("MAP@R %.4f → %.4f: no clear improvement", base, last)
			}
			if res.BestEpoch == 0 {
				t.Error("best epoch is the frozen encoder")
			}
			if len(res.History) != 5 {
				t.Errorf("%d history lines, want 5", len(res.History))
			}
		})
	}
}

func runTrainer(t *testing.T, dir string, resume bool, cancelAfter int) (*Result, error) {
	emb, rows := synthPairs(3, 400)
	demb, drows := synthPairs(4, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	steps := 0
	tr := &Trainer{Settings: testSettings(), Data: Data{Emb: emb, Pairs: rows}, Dev: NewPairEvalSet(demb, drows),
		Losses: []WeightedLoss{{Spec: "test-ntxent", Weight: 0.5, Loss: newTestNTXent()}},
		Dir:    dir, Resume: resume,
		Progress: func(p Progress) {
			steps++
			if cancelAfter > 0 && steps == cancelAfter {
				cancel()
			}
		}}
	return tr.Run(ctx)
}

func TestTrainerResumeIsBitIdentical(t *testing.T) {
	full, err := runTrainer(t, t.TempDir(), false, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// Interrupt twice (mid-epoch, at different places), then finish.
	for _, at := range []int{7, 23} {
		if _, err := runTrainer(t, dir, true, at); err != context.Canceled {
			t.Fatalf("interrupted run: %v", err)
		}
	}
	resumed, err := runTrainer(t, dir, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(copyParams(full.Head.Params()), copyParams(resumed.Head.Params())) {
		t.Error("resumed head differs from the uninterrupted one")
	}
	if !reflect.DeepEqual(full.History, resumed.History) {
		t.Errorf("histories differ:\n%+v\n%+v", full.History, resumed.History)
	}
	b, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil || len(b) == 0 {
		t.Fatalf("metrics.jsonl: %v", err)
	}
}

func TestTrainerSameResultAnyGOMAXPROCS(t *testing.T) {
	var heads [][][]float32
	for _, procs := range []int{1, 2} {
		old := runtime.GOMAXPROCS(procs)
		res, err := runTrainer(t, "", false, 0)
		runtime.GOMAXPROCS(old)
		if err != nil {
			t.Fatal(err)
		}
		heads = append(heads, copyParams(res.Head.Params()))
	}
	if !reflect.DeepEqual(heads[0], heads[1]) {
		t.Error("GOMAXPROCS changed the trained head")
	}
}

func TestTrainSettingsErrors(t *testing.T) {
	for _, s := range []Settings{
		{Head: head.Settings{In: 0}},
		{Head: head.Settings{In: 4}, Metric: "accuracy"},
		{Head: head.Settings{In: 4}, Losses: []string{"x*infonce"}},
		{Head: head.Settings{In: 4}, BatchSize: 1},
	} {
		if _, err := s.WithDefaults(); err == nil {
			t.Errorf("%+v: no error", s)
		}
	}
	s, err := Settings{Head: head.Settings{In: 4}}.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := s.WithDefaults(); !reflect.DeepEqual(s, again) {
		t.Error("WithDefaults is not idempotent")
	}
}

// TestTrainerWithCenterLoss trains on labelled data with InfoNCE plus the
// training form of the center loss (a losses.Trainable whose classifier
// is updated by the same optimizer).
func TestTrainerWithCenterLoss(t *testing.T) {
	emb, labels := synthLabelled(5, 600, 30)
	demb, dlabels := synthLabelled(6, 300, 30)
	infonce, err := losses.Parse("infonce:temperature=0.1")
	if err != nil {
		t.Fatal(err)
	}
	center, err := losses.NewCenterTrainer(losses.Center{Alpha: 0.5, Lambda: 0.01}, 30, 16, 1)
	if err != nil {
		t.Fatal(err)
	}
	w0 := copyParams(center.Weights())
	s := testSettings()
	s.Losses = []string{"infonce:temperature=0.1", "0.5*center"}
	tr := &Trainer{Settings: s, Data: Data{Emb: emb, Labels: labels}, Dev: &EvalSet{Emb: demb, Labels: dlabels},
		Losses: []WeightedLoss{{Spec: "infonce", Weight: 1, Loss: infonce}, {Spec: "0.5*center", Weight: 0.5, Loss: center}}}
	res, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	base, best := res.History[0].Dev.MAPAtR, res.History[res.BestEpoch].Dev.MAPAtR
	t.Logf("MAP@R %.4f → %.4f", base, best)
	if best < base+0.1 {
		t.Errorf("MAP@R %.4f → %.4f: no clear improvement", base, best)
	}
	if reflect.DeepEqual(w0, copyParams(center.Weights())) {
		t.Error("the center loss's classifier was not trained")
	}
}

func randMat(r *rand.Rand, rows, cols int) blas32.General {
	m := linalg.NewMatrix(rows, cols)
	for i := range m.Data {
		m.Data[i] = float32(r.NormFloat64())
	}
	return m
}
