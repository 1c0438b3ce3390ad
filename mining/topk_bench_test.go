package mining

import (
	"context"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/internal/procstat"
	"gonum.org/v1/gonum/blas/blas32"
)

// BenchmarkTopK measures the exact search on 10,000 queries × 200,000
// corpus rows × 384 dimensions, k=100 (with -short: 1,000 × 20,000). The
// sgemm sub-benchmark runs only the GEMMs of the same block shapes into the
// same buffer: the peak the search is compared with. Both report GFLOP/s
// (2·Q·C·D flops per op) of wall time and per CPU-second of the process
// (less sensitive to other processes on a shared machine); topk also
// reports both as a percentage of sgemm's, the process's peak RSS and the
// corpus size, in MiB.
func BenchmarkTopK(b *testing.B) {
	nq, nc, d, k := 10000, 200000, 384, 100
	if testing.Short() {
		nq, nc = 1000, 20000
	}
	r := rand.New(rand.NewPCG(1, 2))
	fill := func(m blas32.General) {
		for i := range m.Data {
			m.Data[i] = float32(r.NormFloat64())
		}
		NormalizeRows(m)
	}
	queries, corpus := linalg.NewMatrix(nq, d), linalg.NewMatrix(nc, d)
	fill(queries)
	fill(corpus)
	s := SearchSettings{}.withDefaults()
	flops := 2 * float64(nq) * float64(nc) * float64(d)
	name := "Q=" + strconv.Itoa(nq) + "/C=" + strconv.Itoa(nc) + "/D=" + strconv.Itoa(d)
	var sgemmWall, sgemmCPU float64 // GFLOP/s and GFLOP per CPU-second
	b.Run("sgemm/"+name, func(b *testing.B) {
		buf := make([]float32, s.QueryBlock*s.CorpusBlock)
		cpu0 := procstat.CPUTime()
		for b.Loop() {
			for q0 := 0; q0 < nq; q0 += s.QueryBlock {
				q1 := min(q0+s.QueryBlock, nq)
				for c0 := 0; c0 < nc; c0 += s.CorpusBlock {
					c1 := min(c0+s.CorpusBlock, nc)
					dst := blas32.General{Rows: q1 - q0, Cols: c1 - c0, Stride: c1 - c0, Data: buf[:(q1-q0)*(c1-c0)]}
					linalg.MulT(dst, linalg.Slice(queries, q0, q1), linalg.Slice(corpus, c0, c1))
				}
			}
		}
		sgemmWall = flops * float64(b.N) / b.Elapsed().Seconds() / 1e9
		sgemmCPU = flops * float64(b.N) / (procstat.CPUTime() - cpu0).Seconds() / 1e9
		b.ReportMetric(sgemmWall, "GFLOP/s")
		b.ReportMetric(sgemmCPU, "GFLOP/cpu-s")
	})
	b.Run("topk/"+name+"/k="+strconv.Itoa(k), func(b *testing.B) {
		var res Results
		runtime.GC()
		cpu0 := procstat.CPUTime()
		for b.Loop() {
			if err := TopK(context.Background(), &res, queries, corpus, k, s, nil, nil); err != nil {
				b.Fatal(err)
			}
		}
		wall := flops * float64(b.N) / b.Elapsed().Seconds() / 1e9
		cpu := flops * float64(b.N) / (procstat.CPUTime() - cpu0).Seconds() / 1e9
		b.ReportMetric(wall, "GFLOP/s")
		b.ReportMetric(cpu, "GFLOP/cpu-s")
		if sgemmWall > 0 {
			b.ReportMetric(100*wall/sgemmWall, "%sgemm-wall")
			b.ReportMetric(100*cpu/sgemmCPU, "%sgemm-cpu")
		}
		b.ReportMetric(float64(procstat.PeakRSS())/(1<<20), "peakRSS-MiB")
		b.ReportMetric(float64(len(corpus.Data)*4)/(1<<20), "corpus-MiB")
	})
}
