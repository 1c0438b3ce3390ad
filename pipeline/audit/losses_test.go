package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/embfit/embfit/losses"
)

func auditBatch(n, d, classes int) (blas32.General, []int) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := blas32.General{Rows: n, Cols: d, Stride: d, Data: make([]float32, n*d)}
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = i % classes
	}
	return x, labels
}

// lossesOnly runs the losses-only audit of x with labels.
func lossesOnly(ctx context.Context, x blas32.General, labels []int, s Settings) (*Report, error) {
	s.LossesOnly = true
	return Run(ctx, Data{X: x, Labels: labels}, s)
}

func TestAuditLossesOnly(t *testing.T) {
	x, labels := auditBatch(40, 6, 5)
	ctx := context.Background()
	t.Run("defaults", func(t *testing.T) {
		a, err := lossesOnly(ctx, x, labels, Settings{})
		if err != nil {
			t.Fatal(err)
		}
		if a.N != 40 || a.Dim != 6 || a.Precision != "float64" || len(a.Losses) != 5 || a.GradNorms != nil {
			t.Fatalf("audit header %+v", a)
		}
		for i, name := range losses.Names() {
			l := a.Losses[i]
			want := mustLoss(t, name)
			if l.Name != name || l.Spec != name || l.Value != want.(losses.Float64Loss).EvalFloat64(batch64(x, labels), zero64()) {
				t.Errorf("losses[%d] = %+v", i, l)
			}
		}
		c := losses.TripletStats(x, labels, losses.Euclidean, 0.2, true)
		if tr := a.Triplets; tr.Margin != 0.2 || tr.Easy != c.Easy || tr.Total != c.Total || tr.Total != 40*7*32 {
			t.Errorf("triplets %+v, want %+v (total 40·7·32)", tr, c)
		}
	})
	t.Run("per-sample float32", func(t *testing.T) {
		a, err := lossesOnly(ctx, x, labels, Settings{Losses: []string{"triplet:mining=hard", "center"}, PerSample: true, Precision: "float32"})
		if err != nil {
			t.Fatal(err)
		}
		l := mustLoss(t, "triplet:mining=hard")
		g := blas32.General{Rows: 40, Cols: 6, Stride: 6, Data: make([]float32, 240)}
		l.Eval(losses.Batch{X: x, Labels: labels}, g)
		for i := range 40 {
			var ss float64
			for _, v := range g.Data[i*6 : i*6+6] {
				ss += float64(v) * float64(v)
			}
			if math.Abs(a.GradNorms[0][i]-math.Sqrt(ss)) > 1e-12 {
				t.Fatalf("row %d grad norm %v, want %v", i, a.GradNorms[0][i], math.Sqrt(ss))
			}
		}
		p := filepath.Join(t.TempDir(), "per.jsonl")
		if err := WritePerSample(p, Data{X: x, Labels: labels, ClassNames: []string{"cA", "cB", "cC", "cD", "cE"}}, a); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		var row struct {
			Row      int                `json:"row"`
			Label    string             `json:"label"`
			GradNorm map[string]float64 `json:"grad_norm"`
		}
		if err := json.Unmarshal([]byte(lines[7]), &row); err != nil || len(lines) != 40 {
			t.Fatalf("%v, %d lines", err, len(lines))
		}
		if row.Row != 7 || row.Label != "cC" || row.GradNorm["center"] != a.GradNorms[1][7] {
			t.Errorf("line 7 = %+v", row)
		}
		var js, tab bytes.Buffer
		if err := WriteJSON(&js, a); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(js.String(), `"spec": "triplet:mining=hard"`) || !strings.Contains(js.String(), `"mining": "hard"`) {
			t.Errorf("json:\n%s", js.String())
		}
		if err := WriteTable(&tab, a); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(tab.String(), "triplet:mining=hard") || !strings.Contains(tab.String(), "semihard") {
			t.Errorf("table:\n%s", tab.String())
		}
	})
	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			s      Settings
			labels []int
			want   string
		}{
			{Settings{}, labels[:3], "3 labels for 40 rows"},
			{Settings{Losses: []string{"nope"}}, labels, "unknown loss"},
			{Settings{Precision: "float16"}, labels, "unknown precision"},
		} {
			if _, err := lossesOnly(ctx, x, tc.labels, tc.s); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := lossesOnly(cctx, x, labels, Settings{}); err != context.Canceled {
			t.Errorf("cancelled audit: %v", err)
		}
	})
}

func mustLoss(t *testing.T, spec string) losses.Loss {
	t.Helper()
	l, err := losses.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func batch64(x blas32.General, labels []int) losses.Batch64 {
	m := blas64.General{Rows: x.Rows, Cols: x.Cols, Stride: x.Cols, Data: make([]float64, len(x.Data))}
	for i, v := range x.Data {
		m.Data[i] = float64(v)
	}
	return losses.Batch64{X: m, Labels: labels}
}

func zero64() blas64.General { return blas64.General{} }
