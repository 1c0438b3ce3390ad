package losses

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
)

// infoNCETileSpecs are the InfoNCE specs the tile form is cross-checked on.
var infoNCETileSpecs = []string{
	"infonce", "infonce:temperature=0.01", "infonce:temperature=0.001", "infonce:temperature=2",
	"infonce:normalize=false", "infonce:normalize=false,temperature=0.05",
}

func TestInfoNCETilesMatchRows(t *testing.T) { checkTilesMatchRows(t, infoNCETileSpecs) }

func TestInfoNCETilesDeterministic(t *testing.T) { checkTilesDeterministic(t, infoNCETileSpecs) }

// TestInfoNCETilesEdgeLabels checks the tile form against the row-block
// engine on label patterns with classes that have no term: all rows of
// one class (no negatives), all singletons (no positives), and a mix of
// singletons with one pair, on batches spanning several tiles.
func TestInfoNCETilesEdgeLabels(t *testing.T) {
	checkTilesEdgeLabels(t, []string{"infonce", "infonce:temperature=0.001,normalize=false"})
}

// checkTilesEdgeLabels runs the tile and row-block forms of each spec on
// degenerate label patterns and requires matching, finite results.
func checkTilesEdgeLabels(t *testing.T, specs []string) {
	const n, d = 300, 8
	x, _ := benchBatch(n, d)
	patterns := map[string]func(i int) int{
		"one class":   func(int) int { return 7 },
		"singletons":  func(i int) int { return i },
		"one pair":    func(i int) int { return min(i, 299-i, 150) },
		"two classes": func(i int) int { return i % 2 },
	}
	for _, spec := range specs {
		l := mustParse(t, spec)
		rows, tiles := tileForm(l)
		for name, f := range patterns {
			labels := make([]int, n)
			for i := range labels {
				labels[i] = f(i)
			}
			matchForms(t, spec+" "+name, rows, tiles, x, labels)
		}
	}
}

// matchForms requires the same value (relative 1e-5) and gradient
// (1e-4 of the largest entry) from both evaluations, and a finite value.
func matchForms(t *testing.T, name string, rows, tiles evalFn, x blas32.General, labels []int) {
	t.Helper()
	g1, g2 := linalg.NewMatrix(x.Rows, x.Cols), linalg.NewMatrix(x.Rows, x.Cols)
	v1, v2 := rows(x, labels, g1), tiles(x, labels, g2)
	if math.IsNaN(v2) || math.IsInf(v2, 0) || math.Abs(v1-v2) > 1e-5*(1+math.Abs(v1)) {
		t.Fatalf("%s: value rows %.9g tiles %.9g", name, v1, v2)
	}
	var gmax float64
	for _, v := range g1.Data {
		gmax = max(gmax, math.Abs(float64(v)))
	}
	for i := range g1.Data {
		if diff := math.Abs(float64(g1.Data[i] - g2.Data[i])); !(diff <= 1e-4*(gmax+1e-12)) {
			t.Fatalf("%s: grad[%d] rows %g tiles %g (max |g| %g)", name, i, g1.Data[i], g2.Data[i], gmax)
		}
	}
}

// negLSEOf returns the skeleton of a tile kernel of InfoNCE or circle.
func negLSEOf(k tileKernel) *negLSETiles {
	switch k := k.(type) {
	case *infoNCETiles:
		return &k.negLSETiles
	case *circleTiles:
		return &k.negLSETiles
	}
	panic("not a negLSETiles kernel")
}

// tilesWith returns the tile evaluation of InfoNCE or circle l with its
// kernel adjusted by set, and a pointer to the last kernel run.
func tilesWith(l Loss, set func(*negLSETiles)) (evalFn, *tileKernel) {
	var last tileKernel
	var mk func(*pairCtx) tileKernel
	var normalize bool
	switch l := l.(type) {
	case *InfoNCE:
		mk, normalize = l.tiles, l.Normalize
	case *Circle:
		mk, normalize = l.tiles, l.Normalize
	}
	return func(x blas32.General, y []int, g blas32.General) float64 {
		return evalTiles32(x, y, normalize, func(c *pairCtx) tileKernel {
			last = mk(c)
			set(negLSEOf(last))
			return last
		}, g)
	}, &last
}

// tileBatch returns the random batch checkTilesMatchRows uses for n rows.
func tileBatch(n int) (blas32.General, []int) {
	rng := rand.New(rand.NewPCG(uint64(n), 9))
	d := 12
	x := linalg.NewMatrix(n, d)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64() * 0.6)
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = rng.IntN(max(1, n/5))
	}
	if n > 10 {
		copy(linalg.Row(x, 5), linalg.Row(x, 3))
		labels[5] = labels[3]
		clear(linalg.Row(x, 7))
		labels[9] = -1
	}
	return x, labels
}

// TestNegLSEPaths checks each way sweep 0 and sweep 1 can go against the
// row-block engine: the constant shift, per-tile shifts with one
// exponential per pair, and two exponentials per pair (forced by
// lowering the limits), and that the default limits take the expected
// path for some specs.
func TestNegLSEPaths(t *testing.T) {
	paths := []struct {
		name string
		set  func(*negLSETiles)
	}{
		{"default", func(*negLSETiles) {}},
		{"per-tile", func(k *negLSETiles) { k.constRange = -1 }},
		{"two-exp", func(k *negLSETiles) { k.constRange, k.fastRange = -1, -1 }},
	}
	specs := []string{"infonce", "infonce:temperature=0.02", "infonce:normalize=false",
		"circle", "circle:gamma=5", "circle:gamma=256,m=0.1", "circle:normalize=false"}
	for _, n := range []int{17, 300, 700} {
		x, labels := tileBatch(n)
		for _, spec := range specs {
			l := mustParse(t, spec)
			rows, _ := tileForm(l)
			for _, p := range paths {
				tiles, _ := tilesWith(l, p.set)
				matchForms(t, fmt.Sprintf("%s n=%d %s", spec, n, p.name), rows, tiles, x, labels)
			}
		}
	}
	// Which path the defaults take (on a batch of several tiles).
	x, labels := tileBatch(700)
	tiles3 := (700 + tileEdgeFor(700) - 1) / tileEdgeFor(700)
	for _, tc := range []struct {
		spec            string
		constant        bool
		fastAll, fastNo bool // every tile pair / none on the one-exponential path
	}{
		{"infonce", true, true, false},
		{"infonce:temperature=0.02", false, true, false},
		{"infonce:temperature=0.001", false, false, true},
		{"circle", true, true, false},
		{"circle:gamma=120", false, true, false},
		{"circle:gamma=5", true, true, false},
		{"circle:gamma=1000", false, false, true},
	} {
		tiles, last := tilesWith(mustParse(t, tc.spec), func(*negLSETiles) {})
		tiles(x, labels, blas32.General{})
		k := negLSEOf(*last)
		nf, nt := 0, 0 // k.fast has T×T entries, for the upper tile pairs
		for i := range tiles3 {
			for j := i; j < tiles3; j++ {
				nt++
				if k.fast[i*tiles3+j] {
					nf++
				}
			}
		}
		if k.constShift != tc.constant || (tc.fastAll && nf != nt) || (tc.fastNo && nf != 0) {
			t.Errorf("%s: constant shift %v, %d of %d tile pairs on the one-exponential path", tc.spec, k.constShift, nf, nt)
		}
	}
}

// BenchmarkNegRows measures the per-row loops of the InfoNCE and circle
// tile forms on one 256-entry tile row (ns/op is per row of 256 pairs).
func BenchmarkNegRows(b *testing.B) {
	const nc = 256
	s := make([]float32, nc)
	for i := range s {
		s[i] = float32(math.Sin(float64(i))) * 0.4
	}
	colM, colZ, lse, cf := make([]float64, nc), make([]float64, nc), make([]float64, nc), make([]float64, nc)
	for i := range colM {
		colM[i], lse[i], cf[i] = 6, 8, 0.5
	}
	t := make([]float32, nc)
	for _, q := range []struct {
		name string
		rows negRows
	}{{"infonce", infoNCERows{inv: 1 / 0.07}}, {"circle", circleRows{g: 80, m: 0.4}}} {
		b.Run(q.name+"/max", func(b *testing.B) {
			for range b.N {
				q.rows.rowMax(s, colM, -1)
			}
		})
		b.Run(q.name+"/sum-const", func(b *testing.B) {
			for range b.N {
				copy(t, s)
				q.rows.rowSumConst(t, colZ, 14)
			}
		})
		b.Run(q.name+"/sum-fast", func(b *testing.B) {
			for range b.N {
				copy(t, s)
				q.rows.rowSumFast(t, colM, cf, colZ, 3, 0.5)
			}
		})
		b.Run(q.name+"/sum-two-exp", func(b *testing.B) {
			for range b.N {
				q.rows.rowSum(s, colM, colZ, 6)
			}
		})
		b.Run(q.name+"/coef-two-exp", func(b *testing.B) {
			for range b.N {
				copy(t, s)
				q.rows.rowCoef(t, lse, cf, 8, 0.5)
			}
		})
	}
	b.Run("coef-const", func(b *testing.B) {
		for range b.N {
			copy(t, s)
			coefConst(t, cf, 0.5)
		}
	})
	b.Run("coef-fast", func(b *testing.B) {
		for range b.N {
			copy(t, s)
			coefFast(t, lse, cf, 0.7, 0.5)
		}
	})
}
