package losses

import (
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/embfit/embfit/internal/inputerr"
)

func allSpecs() []string {
	return append(gradSpecs(), "circle", "circle:m=0.25,gamma=256", "infonce:temperature=0.01")
}

func finite64(t *testing.T, what string, v float64, g []float64) {
	t.Helper()
	if math.IsNaN(v) || math.IsInf(v, 0) {
		t.Fatalf("%s: value %v", what, v)
	}
	for i, x := range g {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			t.Fatalf("%s: gradient[%d] = %v", what, i, x)
		}
	}
}

func TestEdgeCases(t *testing.T) {
	dup, _ := randomBatch(8, 6, 4, 1)
	copy(dup.Data[4:8], dup.Data[0:4])   // row 1 duplicates row 0
	copy(dup.Data[12:16], dup.Data[0:4]) // row 3 too
	zero, _ := randomBatch(9, 6, 4, 1)
	clear(zero.Data[8:12]) // row 2 is all zeros
	one, _ := randomBatch(10, 1, 4, 1)
	tests := []struct {
		name     string
		x        blas64.General
		labels   []int
		wantZero func(name string) bool // which losses must be exactly 0 with zero gradient
	}{
		{"all singletons", dup, []int{0, 1, 2, 3, 4, 5}, func(n string) bool { return n != "contrastive" }},
		{"one class only", dup, []int{0, 0, 0, 0, 0, 0}, func(n string) bool { return n == "triplet" || n == "infonce" || n == "circle" }},
		{"duplicate rows", dup, []int{0, 0, 1, 0, 1, 1}, func(string) bool { return false }},
		{"zero row", zero, []int{0, 1, 0, 1, 0, 1}, func(string) bool { return false }},
		{"N=1", one, []int{0}, func(string) bool { return true }},
	}
	for _, tc := range tests {
		for _, spec := range allSpecs() {
			l := mustParse(t, spec)
			g := newMatrix64(tc.x.Rows, tc.x.Cols)
			v := l.(Float64Loss).EvalFloat64(Batch64{X: tc.x, Labels: tc.labels}, g)
			finite64(t, tc.name+" "+spec, v, g.Data)
			g32 := blas32.General{Rows: tc.x.Rows, Cols: tc.x.Cols, Stride: tc.x.Cols, Data: make([]float32, len(tc.x.Data))}
			v32 := l.Eval(Batch{X: mat32(tc.x), Labels: tc.labels}, g32)
			finite64(t, tc.name+" "+spec+" float32", v32, mat64From32(g32))
			if tc.wantZero(l.Name()) && !(l.Name() == "center" && tc.name == "one class only") {
				if v != 0 || v32 != 0 {
					t.Errorf("%s %s: value %v/%v, want 0", tc.name, spec, v, v32)
				}
				for _, x := range g.Data {
					if x != 0 {
						t.Errorf("%s %s: nonzero gradient", tc.name, spec)
						break
					}
				}
			}
		}
	}
	// Empty batch.
	for _, spec := range Names() {
		if v := mustParse(t, spec).Eval(Batch{X: blas32.General{Cols: 3, Stride: 3}, Labels: nil}, blas32.General{}); v != 0 {
			t.Errorf("%s on an empty batch = %v", spec, v)
		}
	}
	// The zero row gets a zero gradient through the normalization.
	g := newMatrix64(6, 4)
	mustParse(t, "triplet").(Float64Loss).EvalFloat64(Batch64{X: zero, Labels: []int{0, 1, 0, 1, 0, 1}}, g)
	for _, v := range g.Data[8:12] {
		if v != 0 {
			t.Errorf("zero row gradient %v", g.Data[8:12])
		}
	}
}

// TestStability: large γ and small τ on near-identical vectors stay finite
// and match the float64 path.
func TestStability(t *testing.T) {
	x, labels := randomBatch(11, 32, 8, 4)
	base := append([]float64(nil), x.Data[:8]...)
	for i := range x.Rows {
		for k := range 8 {
			x.Data[i*8+k] = base[k] + 1e-4*x.Data[i*8+k]
		}
	}
	for _, spec := range []string{"circle:m=0.25,gamma=256", "circle:gamma=1000", "infonce:temperature=0.01", "infonce:temperature=0.001",
		"triplet:soft=true,margin=50", "contrastive"} {
		l := mustParse(t, spec)
		g := newMatrix64(x.Rows, x.Cols)
		v := l.(Float64Loss).EvalFloat64(Batch64{X: x, Labels: labels}, g)
		finite64(t, spec, v, g.Data)
		g32 := blas32.General{Rows: x.Rows, Cols: x.Cols, Stride: x.Cols, Data: make([]float32, len(x.Data))}
		v32 := l.Eval(Batch{X: mat32(x), Labels: labels}, g32)
		finite64(t, spec+" float32", v32, mat64From32(g32))
	}
	// Pair form with τ = 0.01 on near-identical vectors.
	q := mustParse(t, "infonce:temperature=0.01,symmetric=true")
	g := newMatrix64(x.Rows, x.Cols)
	finite64(t, "pair form", q.(Float64Loss).EvalFloat64(Batch64{X: x, Queries: 10}, g), g.Data)
}

func TestParse(t *testing.T) {
	tests := []struct {
		spec   string
		canon  string // Spec() of the result
		errSub string
	}{
		{"triplet", "triplet:margin=0.2,distance=euclidean,mining=all,soft=false,reduction=avg_nonzero,normalize=true", ""},
		{"triplet:margin=0.1,mining=semihard", "triplet:margin=0.1,distance=euclidean,mining=semihard,soft=false,reduction=avg_nonzero,normalize=true", ""},
		{" triplet:margin=0, distance=cosine ", "triplet:margin=0,distance=cosine,mining=all,soft=false,reduction=avg_nonzero,normalize=true", ""},
		{"contrastive", "contrastive:margin=1,pos_margin=0,normalize=true", ""},
		{"infonce:symmetric=true", "infonce:temperature=0.07,symmetric=true,normalize=true", ""},
		{"center", "center:alpha=0.5,lambda=0.01,normalize=false", ""},
		{"circle:m=0.25,gamma=256", "circle:m=0.25,gamma=256,normalize=true", ""},
		{"arcface", "", `unknown loss "arcface" (valid: contrastive, triplet, infonce, center, circle)`},
		{"triplet:gamma=1", "", `unknown key "gamma" for triplet (valid: margin, distance, mining, soft, reduction, normalize)`},
		{"triplet:margin", "", "is not key=value"},
		{"triplet:margin=x", "", `margin="x" is not a number`},
		{"triplet:margin=1,margin=2", "", "given twice"},
		{"triplet:distance=manhattan", "", "unknown distance"},
		{"triplet:reduction=sum", "", "unknown reduction"},
		{"infonce:temperature=0", "", "temperature must be > 0"},
		{"circle:gamma=-1", "", "gamma must be > 0"},
		{"center:alpha=2", "", "alpha"},
		{"contrastive:normalize=maybe", "", "not true/false"},
		{"triplet:margin=NaN", "", "margin must be a finite number, got NaN"},
		{"triplet:margin=-Inf", "", "margin must be a finite number"},
		{"triplet:margin=1e999", "", "margin must be a finite number"},
		{"contrastive:margin=NaN", "", "margin must be a finite number"},
		{"contrastive:pos_margin=-0.1", "", "pos_margin must be ≥ 0, got -0.1"},
		{"infonce:temperature=NaN", "", "temperature must be a finite number"},
		{"infonce:temperature=inf", "", "temperature must be a finite number"},
		{"center:alpha=NaN", "", "alpha must be a finite number"},
		{"center:alpha=1.5", "", "alpha must be in [0, 1], got 1.5"},
		{"center:lambda=+Inf", "", "lambda must be a finite number"},
		{"circle:m=NaN", "", "m must be a finite number"},
		{"circle:gamma=NaN", "", "gamma must be a finite number"},
		{"circle:gamma=0", "", "gamma must be > 0, got 0"},
		{"triplet:mining=hardest", "", `unknown mining "hardest" (valid: all, easy, semihard, hard, batch-hard)`},
	}
	for _, tc := range tests {
		l, err := Parse(tc.spec)
		if tc.errSub != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errSub) {
				t.Errorf("Parse(%q) err = %v, want containing %q", tc.spec, err, tc.errSub)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.spec, err)
			continue
		}
		if got := Spec(l); got != tc.canon {
			t.Errorf("Spec(Parse(%q)) = %q, want %q", tc.spec, got, tc.canon)
		}
		// The canonical spec parses back to the same loss.
		if l2, err := Parse(Spec(l)); err != nil || Spec(l2) != Spec(l) {
			t.Errorf("round trip of %q: %v", Spec(l), err)
		}
	}
}

// Every error of Parse is an input error about the setting "loss" that
// names the spec.
func TestParseErrorsAreInputErrors(t *testing.T) {
	for _, spec := range []string{"arcface", "triplet:gamma=1", "triplet:margin", "triplet:margin=NaN", "circle:gamma=-1"} {
		_, err := Parse(spec)
		e, ok := inputerr.As(err)
		if !ok || e.Setting != "loss" {
			t.Errorf("Parse(%q) = %v, want an input error for the setting loss", spec, err)
			continue
		}
		if name, _, _ := strings.Cut(spec, ":"); !strings.Contains(err.Error(), name) {
			t.Errorf("Parse(%q) = %v, does not name the loss", spec, err)
		}
	}
}

func TestParseWeighted(t *testing.T) {
	tests := []struct {
		spec   string
		weight float64
		canon  string
		errSub string
	}{
		{"infonce", 1, "infonce:temperature=0.07,symmetric=false,normalize=true", ""},
		{"0.5*triplet:margin=0.1", 0.5, "triplet:margin=0.1,distance=euclidean,mining=all,soft=false,reduction=avg_nonzero,normalize=true", ""},
		{" 2 *circle", 2, "circle:m=0.4,gamma=80,normalize=true", ""},
		{"NaN*infonce", 0, "", `weight "NaN" must be a finite positive number`},
		{"Inf*infonce", 0, "", "finite positive"},
		{"-1*infonce", 0, "", "finite positive"},
		{"0*infonce", 0, "", "finite positive"},
		{"x*infonce", 0, "", "finite positive"},
		{"0.5*infonce:temperature=NaN", 0, "", "temperature must be a finite number"},
		{"0.5*arcface", 0, "", "unknown loss"},
	}
	for _, tc := range tests {
		w, l, err := ParseWeighted(tc.spec)
		if tc.errSub != "" {
			if _, ok := inputerr.As(err); !ok || !strings.Contains(err.Error(), tc.errSub) {
				t.Errorf("ParseWeighted(%q) err = %v, want an input error containing %q", tc.spec, err, tc.errSub)
			}
			continue
		}
		if err != nil || w != tc.weight || Spec(l) != tc.canon {
			t.Errorf("ParseWeighted(%q) = %v, %v, %v; want %v, %s", tc.spec, w, l, err, tc.weight, tc.canon)
		}
	}
}

// FuzzParse: Parse never panics, and what it accepts has only finite
// numbers and round-trips through Spec.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"triplet", "triplet:margin=0.1,mining=semihard", "infonce:temperature=NaN",
		"circle:m=1e308,gamma=1e-300", "center:alpha=1,lambda=0,normalize=true", "0.5*contrastive:margin=2", "a*b:c=d,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		_, l, err := ParseWeighted(spec)
		if err != nil {
			return
		}
		for k, v := range l.Params() {
			if x, ok := v.(float64); ok && (math.IsNaN(x) || math.IsInf(x, 0)) {
				t.Fatalf("%q: %s = %v accepted", spec, k, x)
			}
		}
		l2, err := Parse(Spec(l))
		if err != nil || Spec(l2) != Spec(l) {
			t.Fatalf("%q: Spec %q does not round-trip: %v", spec, Spec(l), err)
		}
	})
}
