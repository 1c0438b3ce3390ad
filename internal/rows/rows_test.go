package rows

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name  string
		x     []float32
		cols  int
		want  []float32
		norms []float64
	}{
		{"unit and scaled", []float32{3, 4, 0, 2}, 2, []float32{0.6, 0.8, 0, 1}, []float64{5, 2}},
		{"zero row stays zero", []float32{0, 0, 1, 0}, 2, []float32{0, 0, 1, 0}, []float64{0, 1}},
		{"no rows", nil, 3, nil, []float64{}},
	}
	for _, tc := range tests {
		x := blas32.General{Rows: len(tc.x) / tc.cols, Cols: tc.cols, Stride: tc.cols, Data: append([]float32(nil), tc.x...)}
		norms := Normalize(x, x) // in place
		for i, v := range x.Data {
			if math.Abs(float64(v-tc.want[i])) > 1e-7 {
				t.Errorf("%s: row data %v, want %v", tc.name, x.Data, tc.want)
				break
			}
		}
		for i, n := range norms {
			if math.Abs(n-tc.norms[i]) > 1e-12 {
				t.Errorf("%s: norms %v, want %v", tc.name, norms, tc.norms)
			}
		}
	}
}

// The float64 and float32 forms scale by the reciprocal of the float64
// norm: the bits are those of float32(float64(v) * (1/‖v‖)).
func TestNormalizeVecBits(t *testing.T) {
	v := []float32{0.1, -0.7, 3.3, 1e-3}
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	inv := 1 / math.Sqrt(ss)
	dst := make([]float32, len(v))
	if n := NormalizeVec(dst, v); n != math.Sqrt(ss) {
		t.Fatalf("norm %v, want %v", n, math.Sqrt(ss))
	}
	for k, x := range v {
		if want := float32(float64(x) * inv); dst[k] != want {
			t.Errorf("element %d: %v, want %v", k, dst[k], want)
		}
	}
	v64 := []float64{1, 2, 2}
	if n := NormalizeVec(v64, v64); n != 3 || v64[0] != 1.0/3 {
		t.Errorf("float64: norm %v, %v", n, v64)
	}
}

// A zero vector keeps its signed zeros in NormalizeVec; Normalize writes +0.
func TestZeroRows(t *testing.T) {
	neg := float32(math.Copysign(0, -1))
	v := []float32{neg, 0}
	if n := NormalizeVec(v, v); n != 0 || !math.Signbit(float64(v[0])) {
		t.Errorf("NormalizeVec of a zero vector: norm %v, %v (sign lost)", n, v)
	}
	x := blas32.General{Rows: 1, Cols: 2, Stride: 2, Data: []float32{neg, neg}}
	dst := blas32.General{Rows: 1, Cols: 2, Stride: 2, Data: []float32{7, 7}}
	Normalize(dst, x)
	if dst.Data[0] != 0 || math.Signbit(float64(dst.Data[0])) || dst.Data[1] != 0 {
		t.Errorf("Normalize of a zero row wrote %v, want +0s", dst.Data)
	}
}
