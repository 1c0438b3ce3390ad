package linalg

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// TestGemmPanels checks products large enough to be split into panels
// (tall and wide, every transpose combination, sliced operands with a
// stride) against a float64 triple loop, and checks that the result is
// bit-identical whatever GOMAXPROCS is.
func TestGemmPanels(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	at := func(x blas32.General, tr blas.Transpose, i, j int) float64 {
		if tr == blas.Trans {
			i, j = j, i
		}
		return float64(x.Data[i*x.Stride+j])
	}
	// op returns an operand of logical shape rows×cols (after tr), cut
	// out of a wider matrix so that Stride > Cols.
	op := func(tr blas.Transpose, rows, cols int) blas32.General {
		if tr == blas.Trans {
			rows, cols = cols, rows
		}
		m := randMatrix(r, rows, cols+3)
		m.Cols = cols
		return m
	}
	for _, shape := range []struct {
		name    string
		m, n, k int
	}{
		{"tall", 300, 260, 40},
		{"wide", 50, 700, 80},
		{"odd", 517, 389, 33},
	} {
		for _, tA := range []blas.Transpose{blas.NoTrans, blas.Trans} {
			for _, tB := range []blas.Transpose{blas.NoTrans, blas.Trans} {
				m, n, k := shape.m, shape.n, shape.k
				a, b := op(tA, m, k), op(tB, k, n)
				c0 := randMatrix(r, m, n)
				var first []float32
				for _, procs := range []int{1, 2, 3} {
					prev := runtime.GOMAXPROCS(procs)
					c := NewMatrix(m, n)
					copy(c.Data, c0.Data)
					Gemm(tA, tB, 0.5, a, b, 2, c)
					runtime.GOMAXPROCS(prev)
					if first == nil {
						first = c.Data
						for i := 0; i < m; i++ {
							for j := 0; j < n; j++ {
								s := 0.0
								for l := 0; l < k; l++ {
									s += at(a, tA, i, l) * at(b, tB, l, j)
								}
								w := 0.5*s + 2*float64(c0.Data[i*n+j])
								if got := float64(c.Data[i*n+j]); math.Abs(got-w) > 1e-4*(1+math.Abs(w)) {
									t.Fatalf("%s tA=%c tB=%c: c[%d,%d] = %g, want %g", shape.name, tA, tB, i, j, got, w)
								}
							}
						}
					} else if !slices.Equal(first, c.Data) {
						t.Errorf("%s tA=%c tB=%c: result with GOMAXPROCS=%d differs from GOMAXPROCS=1", shape.name, tA, tB, procs)
					}
				}
			}
		}
	}
}
