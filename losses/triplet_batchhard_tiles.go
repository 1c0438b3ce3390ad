package losses

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
)

// batchHardTiles is triplet batch-hard mining (hinge or soft, any
// distance and reduction) for the tile engine, with exactly the
// selection of tripletKernel.batchHard: per anchor its farthest positive
// and its nearest negative, each the first in row order on ties, one term
// per anchor.
//
// One sweep: for every pair {a, j} of different classes in a tile pair,
// the negative's selection value (the squared Euclidean distance for the
// Euclidean and squared distances, 1 − s for cosine, the same expressions
// as the row-block engine) updates a running minimum of both ends: anchor
// a's over the tile's columns and anchor j's over its rows. These minima
// live in segments (see tileEngine.slot) and are combined per anchor in
// segment order, a later one winning only when strictly smaller, so the
// first row wins whatever the task order. The farthest positives come from
// the class blocks of W in finish. The gradient has two pairs per anchor,
// so the kernel is sparse (see sparseKernel): no N×N GEMM by U.
//
// Euclidean ties: like firstWithSqrt, the nearest negative is the first
// row whose distance (the square root) equals the smallest one. A running
// minimum records whether the candidate it replaced last was within a
// relative 1e-12 of the new value (near); only then can an earlier row tie
// after the root, and finish rescans that anchor's negatives up to the
// chosen row.
//
// Exact duplicates: bit-identical working rows are at the same distance
// from every anchor, but OpenBLAS rounds a dot product differently
// depending on where it falls in a tile (for the row-block engine's GEMM
// too), which would break such ties arbitrarily. finish therefore moves a
// chosen positive or negative to its first copy in row order that is
// still a positive (not the anchor) or a negative (see dupRows).
type batchHardTiles struct {
	t   *Triplet
	seg []bhMin // segments of running minima, T·T·R (indexed like tileEngine.slot)
	// per anchor, filled by finish: positive and negative rows, their
	// distances and dℓ/dz (0: no gradient).
	p, q   []int32
	dp, dq []float64
	g      []float64
}

// bhMin is a running minimum of negative selection values over rows
// visited in increasing order.
type bhMin struct {
	v    float64 // smallest value so far (+Inf: none yet)
	i    int32   // the first row holding it (−1: none)
	near bool    // the value v replaced was ≤ v·(1+1e-12)
}

// bhNear is the relative bound of firstWithSqrt.
const bhNear = 1 + 1e-12

func (k *batchHardTiles) passes() int              { return 1 }
func (k *batchHardTiles) between(*tileEngine, int) {}
func (k *batchHardTiles) sparse() bool             { return true }

func (k *batchHardTiles) prepare(e *tileEngine) {
	k.seg = make([]bhMin, e.t*e.t*e.r)
	for i := range k.seg {
		k.seg[i] = bhMin{v: math.Inf(1), i: -1}
	}
}

// slot returns the segment of tile pair {x, y} for the anchors of tile x.
func (k *batchHardTiles) slot(e *tileEngine, x, y int) []bhMin {
	o := (x*e.t + y) * e.r
	return k.seg[o : o+e.r]
}

func (k *batchHardTiles) tile(e *tileEngine, _ int, t *tileTask) {
	n, w, sq, clo, chi := e.n, e.w, e.ctx.sq, e.ctx.lo, e.ctx.hi
	rowSeg, colSeg := k.slot(e, t.ti, t.tj), k.slot(e, t.tj, t.ti)
	cos := k.t.Distance == Cosine
	nc := t.q1 - t.q0
	sqQ, cols := sq[t.q0:t.q1], colSeg[:nc]
	rows := t.p1 - t.p0
	for r := 0; r < rows; {
		a := t.p0 + r
		c0 := 0
		if t.diag {
			c0 = r + 1 // rowSeg is colSeg: rows < a already updated rowSeg[r]
		}
		// The negatives are the columns outside a's class [lo, hi).
		lo := min(nc, max(c0, clo[a]-t.q0))
		hi := min(nc, max(c0, chi[a]-t.q0))
		row := w[a*n+t.q0 : a*n+t.q1]
		if r+1 < rows && clo[a+1] == clo[a] {
			// Rows a and a+1 of one class have the same negative columns
			// (in a diagonal tile, column a+1 is a's positive): scan both
			// at once, a's candidate first for each column.
			row2 := w[(a+1)*n+t.q0 : (a+1)*n+t.q1]
			m1, m2 := rowSeg[r], rowSeg[r+1]
			if cos {
				m1, m2 = bhScanCos2(row[c0:lo], row2[c0:lo], cols[c0:lo], int32(a), int32(t.q0+c0), m1, m2)
				m1, m2 = bhScanCos2(row[hi:], row2[hi:], cols[hi:], int32(a), int32(t.q0+hi), m1, m2)
			} else {
				m1, m2 = bhScanSq2(row[c0:lo], row2[c0:lo], sq[a], sq[a+1], sqQ[c0:lo], cols[c0:lo], int32(a), int32(t.q0+c0), m1, m2)
				m1, m2 = bhScanSq2(row[hi:], row2[hi:], sq[a], sq[a+1], sqQ[hi:], cols[hi:], int32(a), int32(t.q0+hi), m1, m2)
			}
			rowSeg[r], rowSeg[r+1] = m1, m2
			r += 2
			continue
		}
		m := rowSeg[r]
		if cos {
			m = bhScanCos(row[c0:lo], cols[c0:lo], int32(a), int32(t.q0+c0), m)
			m = bhScanCos(row[hi:], cols[hi:], int32(a), int32(t.q0+hi), m)
		} else {
			m = bhScanSq(row[c0:lo], sq[a], sqQ[c0:lo], cols[c0:lo], int32(a), int32(t.q0+c0), m)
			m = bhScanSq(row[hi:], sq[a], sqQ[hi:], cols[hi:], int32(a), int32(t.q0+hi), m)
		}
		rowSeg[r] = m
		r++
	}
}

// bhScanSq2 is bhScanSq for rows a and a+1 (similarities s1, s2): one
// load and test of each column's minimum for both.
func bhScanSq2(s1, s2 []float32, sqa, sqb float64, sqQ []float64, cols []bhMin, a, j0 int32, m1, m2 bhMin) (bhMin, bhMin) {
	s2, sqQ, cols = s2[:len(s1)], sqQ[:len(s1)], cols[:len(s1)]
	v1, i1, n1 := m1.v, m1.i, m1.near
	v2, i2, n2 := m2.v, m2.i, m2.near
	for c, sv := range s1 {
		sj := sqQ[c]
		d1 := sqa + sj - 2*float64(sv)
		d2 := sqb + sj - 2*float64(s2[c])
		if d1 < 0 {
			d1 = 0
		}
		if d2 < 0 {
			d2 = 0
		}
		if d1 < v1 {
			n1 = v1 <= d1*bhNear
			v1, i1 = d1, j0+int32(c)
		}
		if d2 < v2 {
			n2 = v2 <= d2*bhNear
			v2, i2 = d2, j0+int32(c)
		}
		if cm := &cols[c]; d1 < cm.v || d2 < cm.v {
			bhColPair(cm, d1, d2, a)
		}
	}
	return bhMin{v: v1, i: i1, near: n1}, bhMin{v: v2, i: i2, near: n2}
}

// bhScanCos2 is bhScanSq2 for the cosine distance.
func bhScanCos2(s1, s2 []float32, cols []bhMin, a, j0 int32, m1, m2 bhMin) (bhMin, bhMin) {
	s2, cols = s2[:len(s1)], cols[:len(s1)]
	v1, i1, n1 := m1.v, m1.i, m1.near
	v2, i2, n2 := m2.v, m2.i, m2.near
	for c, sv := range s1 {
		d1 := 1 - float64(sv)
		d2 := 1 - float64(s2[c])
		if d1 < v1 {
			n1 = v1 <= d1*bhNear
			v1, i1 = d1, j0+int32(c)
		}
		if d2 < v2 {
			n2 = v2 <= d2*bhNear
			v2, i2 = d2, j0+int32(c)
		}
		if cm := &cols[c]; d1 < cm.v || d2 < cm.v {
			bhColPair(cm, d1, d2, a)
		}
	}
	return bhMin{v: v1, i: i1, near: n1}, bhMin{v: v2, i: i2, near: n2}
}

// bhColPair offers rows a and a+1 (values d1, d2), in that order, to a
// column's running minimum.
func bhColPair(cm *bhMin, d1, d2 float64, a int32) {
	if d1 < cm.v {
		*cm = bhMin{v: d1, i: a, near: cm.v <= d1*bhNear}
	}
	if d2 < cm.v {
		*cm = bhMin{v: d2, i: a + 1, near: cm.v <= d2*bhNear}
	}
}

// bhScanSq updates, for the similarities s of row a with columns j0,
// j0+1, …, the row's running minimum m and each column's minimum cols[c]
// with the squared Euclidean distance max(0, ‖u_a‖² + ‖u_j‖² − 2s).
func bhScanSq(s []float32, sqa float64, sqQ []float64, cols []bhMin, a, j0 int32, m bhMin) bhMin {
	sqQ, cols = sqQ[:len(s)], cols[:len(s)]
	mv, mi, mn := m.v, m.i, m.near
	for c, sv := range s {
		// max(0, ·) as a rarely taken branch (the builtin's NaN and −0
		// handling costs more; a difference of finite values is never −0).
		d := sqa + sqQ[c] - 2*float64(sv)
		if d < 0 {
			d = 0
		}
		if d < mv {
			mn = mv <= d*bhNear
			mv, mi = d, j0+int32(c)
		}
		if cm := &cols[c]; d < cm.v {
			*cm = bhMin{v: d, i: a, near: cm.v <= d*bhNear}
		}
	}
	return bhMin{v: mv, i: mi, near: mn}
}

// bhScanCos is bhScanSq for the cosine distance 1 − s.
func bhScanCos(s []float32, cols []bhMin, a, j0 int32, m bhMin) bhMin {
	cols = cols[:len(s)]
	mv, mi, mn := m.v, m.i, m.near
	for c, sv := range s {
		d := 1 - float64(sv)
		if d < mv {
			mn = mv <= d*bhNear
			mv, mi = d, j0+int32(c)
		}
		if cm := &cols[c]; d < cm.v {
			*cm = bhMin{v: d, i: a, near: cm.v <= d*bhNear}
		}
	}
	return bhMin{v: mv, i: mi, near: mn}
}

// finish selects each anchor's farthest positive (from its class block)
// and nearest negative (from the segments) and computes its term.
func (k *batchHardTiles) finish(e *tileEngine) (sum, count float64, hrow []float64) {
	n, dk, sq := e.n, k.t.Distance, e.ctx.sq
	lo, hi := e.ctx.lo, e.ctx.hi
	k.p, k.q = make([]int32, n), make([]int32, n)
	k.dp, k.dq, k.g = make([]float64, n), make([]float64, n), make([]float64, n)
	for a := range k.p {
		k.p[a] = -1
	}
	// Farthest positives: the class block's pairs a < j row by row, each
	// updating both ends, so every anchor sees its positives in row order.
	type class struct{ lo, hi int }
	var classes []class
	for a := 0; a < n; a = hi[a] {
		if m := hi[a] - lo[a]; m >= 2 && m < n {
			classes = append(classes, class{lo[a], hi[a]})
		}
	}
	w := e.w
	parallelRange(len(classes), func(c0, c1 int) {
		for _, cl := range classes[c0:c1] {
			for a := cl.lo; a < cl.hi; a++ {
				row := w[a*n : a*n+cl.hi]
				for j := a + 1; j < cl.hi; j++ {
					d := pairDist(dk, sq[a], sq[j], float64(row[j]))
					if k.p[a] < 0 || d > k.dp[a] {
						k.p[a], k.dp[a] = int32(j), d
					}
					if k.p[j] < 0 || d > k.dp[j] {
						k.p[j], k.dp[j] = int32(a), d
					}
				}
			}
		}
	})
	// Bit-identical rows are at the same distance from any anchor, but
	// BLAS kernels may round their similarities differently depending on
	// their place in a tile: the first such row in row order is taken.
	first, next := dupRows(e.u)
	lsum, lcnt := make([]float64, n), make([]float64, n)
	t := k.t
	parallelRange(n, func(a0, a1 int) {
		for a := a0; a < a1; a++ {
			if k.p[a] < 0 || hi[a]-lo[a] == n {
				continue // no positive or no negative
			}
			if p := int(k.p[a]); first[p] != int32(p) {
				j := int(first[p])
				for j == a || j < lo[a] || j >= hi[a] {
					j = int(next[j]) // reaches p at the latest
				}
				if j != p {
					k.p[a], k.dp[a] = int32(j), pairDist(dk, sq[a], sq[j], e.sim(a, j))
				}
			}
			q, dq := k.nearest(e, a)
			if first[q] != int32(q) {
				j := int(first[q])
				for j >= lo[a] && j < hi[a] {
					j = int(next[j]) // reaches q at the latest
				}
				if j != q {
					q, dq = j, pairDist(dk, sq[a], sq[j], e.sim(a, j))
				}
			}
			k.q[a], k.dq[a] = int32(q), dq
			z := k.dp[a] - dq + t.Margin
			var l, g float64
			if t.Soft {
				l, g = softplus(z), sigmoid(z)
			} else if z > 0 {
				l, g = z, 1
			}
			lsum[a], k.g[a] = l, g
			if !(t.Reduction == AvgNonzero && l <= 0) { // as batchHard (NaN counts)
				lcnt[a] = 1
			}
		}
	})
	for a := range n {
		sum += lsum[a]
		count += lcnt[a]
	}
	return sum, count, nil
}

// dupRows returns, for bit-identical working rows, first[i] (the first
// row equal to row i, i itself when none is earlier) and next[i] (the
// next row equal to row i, −1 when none). Rows are matched through a
// 64-bit hash of their bits and then compared; two different rows with
// the same hash (a collision) are left unlinked, and so are later copies
// of the second one.
func dupRows(u blas32.General) (first, next []int32) {
	n := u.Rows
	hash := make([]uint64, n)
	parallelRange(n, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			h := uint64(14695981039346656037) // FNV-1a over the bits
			for _, v := range linalg.Row(u, i) {
				h = (h ^ uint64(math.Float32bits(v))) * 1099511628211
			}
			hash[i] = h
		}
	})
	first, next = make([]int32, n), make([]int32, n)
	last := make(map[uint64]int32, n) // per hash: the last row seen
	for i := range n {
		first[i], next[i] = int32(i), -1
		j, ok := last[hash[i]]
		if !ok {
			last[hash[i]] = int32(i)
			continue
		}
		if slices.Equal(linalg.Row(u, int(j)), linalg.Row(u, i)) {
			first[i], next[j] = first[j], int32(i)
			last[hash[i]] = int32(i)
		}
	}
	return first, next
}

// nearest returns anchor a's nearest negative (the first in row order)
// and its distance, from a's segments.
func (k *batchHardTiles) nearest(e *tileEngine, a int) (int, float64) {
	x, r := a/e.r, a%e.r
	m := bhMin{v: math.Inf(1), i: -1}
	for y := range e.t {
		s := k.seg[(x*e.t+y)*e.r+r]
		if s.v < m.v {
			m = bhMin{v: s.v, i: s.i, near: s.near || m.v <= s.v*bhNear}
		}
	}
	dk, sq, lo, hi := k.t.Distance, e.ctx.sq, e.ctx.lo[a], e.ctx.hi[a]
	q := int(m.i)
	if q < 0 {
		// Every value is NaN: the row engine keeps the first negative.
		q = 0
		if lo == 0 {
			q = hi
		}
		return q, pairDist(dk, sq[a], sq[q], e.sim(a, q))
	}
	if dk != Euclidean {
		return q, m.v
	}
	dm := math.Sqrt(m.v)
	if !m.near {
		return q, dm
	}
	// An earlier row may tie with q after the square root (firstWithSqrt).
	bound := m.v * bhNear
	for _, rg := range [2][2]int{{0, lo}, {hi, e.n}} {
		for j := rg[0]; j < rg[1] && j < q; j++ {
			d := max(0, sq[a]+sq[j]-2*e.sim(a, j))
			if d <= bound && math.Sqrt(d) == dm {
				return j, dm
			}
		}
	}
	return q, dm
}

// gradient returns ∂L/∂U: each anchor with dℓ/dz = g ≠ 0 contributes +g
// through D_ap and −g through D_aq, to its own row and to p's and q's.
// The contributions are grouped by the row they go to, in anchor order
// (a counting sort), and each row sums its own in that order, so rows are
// done in parallel with a result independent of the number of threads.
func (k *batchHardTiles) gradient(e *tileEngine, scale float64) []float64 {
	n, dim, dk := e.n, e.dim, k.t.Distance
	needH := e.needH()
	type entry struct {
		other int32
		w, h  float64 // coefficients of u_other and of the row's own u
	}
	start := make([]int32, n+1) // row i's entries: [start[i], start[i+1])
	for a := range n {
		if k.g[a] != 0 {
			start[a+1] += 2
			start[k.p[a]+1]++
			start[k.q[a]+1]++
		}
	}
	for i := range n {
		start[i+1] += start[i]
	}
	ent := make([]entry, start[n])
	fill := slices.Clone(start[:n])
	put := func(i, j int32, w, h float64) {
		ent[fill[i]] = entry{j, w, h}
		fill[i]++
	}
	for a := range n {
		g := k.g[a]
		if g == 0 {
			continue
		}
		for _, pr := range [2]struct {
			j    int32
			g, d float64
		}{{k.p[a], g, k.dp[a]}, {k.q[a], -g, k.dq[a]}} {
			w, h := distCoef(dk, pr.g, pr.d)
			h *= 2 * scale
			if !needH {
				h = 0
			}
			put(int32(a), pr.j, w*scale, h)
			put(pr.j, int32(a), w*scale, h)
		}
	}
	gu := make([]float64, n*dim)
	parallelRange(n, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			gi := gu[i*dim : (i+1)*dim]
			var hs float64
			for _, en := range ent[start[i]:start[i+1]] {
				hs += en.h
				uj := linalg.Row(e.u, int(en.other))[:len(gi)]
				for c, v := range uj {
					gi[c] += en.w * float64(v)
				}
			}
			if hs != 0 {
				for c, v := range linalg.Row(e.u, i)[:len(gi)] {
					gi[c] += hs * float64(v)
				}
			}
		}
	})
	return gu
}
