package linalg

import (
	"math"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/gonum"
)

func randMatrix(r *rand.Rand, rows, cols int) blas32.General {
	m := NewMatrix(rows, cols)
	for i := range m.Data {
		m.Data[i] = float32(r.NormFloat64())
	}
	return m
}

// TestGemmMatchesNaive checks the active backend against a float64 triple
// loop for every transpose combination and a strided (sliced) operand.
func TestGemmMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name   string
		tA, tB blas.Transpose
	}{
		{"NN", blas.NoTrans, blas.NoTrans},
		{"NT", blas.NoTrans, blas.Trans},
		{"TN", blas.Trans, blas.NoTrans},
		{"TT", blas.Trans, blas.Trans},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, n, k := 37, 29, 53
			a := randMatrix(r, m, k)
			if tc.tA == blas.Trans {
				a = randMatrix(r, k, m)
			}
			b := randMatrix(r, k, n)
			if tc.tB == blas.Trans {
				b = randMatrix(r, n, k)
			}
			c := randMatrix(r, m, n)
			want := make([]float64, m*n)
			at := func(x blas32.General, tr blas.Transpose, i, j int) float64 {
				if tr == blas.Trans {
					i, j = j, i
				}
				return float64(x.Data[i*x.Stride+j])
			}
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					s := 0.0
					for l := 0; l < k; l++ {
						s += at(a, tc.tA, i, l) * at(b, tc.tB, l, j)
					}
					want[i*n+j] = 0.5*s + 2*float64(c.Data[i*n+j])
				}
			}
			Gemm(tc.tA, tc.tB, 0.5, a, b, 2, c)
			for i, w := range want {
				if math.Abs(float64(c.Data[i])-w) > 1e-4*(1+math.Abs(w)) {
					t.Fatalf("c[%d] = %g, want %g", i, c.Data[i], w)
				}
			}
		})
	}
}

func TestSliceAndMulT(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	a := randMatrix(r, 10, 7)
	s := Slice(a, 2, 6)
	g := NewMatrix(4, 4)
	MulT(g, s, s)
	for i := 0; i < 4; i++ {
		for j := 0; j < 4; j++ {
			d := 0.0
			for l := 0; l < 7; l++ {
				d += float64(Row(a, 2+i)[l]) * float64(Row(a, 2+j)[l])
			}
			if math.Abs(float64(g.Data[i*4+j])-d) > 1e-5 {
				t.Fatalf("gram[%d,%d] = %g, want %g", i, j, g.Data[i*4+j], d)
			}
		}
	}
}

// BenchmarkSgemm reports GFLOP/s of the active backend and of pure-Go gonum
// on a square n×n×n product, the reference peak other benchmarks compare to.
func BenchmarkSgemm(b *testing.B) {
	for _, n := range []int{1024, 2048} {
		r := rand.New(rand.NewPCG(5, 6))
		x, y, z := randMatrix(r, n, n), randMatrix(r, n, n), NewMatrix(n, n)
		flops := 2 * float64(n) * float64(n) * float64(n)
		b.Run(Backend()+"/n="+strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				Mul(z, x, y)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		if n == 1024 {
			b.Run("gonum/n="+strconv.Itoa(n), func(b *testing.B) {
				impl := gonum.Implementation{}
				for b.Loop() {
					impl.Sgemm(blas.NoTrans, blas.NoTrans, n, n, n, 1, x.Data, n, y.Data, n, 0, z.Data, n)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// TestSymmUpper checks SymmUpper against Mul on the symmetric matrix,
// with NaN below the diagonal to show that part is never read.
func TestSymmUpper(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{1, 5, 70, 300} {
		for _, k := range []int{1, 31, 33, 100} {
			a := randMatrix(r, n, n)
			full := NewMatrix(n, n)
			for i := range n {
				for j := range n {
					if j >= i {
						full.Data[i*n+j], full.Data[j*n+i] = a.Data[i*n+j], a.Data[i*n+j]
					}
				}
			}
			for i := range n {
				for j := range i {
					a.Data[i*n+j] = float32(math.NaN())
				}
			}
			b := randMatrix(r, n, k)
			got, want := NewMatrix(n, k), NewMatrix(n, k)
			SymmUpper(got, a, b)
			Mul(want, full, b)
			for i := range got.Data {
				if d := math.Abs(float64(got.Data[i] - want.Data[i])); !(d <= 1e-4*(1+math.Abs(float64(want.Data[i])))) {
					t.Fatalf("n=%d k=%d: [%d] = %g, want %g", n, k, i, got.Data[i], want.Data[i])
				}
			}
			// SymmUpperRows: each row reported once, already final (the
			// same bits as SymmUpper's) when it is reported.
			rows := NewMatrix(n, k)
			seen := make([]int32, n)
			seenRows := NewMatrix(n, k)
			SymmUpperRows(rows, a, b, func(r0, r1 int) {
				for i := r0; i < r1; i++ {
					atomic.AddInt32(&seen[i], 1)
					copy(Row(seenRows, i), Row(rows, i))
				}
			})
			for i, c := range seen {
				if c != 1 {
					t.Fatalf("n=%d k=%d: row %d reported %d times", n, k, i, c)
				}
			}
			for i := range got.Data {
				if math.Float32bits(seenRows.Data[i]) != math.Float32bits(got.Data[i]) {
					t.Fatalf("n=%d k=%d: [%d] reported as %g, final %g", n, k, i, seenRows.Data[i], got.Data[i])
				}
			}
		}
	}
}
