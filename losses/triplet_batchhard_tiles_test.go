package losses

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/embfit/embfit/internal/linalg"
)

// batchHardSpecs are the batch-hard variants the tile form is checked on.
var batchHardSpecs = []string{
	"triplet:mining=batch-hard",
	"triplet:mining=batch-hard,soft=true",
	"triplet:mining=batch-hard,distance=cosine",
	"triplet:mining=batch-hard,distance=squared",
	"triplet:mining=batch-hard,distance=squared,normalize=false",
	"triplet:mining=batch-hard,normalize=false",
	"triplet:mining=batch-hard,distance=cosine,normalize=false,soft=true",
	"triplet:mining=batch-hard,reduction=mean",
	"triplet:mining=batch-hard,soft=true,reduction=mean,margin=0.05",
	"triplet:mining=batch-hard,margin=1.5",
}

func TestBatchHardTilesMatchRows(t *testing.T)     { checkTilesMatchRows(t, batchHardSpecs) }
func TestBatchHardTilesDeterministic(t *testing.T) { checkTilesDeterministic(t, batchHardSpecs) }

// TestBatchHardTilesDispatch checks that Eval routes batch-hard (hinge and
// soft, any class size) to the tile form and leaves the soft form of the
// other minings on the row-block engine.
func TestBatchHardTilesDispatch(t *testing.T) {
	big := make([]int, 600)
	for i := range big {
		big[i] = i % 2 // classes of 300 > maxTileClass
	}
	for _, c := range []struct {
		spec string
		want bool
	}{
		{"triplet:mining=batch-hard", true},
		{"triplet:mining=batch-hard,soft=true", true},
		{"triplet:soft=true", false},
		{"triplet", false}, // classes larger than maxTileClass
	} {
		tr := mustParse(t, c.spec).(*Triplet)
		if got := tr.tileable(big); got != c.want {
			t.Errorf("%s: tileable = %v, want %v", c.spec, got, c.want)
		}
		if _, ok := tr.tiles(nil).(*batchHardTiles); ok != (tr.Mining == MineBatchHard) {
			t.Errorf("%s: tiles gives %T", c.spec, tr.tiles(nil))
		}
	}
}

// bhReference selects anchor a's farthest positive and nearest negative
// straight from the definition (tripletKernel.batchHard and
// firstWithSqrt) on the similarities left in the engine's W; ok is false
// when a has no positive or no negative.
func bhReference(e *tileEngine, dk Distance, a int) (p, q int, dp, dq float64, ok bool) {
	n, lo, hi, sq := e.n, e.ctx.lo[a], e.ctx.hi[a], e.ctx.sq
	if hi-lo < 2 || hi-lo == n {
		return 0, 0, 0, 0, false
	}
	d := make([]float64, n)
	for j := range n {
		if j == a {
			continue
		}
		s := e.sim(a, j)
		switch {
		case j >= lo && j < hi:
			d[j] = pairDist(dk, sq[a], sq[j], s)
		case dk == Cosine:
			d[j] = 1 - s
		default:
			d[j] = max(0, sq[a]+sq[j]-2*s)
		}
	}
	p = lo
	if p == a {
		p++
	}
	for j := p + 1; j < hi; j++ {
		if j != a && d[j] > d[p] {
			p = j
		}
	}
	negs := [2][2]int{{0, lo}, {hi, n}}
	q = 0
	if lo == 0 {
		q = hi
	}
	for _, r := range negs {
		for j := r[0]; j < r[1]; j++ {
			if d[j] < d[q] {
				q = j
			}
		}
	}
	if dk == Euclidean {
		q = firstWithSqrt(d, negs, q)
	}
	return p, q, d[p], d[q], true
}

// bhTestEngine builds a tile engine over class-sorted labels whose W
// holds hand-made similarities sims(a, j) (a < j) and whose squared norms
// are sq (its rows u are distinct: no duplicate canonicalization). Its
// tile edge is 128 whatever tileEdgeFor says, so that the tests' rows
// fall in the tiles their comments name.
func bhTestEngine(labels []int, sq []float64, sims func(a, j int) float32) *tileEngine {
	n := len(labels)
	ctx := newPairCtx(n, labels, 0, true)
	ctx.sq = sq
	const r = 128
	u := linalg.NewMatrix(n, 2)
	for i := range n {
		u.Data[2*i] = float32(i)
	}
	e := &tileEngine{ctx: ctx, u: u, n: n, dim: 2, r: r, t: (n + r - 1) / r,
		w: make([]float32, n*n), workers: 2}
	for a := range n {
		for j := a + 1; j < n; j++ {
			e.w[a*n+j] = sims(a, j)
		}
	}
	return e
}

// bhSelectionEngine is bhTestEngine followed by the batch-hard kernel's
// sweep (without GEMMs) and finish.
func bhSelectionEngine(labels []int, sq []float64, sims func(a, j int) float32, dk Distance) (*tileEngine, *batchHardTiles) {
	e := bhTestEngine(labels, sq, sims)
	k := &batchHardTiles{t: &Triplet{Margin: 0.2, Distance: dk, Mining: MineBatchHard}}
	k.prepare(e)
	e.sweep(false, func(t *tileTask) { k.tile(e, 0, t) })
	k.finish(e)
	return e, k
}

// TestBatchHardTilesSelection checks the segment minima against the
// definition on hand-made similarities with many exact ties (values from
// a small set), across several tiles and both ends of every pair, for
// each distance.
func TestBatchHardTilesSelection(t *testing.T) {
	for _, n := range []int{5, 130, 300} {
		for _, dk := range []Distance{Euclidean, SquaredEuclidean, Cosine} {
			rng := rand.New(rand.NewPCG(uint64(n), uint64(dk)))
			sq := make([]float64, n)
			for i := range sq {
				sq[i] = float64(1 + rng.IntN(3))
			}
			labels := make([]int, n)
			for i, c := 0, 0; i < n; c++ {
				size := []int{1, 3, 4, 7}[c%4]
				for ; size > 0 && i < n; size-- {
					labels[i] = c
					i++
				}
			}
			e, k := bhSelectionEngine(labels, sq, func(int, int) float32 { return float32(rng.IntN(5)) * 0.25 }, dk)
			checked := 0
			for a := range n {
				p, q, dp, dq, ok := bhReference(e, dk, a)
				if !ok {
					continue
				}
				checked++
				if int(k.p[a]) != p || int(k.q[a]) != q || k.dp[a] != dp || k.dq[a] != dq {
					t.Fatalf("n=%d %v anchor %d: tiles p=%d (%v) q=%d (%v), want p=%d (%v) q=%d (%v)",
						n, dk, a, k.p[a], k.dp[a], k.q[a], k.dq[a], p, dp, q, dq)
				}
			}
			if checked == 0 {
				t.Fatalf("n=%d: no anchor checked", n)
			}
		}
	}
}

// TestBatchHardTilesSqrtTie checks the Euclidean rule of firstWithSqrt:
// when an earlier negative's squared distance is one ulp above the
// smallest but equal after the square root, the earlier row is chosen;
// across segments, within one segment and from the column end.
func TestBatchHardTilesSqrtTie(t *testing.T) {
	// x with √x = √next(x) but x ≠ next(x).
	x := 2.0
	for math.Sqrt(x) != math.Sqrt(math.Nextafter(x, 3)) {
		x = math.Nextafter(x, 3)
	}
	hi := math.Nextafter(x, 3)
	for _, c := range []struct {
		name       string
		n, a       int
		early, min int // rows with d² = next(x) (earlier) and d² = x
	}{
		{"same segment", 300, 0, 10, 20},
		{"across segments", 300, 0, 10, 200},
		{"column end", 300, 299, 10, 200},
		{"diagonal both ends", 300, 140, 130, 150},
		{"no tie after later row", 300, 0, 200, 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			sq := make([]float64, c.n)
			for i := range sq {
				sq[i] = 10 // far
			}
			sq[c.a] = 0
			sq[c.early], sq[c.min] = hi, x
			// Anchor a and row a±1 form a class (rows stay in place: the
			// labels are increasing); every other row is a singleton.
			mate := c.a + 1
			if c.a == c.n-1 {
				mate = c.a - 1
			}
			sq[mate] = 1
			lab := make([]int, c.n)
			for i := range lab {
				lab[i] = i
			}
			lab[mate] = lab[c.a]
			e, k := bhSelectionEngine(lab, sq, func(int, int) float32 { return 0 }, Euclidean)
			want := min(c.early, c.min)
			if got := int(k.q[c.a]); got != want {
				t.Fatalf("nearest negative of %d = %d, want %d", c.a, got, want)
			}
			_, q, _, _, _ := bhReference(e, Euclidean, c.a)
			if q != want {
				t.Fatalf("reference disagrees: %d", q)
			}
		})
	}
}

// TestBatchHardTilesDuplicateNegatives builds batches where anchors'
// nearest negatives have exact copies (in another class, before and
// after each other, in different tiles, reached from the row end and from
// the column end of the pairs). BLAS rounds the similarities of identical
// rows differently depending on their place in a tile, so the tile form
// must still pick the first copy in row order, as the definition says; it
// checks that choice and that the loss and gradient agree with the
// row-block engine (where the gradient would land on another row if the
// choice differed).
func TestBatchHardTilesDuplicateNegatives(t *testing.T) {
	const n, d, size = 300, 8, 100 // three classes of 100 rows
	for _, spec := range []string{"triplet:mining=batch-hard", "triplet:mining=batch-hard,distance=cosine",
		"triplet:mining=batch-hard,distance=squared,normalize=false", "triplet:mining=batch-hard,soft=true"} {
		rng := rand.New(rand.NewPCG(5, 77))
		x := linalg.NewMatrix(n, d)
		for i := range x.Data {
			x.Data[i] = float32(rng.NormFloat64())
		}
		labels := make([]int, n)
		for i := range labels {
			labels[i] = i / size // already class-sorted: rows keep their places
		}
		// anchor → its copies, all in one other class, some before the
		// anchor (its column end), in several tiles; disjoint sets.
		cases := map[int][]int{}
		used := map[int]bool{}
		for len(cases) < 24 {
			a := rng.IntN(n)
			other := (a/size + 1 + rng.IntN(2)) % 3
			copies := []int{other*size + rng.IntN(size), other*size + rng.IntN(size), other*size + rng.IntN(size)}
			if used[a] || used[copies[0]] || used[copies[1]] || used[copies[2]] ||
				copies[0] == copies[1] || copies[1] == copies[2] || copies[0] == copies[2] {
				continue
			}
			for _, j := range append(copies, a) {
				used[j] = true
			}
			cases[a] = copies
		}
		for a, copies := range cases {
			near := make([]float32, d)
			for c := range near {
				near[c] = linalg.Row(x, a)[c] + 0.02*float32(c%3-1)
			}
			for _, j := range copies {
				copy(linalg.Row(x, j), near)
			}
		}
		tr := mustParse(t, spec).(*Triplet)
		// The choice, straight from the kernel.
		ctx := newPairCtx(n, labels, 0, tr.Normalize)
		u, _, sq := prep32(x, tr.Normalize)
		ctx.sq, ctx.f32 = sq, true
		e := newTileEngine(ctx, u)
		k := &batchHardTiles{t: tr}
		e.run(k, func(int, []float64) {}) // (lead: run now hands the gradient rows to a callback)
		defer e.release()
		broken := 0 // cases where the rounded similarities favour a later copy
		for a, copies := range cases {
			want := slices.Min(copies)
			if int(k.q[a]) != want {
				t.Fatalf("%s: nearest negative of %d = %d, want the first copy %d", spec, a, k.q[a], want)
			}
			for _, j := range copies {
				if e.sim(a, j) > e.sim(a, want) {
					broken++
					break
				}
			}
		}
		t.Logf("%s: %d of %d ties broken by BLAS rounding", spec, broken, len(cases))
		// The same result as the row-block engine.
		rows, tiles := tileForm(tr)
		g1, g2 := linalg.NewMatrix(n, d), linalg.NewMatrix(n, d)
		v1, v2 := rows(x, labels, g1), tiles(x, labels, g2)
		if math.Abs(v1-v2) > 1e-6*(1+math.Abs(v1)) {
			t.Fatalf("%s: value rows %.9g tiles %.9g", spec, v1, v2)
		}
		var gmax float64
		for _, v := range g1.Data {
			gmax = max(gmax, math.Abs(float64(v)))
		}
		for i := range g1.Data {
			if diff := math.Abs(float64(g1.Data[i] - g2.Data[i])); !(diff <= 1e-4*gmax) {
				t.Fatalf("%s: grad[%d] (row %d) rows %g tiles %g (max |g| %g)", spec, i, i/d, g1.Data[i], g2.Data[i], gmax)
			}
		}
	}
}

// BenchmarkBatchHardScan measures the sweep's inner loops on one
// off-diagonal 128×128 tile pair of random similarities, classes of 16
// (ns per pair = ns/op / 16384).
func BenchmarkBatchHardScan(b *testing.B) {
	for _, dk := range []Distance{Euclidean, Cosine} {
		b.Run(dk.String(), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			labels := make([]int, 256)
			sq := make([]float64, 256)
			for i := range labels {
				labels[i], sq[i] = i/16, 1
			}
			e := bhTestEngine(labels, sq, func(int, int) float32 { return float32(rng.NormFloat64() * 0.1) })
			k := &batchHardTiles{t: &Triplet{Margin: 0.2, Distance: dk, Mining: MineBatchHard}}
			task := &tileTask{ti: 0, tj: 1, p0: 0, p1: 128, q0: 128, q1: 256}
			b.ResetTimer()
			for range b.N {
				k.prepare(e)
				k.tile(e, 0, task)
			}
		})
	}
}
