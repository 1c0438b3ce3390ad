package losses

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
)

// evalFn evaluates a labelled float32 batch, writing the gradient.
type evalFn func(x blas32.General, labels []int, grad blas32.General) float64

// tileForm returns the row-block engine's and the tile engine's
// evaluation of the labelled float32 loss l.
func tileForm(l Loss) (rows, tiles evalFn) {
	switch l := l.(type) {
	case *Contrastive:
		return engines(l.Normalize, l.kernel, l.tiles)
	case *Triplet:
		return engines(l.Normalize, l.kernel, l.tiles)
	case *InfoNCE:
		return engines(l.Normalize, l.kernel, l.tiles)
	case *Circle:
		return engines(l.Normalize, l.kernel, l.tiles)
	}
	panic(fmt.Sprintf("losses: %s has no tile form", l.Name()))
}

// engines returns the two engines' evaluations of a loss with row
// kernel row and tile kernel tile. The tile engine starts from an N×N
// buffer full of NaNs, so that reading an entry of W the evaluation has
// not written (below the diagonal, say) shows in the results.
func engines(normalize bool, row func(*pairCtx) rowKernel, tile func(*pairCtx) tileKernel) (rows, tiles evalFn) {
	return func(x blas32.General, y []int, g blas32.General) float64 {
			return evalPairwise32(x, y, 0, normalize, row, g)
		}, func(x blas32.General, y []int, g blas32.General) float64 {
			w := make([]float32, x.Rows*x.Rows)
			for i := range w {
				w[i] = float32(math.NaN())
			}
			var c tileCache
			c.put(w)
			return evalTiles32Cached(x, y, normalize, tile, g, &c)
		}
}

// tileSpecs are the specs the tile engine is cross-checked on here.
var tileSpecs = []string{
	"contrastive", "contrastive:normalize=false", "contrastive:margin=0.5,pos_margin=0.2",
	"triplet", "triplet:mining=semihard", "triplet:mining=hard", "triplet:mining=easy",
	"triplet:reduction=mean", "triplet:mining=semihard,reduction=mean", "triplet:mining=hard,reduction=mean",
	"triplet:mining=easy,reduction=mean", "triplet:distance=cosine", "triplet:distance=squared,normalize=false",
	"triplet:normalize=false", "triplet:margin=0.5,mining=semihard,distance=cosine",
}

func TestTilesMatchRows(t *testing.T)     { checkTilesMatchRows(t, tileSpecs) }
func TestTilesDeterministic(t *testing.T) { checkTilesDeterministic(t, tileSpecs) }

// checkTilesMatchRows checks the tile engine against the row-block engine
// for each spec on random batches whose sizes cover one tile, a partial
// last tile and several tiles, with duplicate rows, a zero row and
// singleton classes.
func checkTilesMatchRows(t *testing.T, specs []string) {
	for _, n := range []int{1, 2, 3, 17, 128, 129, 300, 700, 2100} {
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
			copy(linalg.Row(x, 5), linalg.Row(x, 3)) // a duplicate row
			labels[5] = labels[3]
			clear(linalg.Row(x, 7)) // a zero row
			labels[9] = -1          // a singleton class
		}
		for _, spec := range specs {
			l := mustParse(t, spec)
			rows, tiles := tileForm(l)
			g1, g2 := linalg.NewMatrix(n, d), linalg.NewMatrix(n, d)
			v1, v2 := rows(x, labels, g1), tiles(x, labels, g2)
			name := fmt.Sprintf("%s n=%d", spec, n)
			if math.IsNaN(v2) || math.Abs(v1-v2) > 1e-5*(1+math.Abs(v1)) {
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
	}
}

// checkTilesDeterministic checks that Eval gives bit-identical values and
// gradients at GOMAXPROCS 1 and 2 on batches of several tiles of either
// edge (see tileEdgeFor).
func checkTilesDeterministic(t *testing.T, specs []string) {
	for _, n := range []int{700, 2100} {
		checkTilesDeterministicN(t, specs, n)
	}
}

func checkTilesDeterministicN(t *testing.T, specs []string, n int) {
	x, labels := benchBatch(n, 16)
	for _, spec := range specs {
		l := mustParse(t, spec)
		var vals [2]float64
		var grads [2]blas32.General
		for i, procs := range []int{1, 2} {
			old := runtime.GOMAXPROCS(procs)
			grads[i] = linalg.NewMatrix(x.Rows, x.Cols)
			vals[i] = l.Eval(Batch{X: x, Labels: labels}, grads[i])
			runtime.GOMAXPROCS(old)
		}
		if math.Float64bits(vals[0]) != math.Float64bits(vals[1]) {
			t.Fatalf("%s: value %v vs %v", spec, vals[0], vals[1])
		}
		for i := range grads[0].Data {
			if math.Float32bits(grads[0].Data[i]) != math.Float32bits(grads[1].Data[i]) {
				t.Fatalf("%s: grad[%d] %v vs %v", spec, i, grads[0].Data[i], grads[1].Data[i])
			}
		}
	}
}

// TestTilesMatchRowsTies runs the triplet specs on rows drawn from a
// small grid ({0, 1}⁶, some repeated), where many distances are exactly
// equal: negatives tie with positives and with each other, which
// exercises every rank comparison at equality (including the semihard
// tables' bucket edges). One triplet counted differently would move a
// gradient row by about 1% of the largest entry; the tolerance, 0.1%,
// leaves room for the float32 rounding of sums that cancel on such
// symmetric data.
func TestTilesMatchRowsTies(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, n := range []int{40, 300} {
		d := 6
		x := linalg.NewMatrix(n, d)
		for i := range x.Data {
			x.Data[i] = float32(rng.IntN(2))
		}
		labels := make([]int, n)
		for i := range labels {
			labels[i] = rng.IntN(max(2, n/6))
		}
		for _, spec := range []string{"triplet", "triplet:mining=semihard", "triplet:mining=hard", "triplet:mining=semihard,margin=0.5",
			"triplet:distance=cosine,mining=semihard", "triplet:normalize=false", "triplet:normalize=false,mining=semihard", "contrastive"} {
			l := mustParse(t, spec)
			rows, tiles := tileForm(l)
			g1, g2 := linalg.NewMatrix(n, d), linalg.NewMatrix(n, d)
			v1, v2 := rows(x, labels, g1), tiles(x, labels, g2)
			if math.Abs(v1-v2) > 1e-6*(1+math.Abs(v1)) {
				t.Fatalf("%s n=%d: value rows %.9g tiles %.9g", spec, n, v1, v2)
			}
			var gmax float64
			for _, v := range g1.Data {
				gmax = max(gmax, math.Abs(float64(v)))
			}
			for i := range g1.Data {
				if diff := math.Abs(float64(g1.Data[i] - g2.Data[i])); !(diff <= 1e-3*(gmax+1e-12)) {
					t.Fatalf("%s n=%d: grad[%d] rows %g tiles %g", spec, n, i, g1.Data[i], g2.Data[i])
				}
			}
		}
	}
}
