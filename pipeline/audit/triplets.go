package audit

import (
	"context"
	"math"
	"math/bits"
	"runtime"
	"slices"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/losses"
)

// tripletAnatomy counts, for every margin at once, the easy / semihard /
// hard valid triplets (a, p, n) of the set, with the definitions and the
// distance arithmetic of losses.TripletStats (which it equals margin by
// margin) but one pass over the similarity matrix instead of one per
// margin: per anchor the negative distances are sorted once and each
// positive is placed by binary search for every margin (or, when an
// anchor has only a few positives, as in the pair form, every negative is
// compared with every positive directly). Memory: one block
// of similarity rows plus O(N) per worker; time O(N² log N + N·P·M·log N).
func tripletAnatomy(ctx context.Context, x blas32.General, labels []int, dk losses.Distance, normalize bool, margins []float64, progress func(done int)) ([]TripletCounts, error) {
	n := x.Rows
	u := x
	if normalize {
		u = linalg.NewMatrix(x.Rows, x.Cols)
		losses.Normalize(u, x)
	}
	sq := make([]float64, n)
	for i := range n {
		var ss float64
		for _, v := range linalg.Row(u, i) {
			ss += float64(v) * float64(v)
		}
		sq[i] = ss
	}
	nm := len(margins)
	// counts[a][k]: k < nm easy at margin k, nm+k semihard, 2nm hard.
	counts := make([]int64, n*(2*nm+1))
	block := min(max(1<<25/max(n, 1), 1), 1024) // ≤ 128 MiB of scores
	sc := linalg.NewMatrix(block, n)
	workers := runtime.GOMAXPROCS(0)
	type scratch struct{ pos, neg []float64 }
	scr := make([]scratch, workers)
	for a0 := 0; a0 < n; a0 += block {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		a1 := min(a0+block, n)
		s := blas32.General{Rows: a1 - a0, Cols: n, Stride: n, Data: sc.Data}
		linalg.MulT(s, linalg.Slice(u, a0, a1), u)
		parallel(workers, a0, a1, func(w, a int) {
			row := linalg.Row(s, a-a0)
			pos, neg := scr[w].pos[:0], scr[w].neg[:0]
			la := labels[a]
			for j, v := range row {
				var d float64
				if j == a {
					if dk == losses.Cosine {
						d = 1 - float64(v)
					}
				} else {
					switch dk {
					case losses.Cosine:
						d = 1 - float64(v)
					case losses.SquaredEuclidean:
						d = max(0, sq[a]+sq[j]-2*float64(v))
					default:
						d = math.Sqrt(max(0, sq[a]+sq[j]-2*float64(v)))
					}
				}
				if labels[j] == la {
					if j != a {
						pos = append(pos, d)
					}
				} else {
					neg = append(neg, d)
				}
			}
			scr[w].pos, scr[w].neg = pos, neg
			if len(pos) == 0 || len(neg) == 0 {
				return
			}
			c := counts[a*(2*nm+1) : (a+1)*(2*nm+1)]
			N := len(neg)
			if len(pos)*(nm+1) <= 2*bits.Len(uint(N)) {
				// Few positives (e.g. pairs): compare directly, no sort.
				for _, dp := range pos {
					for _, dn := range neg {
						if !(dn > dp) {
							c[2*nm]++
							continue
						}
						for k, m := range margins {
							if dn-dp > m {
								c[k]++
							} else {
								c[nm+k]++
							}
						}
					}
				}
				return
			}
			slices.Sort(neg)
			for _, dp := range pos {
				// hard: dn ≤ dp
				hard := searchFirst(neg, func(dn float64) bool { return dn > dp })
				c[2*nm] += int64(hard)
				for k, m := range margins {
					notEasy := searchFirst(neg, func(dn float64) bool { return dn-dp > m })
					c[nm+k] += int64(max(0, notEasy-hard))
					c[k] += int64(N - max(notEasy, hard))
				}
			}
		})
		if progress != nil {
			progress(a1)
		}
	}
	out := make([]TripletCounts, nm)
	for k, m := range margins {
		var e, sh, h int64
		for a := range n {
			c := counts[a*(2*nm+1):]
			e += c[k]
			sh += c[nm+k]
			h += c[2*nm]
		}
		out[k] = tripletCounts(losses.TripletCounts{Margin: m, Easy: e, Semihard: sh, Hard: h, Total: e + sh + h})
	}
	return out, nil
}

// searchFirst returns the first index i of ascending xs with f(xs[i]) true
// (len(xs) if none); f must be monotone false→true.
func searchFirst(xs []float64, f func(float64) bool) int {
	lo, hi := 0, len(xs)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if !f(xs[mid]) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}
