package losses

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

func BenchmarkTmpTripletPass(b *testing.B) {
	old := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(old)
	x, labels := benchBatch(4096, 128)
	for _, spec := range []string{"triplet", "contrastive"} {
		l := mustParse(b, spec)
		ctx := newPairCtx(x.Rows, labels, 0, true)
		u, _, sq := prep32(x, true)
		ctx.sq = sq
		ctx.f32 = true
		e := newTileEngine(ctx, u)
		var k tileKernel
		switch l := l.(type) {
		case *Triplet:
			k = l.tiles(ctx)
		case *Contrastive:
			k = l.tiles(ctx)
		}
		k.prepare(e)
		e.sweep(true, func(t *tileTask) { k.tile(e, 0, t) })
		k.between(e, 0)
		w0 := append([]float32(nil), e.w...)
		pass := k.passes() - 1
		b.Run(spec, func(b *testing.B) {
			for b.Loop() {
				copy(e.w, w0)
				e.sweep(false, func(t *tileTask) { k.tile(e, pass, t) })
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(4096*4095/2), "ns/pair")
		})
	}
}

func BenchmarkTmpSides(b *testing.B) {
	x, labels := benchBatch(4096, 128)
	ctx := newPairCtx(x.Rows, labels, 0, true)
	u, _, sq := prep32(x, true)
	ctx.sq = sq
	e := newTileEngine(ctx, u)
	tr := mustParse(b, "triplet").(*Triplet)
	k := tr.tiles(ctx).(*tripletTiles)
	k.prepare(e)
	e.sweep(true, func(t *tileTask) {})
	k.between(e, 0)
	d := make([]float64, 256)
	nb := make([]float64, 256)
	sum := make([]float64, 256)
	for c := range d {
		d[c] = pairDist(Euclidean, sq[0], sq[1000+c], e.sim(0, 1000+c))
	}
	diff := k.diff[0]
	A := &k.anchors[0]
	b.Run("allRow", func(b *testing.B) {
		for b.Loop() {
			allRow(A, d, nb, 0.2, diff[A.doff:A.doff+A.p+1])
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/256, "ns/elem")
	})
	b.Run("allCols", func(b *testing.B) {
		for b.Loop() {
			allCols(k.anchors[1000:1256], d, nb, sum, 0.2, diff)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/256, "ns/elem")
	})
	b.Run("dists", func(b *testing.B) {
		row := e.w[0*4096+1000 : 1256]
		for b.Loop() {
			tileDists(Euclidean, sq[0], ctx.hi[0], sq[1000:1256], ctx.hi[1000:1256], row, d)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/256, "ns/elem")
	})
}

func distsEuc(sqa float64, ca int, sqQ []float64, clsQ []int, s []float32, d []float64) {
	inf := math.Inf(1)
	d = d[:len(s)]
	sqQ, clsQ = sqQ[:len(s)], clsQ[:len(s)]
	for c := range s {
		v := math.Sqrt(max(0, sqa+sqQ[c]-2*float64(s[c])))
		if clsQ[c] == ca {
			v = inf
		}
		d[c] = v
	}
}

func distsEucNoMax(sqa float64, sqQ []float64, s []float32, d []float64) {
	d = d[:len(s)]
	sqQ = sqQ[:len(s)]
	for c := range s {
		v := sqa + sqQ[c] - 2*float64(s[c])
		if v < 0 {
			v = 0
		}
		d[c] = math.Sqrt(v)
	}
}

func distsSqrtOnly(s []float32, d []float64) {
	d = d[:len(s)]
	for c := range s {
		d[c] = math.Sqrt(float64(s[c]) + 2)
	}
}

func BenchmarkTmpDists(b *testing.B) {
	x, labels := benchBatch(4096, 128)
	ctx := newPairCtx(x.Rows, labels, 0, true)
	u, _, sq := prep32(x, true)
	s := make([]float32, 256)
	for c := range s {
		s[c] = float32(rand.Float64()*0.3 - 0.15)
	}
	d := make([]float64, 256)
	_ = u
	b.Run("euc", func(b *testing.B) {
		for b.Loop() {
			distsEuc(sq[0], ctx.hi[0], sq[1000:1256], ctx.hi[1000:1256], s, d)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/256, "ns/elem")
	})
	b.Run("eucNoMax", func(b *testing.B) {
		for b.Loop() {
			distsEucNoMax(sq[0], sq[1000:1256], s, d)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/256, "ns/elem")
	})
	b.Run("sqrtOnly", func(b *testing.B) {
		for b.Loop() {
			distsSqrtOnly(s, d)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/256, "ns/elem")
	})
}
