package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// BenchmarkBiasGELU: the MLP head's activation on a training batch (1100
// rows: 256 queries, 256 positives, ~600 mined negatives) at hidden width
// 100 and 400, forward with the derivative kept; "erf64" is the scalar
// float64 math.Erf loop (forward value and derivative recomputed) it
// replaces.
func BenchmarkBiasGELU(b *testing.B) {
	for _, hidden := range []int{100, 400} {
		r := rand.New(rand.NewPCG(1, 2))
		h0 := randMat(r, 1100, hidden, 1)
		h, act, deriv := clone(h0), clone(h0), clone(h0)
		bias := make([]float32, hidden)
		b.Run(fmt.Sprintf("hidden=%d/nn", hidden), func(b *testing.B) {
			for range b.N {
				BiasGELU(h, bias, act, deriv)
			}
			b.ReportMetric(float64(b.N*len(h.Data))/b.Elapsed().Seconds()/1e6, "Melem/s")
		})
		b.Run(fmt.Sprintf("hidden=%d/erf64", hidden), func(b *testing.B) {
			for range b.N {
				for i, v := range h.Data {
					x := float64(v + bias[i%hidden])
					act.Data[i] = float32(0.5 * x * (1 + math.Erf(x/math.Sqrt2)))
					cdf := 0.5 * (1 + math.Erf(x/math.Sqrt2))
					deriv.Data[i] = float32(cdf + x*math.Exp(-0.5*x*x)/math.Sqrt(2*math.Pi))
				}
			}
			b.ReportMetric(float64(b.N*len(h.Data))/b.Elapsed().Seconds()/1e6, "Melem/s")
		})
	}
}

// BenchmarkAdamW: one update of the default MLP head's 20,200 parameters
// and of the 4×-hidden head's 80,500.
func BenchmarkAdamW(b *testing.B) {
	for _, n := range []int{20200, 80500} {
		r := rand.New(rand.NewPCG(3, 4))
		p, g := randMat(r, 1, n, 1).Data, randMat(r, 1, n, 1).Data
		m, v := make([]float64, n), make([]float64, n)
		b.Run(fmt.Sprintf("params=%d", n), func(b *testing.B) {
			for i := range b.N {
				AdamW(p, g, m, v, AdamWParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: i + 1, GradScale: 1, WeightDecay: 0.01, Decoupled: true})
			}
		})
	}
}
