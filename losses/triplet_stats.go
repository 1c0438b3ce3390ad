package losses

import (
	"context"
	"math"
	"math/bits"
	"slices"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/internal/par"
)

// TripletCounts holds how many valid triplets of a batch fall in each
// category for a margin: with m = D_an − D_ap, easy m > margin, semihard
// 0 < m ≤ margin, hard m ≤ 0 (see the package documentation).
type TripletCounts struct {
	// Margin is the margin the categories were computed for.
	Margin float64
	// Easy, Semihard and Hard count the triplets per category; Total is their sum.
	Easy, Semihard, Hard, Total int64
}

// TripletStats counts the easy, semihard and hard triplets of the batch
// (rows of x, labels) for distance d and margin, on normalized rows when
// normalize is set: CountTriplets for one margin.
func TripletStats(x blas32.General, labels []int, d Distance, margin float64, normalize bool) TripletCounts {
	c, _ := CountTriplets(context.Background(), x, labels, d, normalize, []float64{margin}, nil)
	return c[0]
}

// CountTriplets counts, for every margin at once, the easy, semihard and
// hard valid triplets (a, p, n) of the rows of x with labels (y_a = y_p ≠
// y_n, a ≠ p), with distance d on the rows, L2-normalized first when
// normalize is set. It is the one triplet census of embfit: the audit's
// and the loss's categories are the same.
//
// Nothing is enumerated: the Gram matrix is computed in blocks of rows
// (float32 GEMMs, at most 128 MiB of scores); per anchor the negatives'
// distances are sorted once and each positive is placed by binary search
// for every margin, or, when an anchor has only a few positives (as in the
// pair form), every negative is compared with every positive directly.
// Time O(N² log N + N·P·M·log N), memory one block plus O(N) per worker.
// Counts do not depend on the number of threads. ctx is checked before
// each block (its error is returned); progress, when set, is called with
// the number of anchors done after each block. len(labels) must be x.Rows.
func CountTriplets(ctx context.Context, x blas32.General, labels []int, d Distance, normalize bool, margins []float64, progress func(done int)) ([]TripletCounts, error) {
	n := x.Rows
	if len(labels) != n {
		panic("losses: len(labels) does not match the rows of x")
	}
	u, _, sq := prep32(x, normalize)
	nm := len(margins)
	// counts[a][k]: k < nm easy at margin k, nm+k semihard, 2nm hard.
	counts := make([]int64, n*(2*nm+1))
	block := min(max(1<<25/max(n, 1), 1), 1024) // ≤ 128 MiB of scores
	var sc blas32.General
	if n > 0 {
		sc = linalg.NewMatrix(min(block, n), n)
	}
	workers := par.Workers(n)
	type scratch struct{ pos, neg []float64 }
	scr := make([]scratch, workers)
	for a0 := 0; a0 < n; a0 += block {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		a1 := min(a0+block, n)
		s := blas32.General{Rows: a1 - a0, Cols: n, Stride: n, Data: sc.Data}
		linalg.MulT(s, linalg.Slice(u, a0, a1), u)
		par.Each(workers, a1-a0, func(w, i int) {
			a := a0 + i
			pos, neg := splitDistances(linalg.Row(s, i), a, labels, sq, d, scr[w].pos[:0], scr[w].neg[:0])
			scr[w].pos, scr[w].neg = pos, neg
			if len(pos) > 0 && len(neg) > 0 {
				countAnchor(counts[a*(2*nm+1):(a+1)*(2*nm+1)], pos, neg, margins)
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
		out[k] = TripletCounts{Margin: m, Easy: e, Semihard: sh, Hard: h, Total: e + sh + h}
	}
	return out, nil
}

// splitDistances appends to pos and neg the distances from anchor a (its
// similarity row s) to its positives (same label, other row) and its
// negatives.
func splitDistances(s []float32, a int, labels []int, sq []float64, d Distance, pos, neg []float64) ([]float64, []float64) {
	la := labels[a]
	for j, v := range s {
		var dj float64
		switch {
		case d == Cosine:
			dj = 1 - float64(v)
		case j == a:
		case d == SquaredEuclidean:
			dj = max(0, sq[a]+sq[j]-2*float64(v))
		default:
			dj = math.Sqrt(max(0, sq[a]+sq[j]-2*float64(v)))
		}
		if labels[j] == la {
			if j != a {
				pos = append(pos, dj)
			}
		} else {
			neg = append(neg, dj)
		}
	}
	return pos, neg
}

// countAnchor adds one anchor's triplets to c (layout of CountTriplets'
// counts): neg is sorted in place unless the direct comparison is cheaper.
func countAnchor(c []int64, pos, neg, margins []float64) {
	nm, N := len(margins), len(neg)
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
		hard := searchFirst(neg, func(dn float64) bool { return dn > dp }) // dn ≤ dp
		c[2*nm] += int64(hard)
		for k, m := range margins {
			notEasy := searchFirst(neg, func(dn float64) bool { return dn-dp > m })
			c[nm+k] += int64(max(0, notEasy-hard))
			c[k] += int64(N - max(notEasy, hard))
		}
	}
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
