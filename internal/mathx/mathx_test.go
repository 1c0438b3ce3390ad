package mathx

import (
	"math"
	"testing"
)

func TestSoftplusSigmoid(t *testing.T) {
	tests := []struct {
		x, sp, sg float64
	}{
		{0, math.Ln2, 0.5},
		{1, 1.3132616875182228, 0.7310585786300049},
		{-1, 0.31326168751822286, 0.2689414213699951},
		{800, 800, 1}, // e^800 overflows: the stable form does not
		{-800, 0, 0},  // underflows to 0, not NaN
		{40, 40, 1},   // log1p(e^-40) is below half an ulp of 40
		{-40, 4.248354255291589e-18, 4.248354255291589e-18},
	}
	for _, tc := range tests {
		sp, sg := Softplus(tc.x, math.Exp), Sigmoid(tc.x, math.Exp)
		if math.Abs(sp-tc.sp) > 1e-15*max(1, tc.sp) || math.Abs(sg-tc.sg) > 1e-15 {
			t.Errorf("x=%v: softplus %v sigmoid %v, want %v %v", tc.x, sp, sg, tc.sp, tc.sg)
		}
		sp2, sg2 := SoftplusSigmoid(tc.x, math.Exp)
		if sp2 != sp || math.Abs(sg2-sg) > 1e-16 {
			t.Errorf("x=%v: SoftplusSigmoid %v %v, separate %v %v", tc.x, sp2, sg2, sp, sg)
		}
	}
}

// The exponential passed in is the one used: the results are its bits.
func TestUsesTheGivenExp(t *testing.T) {
	calls := 0
	exp := func(x float64) float64 { calls++; return math.Exp(x) * (1 + 1e-12) }
	if got, want := Softplus(2, exp), 2+math.Log1p(math.Exp(-2)*(1+1e-12)); got != want || calls != 1 {
		t.Errorf("Softplus with a custom exp = %v (%d calls), want %v", got, calls, want)
	}
}
