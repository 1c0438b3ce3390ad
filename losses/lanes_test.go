package losses

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestLanes4 checks lanes4 (assembly where available) against lanes4Go
// bit for bit, on distances drawn from a few values so that they tie
// with the anchors' bounds, with +Inf entries and strides 4 and 7.
func TestLanes4(t *testing.T) {
	if !haveLanesAsm {
		t.Skip("no assembly lanes4 on this machine")
	}
	rng := rand.New(rand.NewPCG(5, 8))
	vals := []float64{0, 0.5, 0.75, 0.9, 1, 1.1, 1.2, 1.3, 1.5, 2, math.Inf(1)}
	for it := range 300 {
		m := 1 + rng.IntN(40)
		stride := 4
		if it%2 == 1 {
			stride = 7
		}
		n := (m-1)*stride + 4
		d := make([]float64, n)
		for i := range d {
			if it%3 == 0 {
				d[i] = vals[rng.IntN(len(vals))]
			} else {
				d[i] = rng.Float64() * 2
			}
		}
		var c laneConsts
		c.margin = []float64{0, 0.2, 0.5}[it%3]
		for k := range 4 {
			f := vals[rng.IntN(len(vals)-1)]
			sec := f + vals[rng.IntN(4)]
			c.first[k], c.second[k], c.last[k] = f, sec, sec+vals[rng.IntN(4)]
			c.pf[k] = float64(1 + rng.IntN(16))
			if it%5 == 0 && k == 2 {
				c.first[k], c.second[k], c.last[k], c.pf[k] = math.Inf(1), math.Inf(1), math.Inf(-1), 0 // no positives
			}
		}
		na1 := make([]float64, n)
		for i := range na1 {
			na1[i] = float64(rng.IntN(3))
		}
		na2 := slices.Clone(na1)
		r1, r2 := make([]int32, 4*m), make([]int32, 4*m)
		var o1, o2 laneOut
		k1 := lanes4(d, na1, m, stride, &c, r1, &o1)
		k2 := lanes4Go(d, na2, m, stride, &c, r2, &o2)
		if k1 != k2 || !slices.Equal(r1[:k1], r2[:k2]) {
			t.Fatalf("it %d: rare %v vs %v", it, r1[:k1], r2[:k2])
		}
		for i := range na1 {
			if math.Float64bits(na1[i]) != math.Float64bits(na2[i]) {
				t.Fatalf("it %d: na[%d] %v vs %v", it, i, na1[i], na2[i])
			}
		}
		for k := range 4 {
			if math.Float64bits(o1.sumD[k]) != math.Float64bits(o2.sumD[k]) || math.Float64bits(o1.sumBD[k]) != math.Float64bits(o2.sumBD[k]) ||
				o1.n[k] != o2.n[k] || o1.n1[k] != o2.n1[k] {
				t.Fatalf("it %d lane %d: %+v vs %+v", it, k, o1, o2)
			}
		}
	}
}
