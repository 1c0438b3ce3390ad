package train

import (
	"testing"
)

func TestSplitLossWeight(t *testing.T) {
	for _, tc := range []struct {
		in   string
		w    float64
		spec string
		ok   bool
	}{
		{"infonce", 1, "infonce", true},
		{"0.5*triplet:mining=semihard", 0.5, "triplet:mining=semihard", true},
		{"x*infonce", 0, "", false},
		{"-1*infonce", 0, "", false},
	} {
		w, spec, err := SplitLossWeight(tc.in)
		if (err == nil) != tc.ok || w != tc.w || spec != tc.spec {
			t.Errorf("%q: %v %q %v", tc.in, w, spec, err)
		}
	}
}
