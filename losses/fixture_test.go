package losses

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// fixturePath is the repository's copy of the project's reference file
// (shared/fixtures/losses-reference.json), so the tests never depend on a
// folder outside the repository; TestFixtureCopyIsCurrent checks the copy
// against the shared original when that is present.
const fixturePath = "testdata/losses-reference.json"

// sharedFixturePath is the shared original, beside the repository.
const sharedFixturePath = "../../shared/fixtures/losses-reference.json"

type fixtureCase struct {
	Name   string         `json:"name"`
	Loss   string         `json:"loss"`
	Params map[string]any `json:"params"`
	Value  float64        `json:"value"`
	Grad   [][]float64    `json:"grad"`
}

type fixturePairCase struct {
	Name         string         `json:"name"`
	Params       map[string]any `json:"params"`
	Value        float64        `json:"value"`
	GradQuery    [][]float64    `json:"grad_query"`
	GradPositive [][]float64    `json:"grad_positive"`
	GradNegative [][]float64    `json:"grad_negative"`
}

type fixture struct {
	Embeddings [][]float64      `json:"embeddings"`
	Labels     []int            `json:"labels"`
	Cases      []fixtureCase    `json:"cases"`
	Counts     map[string]int64 `json:"triplet_counts_margin_0.2"`
	Pairs      struct {
		Query, Positive, Negative [][]float64
		Cases                     []fixturePairCase
	} `json:"pairs"`
}

func loadFixture(t testing.TB) *fixture {
	t.Helper()
	b, err := os.ReadFile(fixturePath)
	if err != nil {
		t.Fatalf("reference fixture: %v", err)
	}
	var f fixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

// specOf turns a fixture case into a loss spec string.
func specOf(name string, params map[string]any) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%v", k, params[k]))
	}
	if len(parts) == 0 {
		return name
	}
	return name + ":" + strings.Join(parts, ",")
}

func mat64(rows ...[][]float64) blas64.General {
	var all [][]float64
	for _, r := range rows {
		all = append(all, r...)
	}
	d := len(all[0])
	m := blas64.General{Rows: len(all), Cols: d, Stride: d, Data: make([]float64, 0, len(all)*d)}
	for _, r := range all {
		m.Data = append(m.Data, r...)
	}
	return m
}

func mat32(m blas64.General) blas32.General {
	o := blas32.General{Rows: m.Rows, Cols: m.Cols, Stride: m.Cols, Data: make([]float32, len(m.Data))}
	for i, v := range m.Data {
		o.Data[i] = float32(v)
	}
	return o
}

// relErr is |got−want| / |want|, or |got| when want is 0.
func relErr(got, want float64) float64 {
	if want == 0 {
		return math.Abs(got)
	}
	return math.Abs(got-want) / math.Abs(want)
}

// gradErr is max_i |got_i − want_i| / max_i |want_i| (the infinity norm of
// the difference relative to that of the reference), or max |got| when the
// reference is all zero.
func gradErr(got []float64, want [][]float64) float64 {
	var diff, scale float64
	k := 0
	for _, r := range want {
		for _, v := range r {
			diff = max(diff, math.Abs(got[k]-v))
			scale = max(scale, math.Abs(v))
			k++
		}
	}
	if scale == 0 {
		return diff
	}
	return diff / scale
}

func TestFixtureCases(t *testing.T) {
	f := loadFixture(t)
	x64 := mat64(f.Embeddings)
	x32 := mat32(x64)
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			spec := specOf(c.Loss, c.Params)
			l, err := Parse(spec)
			if err != nil {
				t.Fatalf("Parse(%q): %v", spec, err)
			}
			g64 := newMatrix64(x64.Rows, x64.Cols)
			v64 := l.(Float64Loss).EvalFloat64(Batch64{X: x64, Labels: f.Labels}, g64)
			if e := relErr(v64, c.Value); e > 1e-9 {
				t.Errorf("float64 value %.15g, want %.15g (rel err %.2g)", v64, c.Value, e)
			}
			if e := gradErr(g64.Data, c.Grad); e > 1e-9 {
				t.Errorf("float64 grad rel err %.3g", e)
			}
			g32 := blas32.General{Rows: x32.Rows, Cols: x32.Cols, Stride: x32.Cols, Data: make([]float32, len(x32.Data))}
			v32 := l.Eval(Batch{X: x32, Labels: f.Labels}, g32)
			if e := relErr(v32, c.Value); e > 1e-4 {
				t.Errorf("float32 value %.9g, want %.9g (rel err %.2g)", v32, c.Value, e)
			}
			if e := gradErr(mat64From32(g32), c.Grad); e > 1e-4 {
				t.Errorf("float32 grad rel err %.3g", e)
			}
			t.Logf("rel err: value f64 %.1e f32 %.1e; grad f64 %.1e f32 %.1e", relErr(v64, c.Value), relErr(v32, c.Value),
				gradErr(g64.Data, c.Grad), gradErr(mat64From32(g32), c.Grad))
		})
	}
}

func mat64From32(g blas32.General) []float64 {
	o := make([]float64, len(g.Data))
	for i, v := range g.Data {
		o[i] = float64(v)
	}
	return o
}

func TestFixturePairCases(t *testing.T) {
	f := loadFixture(t)
	p := f.Pairs
	x64 := mat64(p.Query, p.Positive, p.Negative)
	x32 := mat32(x64)
	Q := len(p.Query)
	for _, c := range p.Cases {
		t.Run(c.Name, func(t *testing.T) {
			spec := specOf("infonce", c.Params)
			l, err := Parse(spec)
			if err != nil {
				t.Fatal(err)
			}
			want := append(append(append([][]float64{}, c.GradQuery...), c.GradPositive...), c.GradNegative...)
			g64 := newMatrix64(x64.Rows, x64.Cols)
			v64 := l.(Float64Loss).EvalFloat64(Batch64{X: x64, Queries: Q}, g64)
			if e := relErr(v64, c.Value); e > 1e-9 {
				t.Errorf("float64 value %.15g, want %.15g", v64, c.Value)
			}
			if e := gradErr(g64.Data, want); e > 1e-9 {
				t.Errorf("float64 grad rel err %.3g", e)
			}
			g32 := blas32.General{Rows: x32.Rows, Cols: x32.Cols, Stride: x32.Cols, Data: make([]float32, len(x32.Data))}
			v32 := l.Eval(Batch{X: x32, Queries: Q}, g32)
			if e := relErr(v32, c.Value); e > 1e-4 {
				t.Errorf("float32 value %.9g, want %.9g", v32, c.Value)
			}
			if e := gradErr(mat64From32(g32), want); e > 1e-4 {
				t.Errorf("float32 grad rel err %.3g", e)
			}
		})
	}
}

func TestFixtureTripletCounts(t *testing.T) {
	f := loadFixture(t)
	x := mat32(mat64(f.Embeddings))
	got := TripletStats(x, f.Labels, Euclidean, 0.2, true)
	want := TripletCounts{Margin: 0.2, Easy: f.Counts["easy"], Semihard: f.Counts["semihard"], Hard: f.Counts["hard"], Total: f.Counts["all"]}
	if got != want {
		t.Errorf("TripletStats = %+v, want %+v", got, want)
	}
}

// TestFixtureCopyIsCurrent fails when the shared reference file exists and
// differs from the repository's copy (refresh testdata from it).
func TestFixtureCopyIsCurrent(t *testing.T) {
	shared, err := os.ReadFile(sharedFixturePath)
	if err != nil {
		t.Logf("shared fixture not beside the repository (%v); using the copy in testdata", err)
		return
	}
	local, err := os.ReadFile(fixturePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(shared, local) {
		t.Fatalf("%s differs from %s: copy the shared file into testdata", fixturePath, sharedFixturePath)
	}
}
