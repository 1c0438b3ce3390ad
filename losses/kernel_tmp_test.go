package losses

import (
	"github.com/embfit/embfit/internal/procstat"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
)

func BenchmarkTmpTripletPass(b *testing.B) {
	procs := 1
	if v := os.Getenv("TMPPROCS"); v != "" {
		procs, _ = strconv.Atoi(v)
	}
	old := runtime.GOMAXPROCS(procs)
	defer runtime.GOMAXPROCS(old)
	N := 4096
	if os.Getenv("TMPN") != "" {
		N, _ = strconv.Atoi(os.Getenv("TMPN"))
	}
	x, labels := benchBatch(N, 128)
	specs := []string{"triplet", "contrastive"}
	if v := os.Getenv("TMPSPEC"); v != "" {
		specs = []string{v}
	}
	for _, spec := range specs {
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
		e.sweep(true, func(t *tileTask) {})
		w0 := append([]float32(nil), e.w...)
		pass := k.passes() - 1
		b.Run(spec, func(b *testing.B) {
			c0 := procstat.CPUTime()
			defer func() {
				b.ReportMetric(float64((procstat.CPUTime()-c0).Nanoseconds())/float64(b.N)/float64(N*(N-1)/2), "cpu-ns/pair")
			}()
			for b.Loop() {
				copy(e.w, w0)
				e.sweep(false, func(t *tileTask) { k.tile(e, pass, t) })
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(N*(N-1)/2), "ns/pair")
		})
	}
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

func BenchmarkTmpPieces(b *testing.B) {
	x, labels := benchBatch(4096, 128)
	ctx := newPairCtx(x.Rows, labels, 0, true)
	u, _, sq := prep32(x, true)
	ctx.sq = sq
	e := newTileEngine(ctx, u)
	tr := mustParse(b, "triplet:mining=semihard").(*Triplet)
	k := tr.tiles(ctx).(*tripletTiles)
	k.prepare(e)
	e.sweep(true, func(t *tileTask) {})
	d := make([]float64, 256)
	nb := make([]float64, 256)
	sum := make([]float64, 256)
	row := append([]float32(nil), e.w[0*4096+1024:1280]...)
	diff := k.diff[0]
	A := &k.anchors[0]
	rep := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/256, "ns/elem")
	}
	b.Run("dists", func(b *testing.B) {
		for b.Loop() {
			tileDists(Euclidean, sq[0], ctx.hi[0], sq[1024:1280], ctx.hi[1024:1280], row, d)
		}
		rep(b)
	})
	b.Run("allSides", func(b *testing.B) {
		for b.Loop() {
			allSides(A, &k.hot[0], k.anchors[1024:1280], k.hot[1024:1280], d, nb, sum, 0.2, diff[A.doff:A.doff+A.p+1], diff)
		}
		rep(b)
	})
	const R = 64
	dd := make([][]float64, R)
	for r := range R {
		dd[r] = make([]float64, 256)
		tileDists(Euclidean, sq[r], ctx.hi[r], sq[1024:1280], ctx.hi[1024:1280], e.w[r*4096+1024:r*4096+1280], dd[r])
	}
	b.Run("allSidesRows", func(b *testing.B) {
		for b.Loop() {
			for r := range R {
				A := &k.anchors[r]
				allSides(A, &k.hot[r], k.anchors[1024:1280], k.hot[1024:1280], dd[r], nb, sum, 0.2, diff[A.doff:A.doff+A.p+1], diff)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/256/R, "ns/elem")
	})
	b.Run("distsRows", func(b *testing.B) {
		for b.Loop() {
			for r := range R {
				tileDists(Euclidean, sq[r], ctx.hi[r], sq[1024:1280], ctx.hi[1024:1280], e.w[r*4096+1024:r*4096+1280], dd[r])
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/256/R, "ns/elem")
	})
	b.Run("semiRow", func(b *testing.B) {
		for b.Loop() {
			semiRow(A, &k.hot[0], k.tab[:256], d, nb, 0.2, diff[A.doff:A.doff+A.p+1])
		}
		rep(b)
	})
	b.Run("semiCols", func(b *testing.B) {
		for b.Loop() {
			semiCols(k.anchors[1024:1280], k.hot[1024:1280], k.tab, 1024, d, nb, sum, 0.2, diff)
		}
		rep(b)
	})
	b.Run("coef", func(b *testing.B) {
		s := append([]float32(nil), row...)
		for b.Loop() {
			tileCoef(Euclidean, d, nb, s)
		}
		rep(b)
	})
}
