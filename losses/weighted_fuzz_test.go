package losses

import (
	"math"
	"testing"
)

// FuzzParseWeighted checks that no "[W*]SPEC" makes ParseWeighted panic
// and that an accepted weight is finite and positive.
func FuzzParseWeighted(f *testing.F) {
	for _, s := range []string{"infonce", "0.5*triplet:margin=0.2,mining=semihard", "NaN*infonce", "1e309*circle", "*", "2*", "-1*contrastive", "infonce:temperature=0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		w, l, err := ParseWeighted(spec)
		if err != nil {
			return
		}
		if l == nil || !(w > 0) || math.IsInf(w, 0) {
			t.Fatalf("ParseWeighted(%q) = %v, %v", spec, w, l)
		}
	})
}
