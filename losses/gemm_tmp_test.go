package losses

import (
	"fmt"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
)

func BenchmarkTmpGemms(b *testing.B) {
	for _, n := range []int{1024, 4096} {
		x, labels := benchBatch(n, 128)
		ctx := newPairCtx(n, labels, 0, true)
		u, _, sq := prep32(x, true)
		ctx.sq = sq
		e := newTileEngine(ctx, u)
		b.Run(fmt.Sprint("gram", n), func(b *testing.B) {
			s := linalg.NewMatrix(n, n)
			for b.Loop() {
				linalg.MulT(s, u, u)
			}
		})
		b.Run(fmt.Sprint("tiles", n), func(b *testing.B) {
			for b.Loop() {
				e.sweep(true, func(t *tileTask) {})
			}
		})
		b.Run(fmt.Sprint("symm", n), func(b *testing.B) {
			g := linalg.NewMatrix(n, 128)
			wm := blas32.General{Rows: n, Cols: n, Stride: n, Data: e.w[:n*n]}
			for b.Loop() {
				linalg.SymmUpper(g, wm, u)
			}
		})
		b.Run(fmt.Sprint("gemmNN", n), func(b *testing.B) {
			g := linalg.NewMatrix(n, 128)
			wm := blas32.General{Rows: n, Cols: n, Stride: n, Data: e.w[:n*n]}
			for b.Loop() {
				linalg.Mul(g, wm, u)
			}
		})
	}
}
