package losses

import (
	"testing"
)

func symmetrizeOld(w []float32, n int) {
	const t = 64
	tiles := (n + t - 1) / t
	parallelRange(tiles, func(i0, i1 int) {
		for ti := i0; ti < i1; ti++ {
			for tj := ti; tj < tiles; tj++ {
				for i := ti * t; i < min(n, (ti+1)*t); i++ {
					j0 := tj * t
					if tj == ti {
						j0 = i
					}
					for j := j0; j < min(n, (tj+1)*t); j++ {
						v := w[i*n+j] + w[j*n+i]
						w[i*n+j], w[j*n+i] = v, v
					}
				}
			}
		}
	})
}

func BenchmarkSym(b *testing.B) {
	n := 4096
	w := make([]float32, n*n)
	for i := range w { w[i] = float32(i % 97) }
	b.Run("old", func(b *testing.B) { for range b.N { symmetrizeOld(w, n) } })
	b.Run("new", func(b *testing.B) { for range b.N { symmetrize(w, n) } })
}
func TestSymEq(t *testing.T) {
	for _, n := range []int{1, 5, 31, 32, 33, 100, 257} {
		a := make([]float32, n*n)
		for i := range a { a[i] = float32(i*7 % 13) }
		b := append([]float32(nil), a...)
		symmetrizeOld(a, n); symmetrize(b, n)
		for i := range a { if a[i] != b[i] { t.Fatalf("n=%d i=%d", n, i) } }
	}
}

func BenchmarkCopy64(b *testing.B) {
	n := 4096
	w := make([]float32, n*n)
	v := make([]float32, n*n)
	for i := range w { w[i] = float32(i % 97) }
	for range b.N { copy(v, w) }
}
