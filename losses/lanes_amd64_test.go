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

// TestSubDistsCoefAsm checks the vector loops of subDists and subCoef
// against their Go loops bit for bit, with negative radicands, zero and
// +Inf distances.
func TestSubDistsCoefAsm(t *testing.T) {
	if !haveLanesAsm {
		t.Skip("no AVX2")
	}
	defer func(v bool) { haveLanesAsm = v }(haveLanesAsm)
	const n = 37
	s := make([]float32, n)
	sqQ := make([]float64, n)
	for j := range n {
		s[j] = float32(j%7) * 0.25
		sqQ[j] = float64(j%5) * 0.3
	}
	var d [2][n]float64
	var w [2][n]float32
	var cnt [2]float64
	for i, asm := range []bool{true, false} {
		haveLanesAsm = asm
		subDists(0.5, sqQ, s, d[i][:])
		na := make([]float64, n)
		for j := range na {
			na[j] = float64(j % 4)
		}
		dd := d[i]
		dd[3], dd[8], dd[9] = 0, math.Inf(1), 0
		copy(w[i][:], s)
		cnt[i] = subCoef(dd[:], na, w[i][:])
	}
	for j := range n {
		if math.Float64bits(d[0][j]) != math.Float64bits(d[1][j]) || math.Float32bits(w[0][j]) != math.Float32bits(w[1][j]) {
			t.Fatalf("[%d]: d %v vs %v, coef %v vs %v", j, d[0][j], d[1][j], w[0][j], w[1][j])
		}
	}
	if cnt[0] != cnt[1] {
		t.Fatalf("count %v vs %v", cnt[0], cnt[1])
	}
}
