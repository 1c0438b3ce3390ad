package losses

import (
	"testing"

	"github.com/embfit/embfit/internal/linalg"
)

// BenchmarkKernelRow measures the per-entry cost of each pairwise kernel
// alone (one thread, Gram rows precomputed), in ns per similarity entry.
func BenchmarkKernelRow(b *testing.B) {
	n, d := 1024, 128
	x, labels := benchBatch(n, d)
	ctx := newPairCtx(n, labels, 0, true)
	xp := linalg.NewMatrix(n, d)
	for i, p := range ctx.perm {
		copy(linalg.Row(xp, i), linalg.Row(x, p))
	}
	u, _, sq := prep32(xp, true)
	ctx.sq = sq
	ctx.f32 = true // as on the float32 path the benchmark's Gram rows come from
	be := newBackend32(u, n, false)
	be.gram(0, n)
	S := make([][]float64, n)
	for i := range S {
		S[i] = make([]float64, n)
		be.loadRow(i, S[i])
	}
	for _, spec := range []string{"contrastive", "triplet", "triplet:mining=semihard", "triplet:mining=batch-hard", "infonce", "circle"} {
		l := mustParse(b, spec)
		var k rowKernel
		switch l := l.(type) {
		case *Contrastive:
			k = l.kernel(ctx)
		case *Triplet:
			k = l.kernel(ctx)
		case *InfoNCE:
			k = l.kernel(ctx)
		case *Circle:
			k = l.kernel(ctx)
		}
		b.Run(spec, func(b *testing.B) {
			w, h := make([]float64, n), make([]float64, n)
			var sc scratch
			for range b.N {
				for a := range n {
					clear(w)
					clear(h)
					k.row(a, S[a], w, h, &sc)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n*n), "ns/entry")
		})
	}
}
