package losses

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/internal/procstat"
)

// benchBatch returns n rows of dimension d in classes of 16 rows each
// (64 classes at n=1024, 256 at n=4096), labels shuffled.
func benchBatch(n, d int) (blas32.General, []int) {
	rng := rand.New(rand.NewPCG(uint64(n), 1))
	x := linalg.NewMatrix(n, d)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = i / 16
	}
	rng.Shuffle(n, func(i, j int) { labels[i], labels[j] = labels[j], labels[i] })
	return x, labels
}

// BenchmarkLosses measures forward + backward of each loss at D=128, and
// the N×N×D Gram GEMM the losses are compared against (goal: each loss at
// most 4× the Gram time). ns/op are back-to-back evaluations; each loss
// also reports ×gram, from as many evaluations again each followed by one
// Gram GEMM: their summed times' ratio.
func BenchmarkLosses(b *testing.B) {
	const d = 128
	cases := []struct{ name, spec string }{
		{"contrastive", "contrastive"},
		{"triplet-all", "triplet"},
		{"triplet-semihard", "triplet:mining=semihard"},
		{"triplet-batch-hard", "triplet:mining=batch-hard"},
		{"infonce", "infonce"},
		{"center", "center"},
		{"circle", "circle"},
	}
	for _, n := range []int{1024, 4096} {
		x, labels := benchBatch(n, d)
		grad := linalg.NewMatrix(n, d)
		s := linalg.NewMatrix(n, n)
		b.Run(fmt.Sprintf("gram/n=%d", n), func(b *testing.B) {
			b.ResetTimer()
			c0 := procstat.CPUTime()
			for range b.N {
				linalg.MulT(s, x, x)
			}
			b.ReportMetric(float64((procstat.CPUTime()-c0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
			b.ReportMetric(2*float64(n)*float64(n)*d*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		for _, c := range cases {
			l := mustParse(b, c.spec)
			b.Run(fmt.Sprintf("%s/n=%d", c.name, n), func(b *testing.B) {
				// Steady state: the first call allocates the buffers a
				// loss then keeps (see tileCache).
				l.Eval(Batch{X: x, Labels: labels}, grad)
				b.ResetTimer()
				b.ReportAllocs()
				c0 := procstat.CPUTime()
				for range b.N {
					l.Eval(Batch{X: x, Labels: labels}, grad)
				}
				b.ReportMetric(float64((procstat.CPUTime()-c0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
				b.StopTimer()
				// ×gram: as many evaluations again, each followed by one
				// Gram GEMM, and the ratio of their summed times. On a
				// shared VM the speed of both drifts by ±20% over a run;
				// alternating them compares the two under the same
				// conditions (each starting with caches the other left).
				var tLoss, tGram time.Duration
				for range b.N {
					t0 := time.Now()
					l.Eval(Batch{X: x, Labels: labels}, grad)
					t1 := time.Now()
					linalg.MulT(s, x, x)
					tLoss, tGram = tLoss+t1.Sub(t0), tGram+time.Since(t1)
				}
				b.ReportMetric(float64(tLoss)/float64(tGram), "×gram")
			})
		}
	}
}

// TestNTXentLarge runs NT-Xent (forward + backward) at n = 65,536, D = 128
// and reports time and peak RSS. It takes a minute, so it only runs with
// EMBFIT_LARGE=1.
func TestNTXentLarge(t *testing.T) {
	if os.Getenv("EMBFIT_LARGE") == "" {
		t.Skip("set EMBFIT_LARGE=1 to run the n=65,536 NT-Xent check")
	}
	n := 65536
	if s := os.Getenv("EMBFIT_LARGE_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	x, labels := benchBatch(n, 128)
	grad := linalg.NewMatrix(n, 128)
	l := mustParse(t, "infonce")
	start, c0 := time.Now(), procstat.CPUTime()
	v := l.Eval(Batch{X: x, Labels: labels}, grad)
	el := time.Since(start)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("NT-Xent n=%d D=128: value %.6f in %v wall, %v CPU (all threads); peak RSS %.0f MiB; Go heap sys %.0f MiB", n, v, el, procstat.CPUTime()-c0, float64(procstat.PeakRSS())/(1<<20), float64(ms.HeapSys)/(1<<20))
}
