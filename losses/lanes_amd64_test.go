//go:build amd64 && !purego

package losses

import (
	"math"
	"math/rand/v2"
	"slices"
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
	for _, spec := range []string{"triplet", "triplet:margin=0.05", "triplet:margin=1", "triplet:mining=semihard", "triplet:mining=semihard,margin=0.5"} {
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

// semiVals are the distances the semihard tests draw from: ties, +Inf
// and NaN among them (positives use all but the last two).
var semiVals = []float64{0, 0.5, 0.75, 0.9, 1, 1.1, 1.2, 1.3, 1.5, 2, math.Inf(1), math.NaN()}

// semiDists returns n distances for iteration it (from semiVals on even
// iterations, uniform in [0, 2) on odd ones) and starting counts.
func semiDists(rng *rand.Rand, it, n int) (d, na []float64) {
	d, na = make([]float64, n), make([]float64, n)
	for i := range d {
		d[i] = rng.Float64() * 2
		if it%2 == 0 {
			d[i] = semiVals[rng.IntN(len(semiVals))]
		}
		na[i] = float64(rng.IntN(3))
	}
	return d, na
}

// semiPad returns 0 to 16 sorted positives for iteration it, padded
// with +Inf.
func semiPad(rng *rand.Rand, it int) (pad [16]float64) {
	pos := make([]float64, rng.IntN(17))
	for i := range pos {
		pos[i] = rng.Float64() * 2
		if it%2 == 0 {
			pos[i] = semiVals[rng.IntN(len(semiVals)-2)]
		}
	}
	slices.Sort(pos)
	for i := range pad {
		pad[i] = math.Inf(1)
		if i < len(pos) {
			pad[i] = pos[i]
		}
	}
	return pad
}

// sameCounts fails unless the assembly's and Go's counts naA and naG are
// bit-identical, and returns how many entries changed from na.
func sameCounts(t *testing.T, it int, na, naA, naG []float64) (changed int) {
	t.Helper()
	for i := range naA {
		if math.Float64bits(naA[i]) != math.Float64bits(naG[i]) {
			t.Fatalf("it %d: na[%d] asm %v Go %v", it, i, naA[i], naG[i])
		}
		if naG[i] != na[i] {
			changed++
		}
	}
	return changed
}

// TestSemi4Asm checks semi4Asm against semi4Go, bit for bit, on tied,
// +Inf, NaN and random distances, with lanes of 0 to 16 positives, every
// group count and both strides.
func TestSemi4Asm(t *testing.T) {
	if !haveLanesAsm {
		t.Skip("no AVX2")
	}
	rng := rand.New(rand.NewPCG(3, 3))
	active := 0
	for it := range 400 {
		m, stride := 1+rng.IntN(30), 4+3*(it%2)
		d, na := semiDists(rng, it, (m-1)*stride+4)
		c := laneSemi{margin: []float64{0, 0.2, 0.5}[it%3]}
		for k := range 4 {
			pad := semiPad(rng, it)
			for i := range pad {
				c.pad[i][k] = pad[i]
			}
		}
		groups := 1 + it%4
		var a, g semiOut
		naA, naG := slices.Clone(na), slices.Clone(na)
		semi4Asm(&d[0], &naA[0], m, stride, groups, &c, &a)
		semi4Go(d, naG, m, stride, groups, &c, &g)
		if a != g {
			t.Fatalf("it %d (groups %d): asm %+v\nGo %+v", it, groups, a, g)
		}
		active += sameCounts(t, it, na, naA, naG)
	}
	if active == 0 {
		t.Fatal("no negative formed a semihard triplet: the test checks nothing")
	}
}

// TestSemiRowAsm checks semiRowAsm against semiRowGo the same way.
func TestSemiRowAsm(t *testing.T) {
	if !haveLanesAsm {
		t.Skip("no AVX2")
	}
	rng := rand.New(rand.NewPCG(4, 4))
	active := 0
	for it := range 400 {
		m := 1 + rng.IntN(40)
		d, na := semiDists(rng, it, 4*m)
		margin := []float64{0, 0.2, 0.5}[it%3]
		pad := semiPad(rng, it)
		groups := 1 + it%4
		var a, g semiRowOut
		naA, naG := slices.Clone(na), slices.Clone(na)
		semiRowAsm(&d[0], &naA[0], m, groups, &pad, margin, &a)
		semiRowGo(d, naG, m, groups, &pad, margin, &g)
		if a != g {
			t.Fatalf("it %d (groups %d): asm %+v\nGo %+v", it, groups, a, g)
		}
		active += sameCounts(t, it, na, naA, naG)
	}
	if active == 0 {
		t.Fatal("no negative formed a semihard triplet: the test checks nothing")
	}
}
