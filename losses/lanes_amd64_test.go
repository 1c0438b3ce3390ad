//go:build amd64 && !purego

package losses

import (
	"math"
	"testing"

	"github.com/embfit/embfit/internal/linalg"
)

// TestLanesAsmSameLoss checks that the triplet loss gives the same bits
// with the assembly lanes4 and with the Go one (so results do not depend
// on the CPU), on a batch of several tiles.
func TestLanesAsmSameLoss(t *testing.T) {
	if !haveLanesAsm {
		t.Skip("no AVX2")
	}
	defer func(v bool) { haveLanesAsm = v }(haveLanesAsm)
	x, labels := benchBatch(700, 16)
	for _, spec := range []string{"triplet", "triplet:margin=0.05", "triplet:margin=1"} {
		l := mustParse(t, spec)
		var vals [2]float64
		grads := [2][]float32{}
		for i, asm := range []bool{true, false} {
			haveLanesAsm = asm
			g := linalg.NewMatrix(x.Rows, x.Cols)
			vals[i] = l.Eval(Batch{X: x, Labels: labels}, g)
			grads[i] = g.Data
		}
		if math.Float64bits(vals[0]) != math.Float64bits(vals[1]) {
			t.Fatalf("%s: value %v (asm) vs %v (Go)", spec, vals[0], vals[1])
		}
		for i := range grads[0] {
			if math.Float32bits(grads[0][i]) != math.Float32bits(grads[1][i]) {
				t.Fatalf("%s: grad[%d] %v (asm) vs %v (Go)", spec, i, grads[0][i], grads[1][i])
			}
		}
	}
}
