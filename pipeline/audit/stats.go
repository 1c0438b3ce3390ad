package audit

import (
	"context"
	"encoding/json"
	"math"
	"runtime"
	"sort"
	"strconv"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/internal/mathx"
	"github.com/embfit/embfit/internal/par"
	"github.com/embfit/embfit/losses"
	"github.com/embfit/embfit/pipeline/retrieval"
)

// TemperaturePt is InfoNCE at one temperature τ over the whole set, with
// the shape of each anchor's softmax over its negatives
// p_n = e^{s_an/τ} / Σ_{n'} e^{s_an'/τ} (averaged over anchors that have
// at least one positive and one negative).
type TemperaturePt struct {
	Temperature float64 `json:"temperature"`
	// Loss is InfoNCE (labelled: NT-Xent over ordered positive pairs; pair
	// form: query → all positives, target its own), on normalized rows.
	Loss float64 `json:"loss"`
	// Entropy is the mean entropy of p in nats.
	Entropy float64 `json:"entropy"`
	// NormalizedEntropy is the mean of entropy / log(#negatives): 0 when all
	// the weight sits on the hardest negative, 1 when uniform.
	NormalizedEntropy float64 `json:"normalized_entropy"`
	// EffectiveNegatives is the mean of e^entropy.
	EffectiveNegatives float64 `json:"effective_negatives"`
	// MaxWeight is the mean weight p of the hardest (most similar) negative.
	MaxWeight float64 `json:"max_weight"`
	// Anchors is the number of anchors averaged over.
	Anchors int `json:"anchors"`
}

// temperatureSweep evaluates InfoNCE at each temperature in one blocked
// pass over the similarity matrix of the normalized rows.
func temperatureSweep(ctx context.Context, d Data, labels []int, taus []float64, progress func(done int)) ([]TemperaturePt, error) {
	u := linalg.NewMatrix(d.X.Rows, d.X.Cols)
	losses.Normalize(u, d.X)
	anchors, cands := u, u
	nA := d.X.Rows
	if d.Queries > 0 {
		nA = d.Queries
		anchors, cands = linalg.Slice(u, 0, nA), linalg.Slice(u, nA, 2*nA)
	}
	nC := cands.Rows
	nt := len(taus)
	// per anchor and temperature: loss sum, positives, H, H/log n, e^H, pmax
	const fields = 6
	acc := make([]float64, nA*nt*fields)
	ok := make([]bool, nA)
	block := min(max(1<<25/max(nC, 1), 1), 1024) // ≤ 128 MiB of scores
	sc := linalg.NewMatrix(block, nC)
	workers := runtime.GOMAXPROCS(0)
	type scratch struct {
		pos, neg []float64
		ev       [][]float64 // e^{(s−max)/τ} per temperature, per negative
	}
	scr := make([]scratch, workers)
	plan := newPowerPlan(taus)
	for a0 := 0; a0 < nA; a0 += block {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		a1 := min(a0+block, nA)
		s := blas32.General{Rows: a1 - a0, Cols: nC, Stride: nC, Data: sc.Data}
		linalg.MulT(s, linalg.Slice(anchors, a0, a1), cands)
		par.Each(workers, a1-a0, func(w, a int) {
			a += a0
			row := linalg.Row(s, a-a0)
			pos, neg := scr[w].pos[:0], scr[w].neg[:0]
			for j, v := range row {
				switch {
				case d.Queries > 0 && j == a, d.Queries == 0 && j != a && labels[j] == labels[a]:
					pos = append(pos, float64(v))
				case d.Queries > 0 || (j != a && labels[j] != labels[a]):
					neg = append(neg, float64(v))
				}
			}
			scr[w].pos, scr[w].neg = pos, neg
			if len(pos) == 0 || len(neg) == 0 {
				return
			}
			ok[a] = true
			mx := math.Inf(-1)
			for _, v := range neg {
				mx = max(mx, v)
			}
			logN := math.Log(float64(len(neg)))
			ev := scr[w].ev
			for len(ev) < nt {
				ev = append(ev, nil)
			}
			scr[w].ev = ev
			for _, ti := range plan.order {
				tau := taus[ti]
				e := ev[ti][:0]
				var z, wsum float64
				inv := 1 / tau
				if par := plan.parent[ti]; par < 0 {
					for _, v := range neg {
						x := (v - mx) * inv
						var ex float64
						if x >= -40 { // below, e^x < 5e-18: adding it to z ≥ 1 changes nothing
							ex = math.Exp(x)
							z += ex
							wsum += ex * x
						}
						e = append(e, ex)
					}
				} else {
					// e^{x/τ} = (e^{x/τ_parent})^k: one multiplication chain
					// instead of an exp (relative error ~k ulp).
					k := plan.k[ti]
					for n, v := range neg {
						var ex float64
						if p := ev[par][n]; p >= 1e-9 { // else p^k ≤ 1e-18: nothing
							ex = ipow(p, k)
							z += ex
							wsum += ex * ((v - mx) * inv)
						}
						e = append(e, ex)
					}
				}
				ev[ti] = e
				logZ := mx/tau + math.Log(z)
				h := math.Log(z) - wsum/z
				var l float64
				for _, v := range pos {
					l += mathx.Softplus(logZ-v/tau, math.Exp)
				}
				f := acc[(a*nt+ti)*fields:]
				f[0], f[1], f[2] = l, float64(len(pos)), h
				if logN > 0 {
					f[3] = h / logN
				}
				f[4], f[5] = math.Exp(h), 1/z
			}
		})
		if progress != nil {
			progress(a1)
		}
	}
	out := make([]TemperaturePt, nt)
	for ti, tau := range taus {
		var lsum, pairs, h, hn, eff, pm float64
		var n int
		for a := range nA { // fixed order
			if !ok[a] {
				continue
			}
			f := acc[(a*nt+ti)*fields:]
			lsum += f[0]
			pairs += f[1]
			h += f[2]
			hn += f[3]
			eff += f[4]
			pm += f[5]
			n++
		}
		p := TemperaturePt{Temperature: tau, Anchors: n}
		if n > 0 {
			fn := float64(n)
			p.Loss, p.Entropy, p.NormalizedEntropy, p.EffectiveNegatives, p.MaxWeight = lsum/pairs, h/fn, hn/fn, eff/fn, pm/fn
		}
		out[ti] = p
	}
	return out, nil
}

// powerPlan orders the temperatures from the largest down and, where
// τ_parent/τ is an integer k in [2, 16] for a larger τ_parent already
// computed, derives e^{x/τ} from e^{x/τ_parent} by k-th power instead of
// calling exp (the default sweep needs two exps per pair instead of eight).
type powerPlan struct {
	order  []int
	parent []int
	k      []int
}

func newPowerPlan(taus []float64) powerPlan {
	p := powerPlan{parent: make([]int, len(taus)), k: make([]int, len(taus))}
	for i := range taus {
		p.order = append(p.order, i)
	}
	sort.SliceStable(p.order, func(a, b int) bool { return taus[p.order[a]] > taus[p.order[b]] })
	for oi, ti := range p.order {
		p.parent[ti] = -1
		for _, pj := range p.order[:oi] { // larger temperatures
			r := taus[pj] / taus[ti]
			k := math.Round(r)
			if k >= 2 && k <= 16 && math.Abs(r-k) < 1e-9*k && (p.parent[ti] < 0 || int(k) < p.k[ti]) {
				p.parent[ti], p.k[ti] = pj, int(k)
			}
		}
	}
	return p
}

// ipow returns p^k for k ≥ 1 by repeated squaring.
func ipow(p float64, k int) float64 {
	r := 1.0
	for k > 0 {
		if k&1 == 1 {
			r *= p
		}
		p *= p
		k >>= 1
	}
	return r
}

// CenterStats relate each row to its class mean (the audit form of the
// center loss, on the raw rows) and the class means to each other.
type CenterStats struct {
	// Loss is mean_i ½‖x_i − c_{y_i}‖².
	Loss float64 `json:"loss"`
	// WithinRMS is sqrt(mean_i ‖x_i − c_{y_i}‖²).
	WithinRMS float64 `json:"within_rms"`
	// BetweenMean is the mean distance between two class means (over
	// unordered pairs of classes).
	BetweenMean float64 `json:"between_mean"`
	// Ratio = BetweenMean / WithinRMS: how far apart classes are in units
	// of their spread.
	Ratio float64 `json:"ratio"`
	// ScatterRatio is tr(S_B)/tr(S_W) = Σ_c n_c‖c − μ‖² / Σ_i ‖x_i − c_{y_i}‖².
	ScatterRatio float64 `json:"scatter_ratio"`
	// perClass geometry, keyed by label (reported in ClassReport).
	classes map[int]classGeom
}

type classGeom struct {
	size         int
	radius       float64
	nearest      int
	nearestDist  float64
	hasNeighbour bool
}

// centerStats computes CenterStats in float64 (O(N·D + C²·D)).
func centerStats(x blas32.General, labels []int) *CenterStats {
	D := x.Cols
	idx := map[int]int{}
	var order []int
	for _, l := range labels {
		if _, ok := idx[l]; !ok {
			idx[l] = len(order)
			order = append(order, l)
		}
	}
	nc := len(order)
	means := make([]float64, nc*D)
	counts := make([]int, nc)
	mu := make([]float64, D)
	for i, l := range labels {
		c := idx[l]
		counts[c]++
		for k, v := range linalg.Row(x, i) {
			means[c*D+k] += float64(v)
			mu[k] += float64(v)
		}
	}
	for c := range nc {
		for k := range D {
			means[c*D+k] /= float64(counts[c])
		}
	}
	for k := range D {
		mu[k] /= float64(len(labels))
	}
	within := make([]float64, nc)
	var sw float64
	for i, l := range labels {
		c := idx[l]
		var s float64
		for k, v := range linalg.Row(x, i) {
			d := float64(v) - means[c*D+k]
			s += d * d
		}
		within[c] += s
		sw += s
	}
	var sb float64
	for c := range nc {
		var s float64
		for k := range D {
			d := means[c*D+k] - mu[k]
			s += d * d
		}
		sb += float64(counts[c]) * s
	}
	st := &CenterStats{classes: map[int]classGeom{}}
	n := float64(len(labels))
	st.Loss = sw / (2 * n)
	st.WithinRMS = math.Sqrt(sw / n)
	if sw > 0 {
		st.ScatterRatio = sb / sw
	}
	geom := make([]classGeom, nc)
	for c := range nc {
		geom[c] = classGeom{size: counts[c], radius: math.Sqrt(within[c] / float64(counts[c])), nearestDist: math.Inf(1)}
	}
	// Class-mean distances, rows of classes in parallel, summed in order.
	rowSum := make([]float64, nc)
	par.Each(runtime.GOMAXPROCS(0), nc, func(_, a int) {
		for b := range nc {
			if b == a {
				continue
			}
			var s float64
			for k := range D {
				d := means[a*D+k] - means[b*D+k]
				s += d * d
			}
			dist := math.Sqrt(s)
			if b > a {
				rowSum[a] += dist
			}
			if dist < geom[a].nearestDist {
				geom[a].nearestDist, geom[a].nearest, geom[a].hasNeighbour = dist, b, true
			}
		}
	})
	var between float64
	for _, v := range rowSum {
		between += v
	}
	if nc > 1 {
		st.BetweenMean = between / float64(nc*(nc-1)/2)
	}
	if st.WithinRMS > 0 {
		st.Ratio = st.BetweenMean / st.WithinRMS
	}
	for c, l := range order {
		g := geom[c]
		if g.hasNeighbour {
			g.nearest = order[g.nearest]
		} else {
			g.nearestDist = 0
		}
		st.classes[l] = g
	}
	return st
}

// SimilarityStats describe the cosine similarities of positive (same
// label / true pair) and negative pairs (labelled: every unordered pair;
// pairs form: every query × corpus item).
type SimilarityStats struct {
	PositivePairs uint64  `json:"positive_pairs"`
	NegativePairs uint64  `json:"negative_pairs"`
	PositiveMean  float64 `json:"positive_mean"`
	NegativeMean  float64 `json:"negative_mean"`
	// Quantiles at 5, 25, 50, 75 and 95 %.
	PositiveQuantiles []float64 `json:"positive_quantiles"`
	NegativeQuantiles []float64 `json:"negative_quantiles"`
	// Overlap is Σ_b min(pos_b/P, neg_b/N) over the histogram bins.
	Overlap float64 `json:"overlap"`
	// ROCAUC is the pair-verification ROC-AUC (ties half).
	ROCAUC float64 `json:"roc_auc"`
	// Best is the accuracy-maximizing threshold; BestBalanced maximizes the
	// mean of the true-positive and true-negative rates.
	Best         retrieval.ThresholdResult `json:"best_threshold"`
	BestBalanced retrieval.ThresholdResult `json:"best_balanced_threshold"`
	Histogram    Histogram                 `json:"histogram"`
}

// MarshalJSON writes s with NaN values (no pairs of a kind) as null.
func (s SimilarityStats) MarshalJSON() ([]byte, error) {
	type plain SimilarityStats
	qs := func(v []float64) []*float64 {
		out := make([]*float64, len(v))
		for i, x := range v {
			out[i] = finite(x)
		}
		return out
	}
	return json.Marshal(struct {
		plain
		PositiveMean      *float64   `json:"positive_mean"`
		NegativeMean      *float64   `json:"negative_mean"`
		PositiveQuantiles []*float64 `json:"positive_quantiles"`
		NegativeQuantiles []*float64 `json:"negative_quantiles"`
		Overlap           *float64   `json:"overlap"`
		ROCAUC            *float64   `json:"roc_auc"`
	}{plain(s), finite(s.PositiveMean), finite(s.NegativeMean), qs(s.PositiveQuantiles), qs(s.NegativeQuantiles),
		finite(s.Overlap), finite(s.ROCAUC)})
}

// finite returns &v, or nil (JSON null) when v is NaN or infinite.
func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// Histogram is a similarity histogram: len(Edges) = len(Positive)+1.
type Histogram struct {
	Edges    []float64 `json:"edges"`
	Positive []uint64  `json:"positive"`
	Negative []uint64  `json:"negative"`
}

// Quantiles reported in SimilarityStats.
var reportQuantiles = []float64{0.05, 0.25, 0.5, 0.75, 0.95}

func similarityStats(h *retrieval.SimilarityHistogram, bins int) SimilarityStats {
	var st SimilarityStats
	st.PositivePairs, st.NegativePairs = h.Counts()
	var ps, ns float64
	for b := range h.Pos {
		mid := -1 + (float64(b)+0.5)*2/retrieval.NumSimilarityBins
		ps += float64(h.Pos[b]) * mid
		ns += float64(h.Neg[b]) * mid
	}
	st.PositiveMean, st.NegativeMean = nanDiv(ps, float64(st.PositivePairs)), nanDiv(ns, float64(st.NegativePairs))
	for _, q := range reportQuantiles {
		st.PositiveQuantiles = append(st.PositiveQuantiles, h.Quantile(true, q))
		st.NegativeQuantiles = append(st.NegativeQuantiles, h.Quantile(false, q))
	}
	st.Overlap = h.Overlap(bins)
	st.ROCAUC, _ = h.ROCAUC()
	st.Best = h.BestThreshold(false)
	st.BestBalanced = h.BestThreshold(true)
	st.Histogram.Edges, st.Histogram.Positive, st.Histogram.Negative = h.Coarse(bins)
	return st
}

func nanDiv(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// positiveFracBelow returns the fraction of positive pairs whose
// similarity lies in a lower bin than s.
func positiveFracBelow(h *retrieval.SimilarityHistogram, s float32) float64 {
	p, _ := h.Counts()
	if p == 0 {
		return math.NaN()
	}
	var c uint64
	for b := range retrieval.SimilarityBin(s) {
		c += h.Pos[b]
	}
	return float64(c) / float64(p)
}

func perClass(per []retrieval.QueryMetrics, labels []int, names []string, cs *CenterStats, recallK []int) []ClassReport {
	cms := retrieval.PerClassMetrics(per, labels, recallK)
	out := make([]ClassReport, len(cms))
	for i, cm := range cms {
		r := ClassReport{Label: cm.Label, Name: className(names, cm.Label), Size: cm.Size, Metrics: cm.Metrics}
		if g, ok := cs.classes[cm.Label]; ok {
			r.Radius = g.radius
			if g.hasNeighbour {
				r.Nearest = className(names, g.nearest)
				r.NearestDistance = g.nearestDist
			}
			if g.radius > 0 {
				r.Separation = g.nearestDist / g.radius
			}
		}
		out[i] = r
	}
	return out
}

func className(names []string, l int) string {
	if l >= 0 && l < len(names) {
		return names[l]
	}
	return strconv.Itoa(l)
}

// suspects lists the anchors' highest-ranked non-relevant neighbours that
// outrank at least NoiseQuantile of the anchor's positives, most
// outranking then most similar first; a labelled pair is listed once.
// Pairs with an all-zero row are left out and counted (zeroPairs).
func suspects(d Data, res *retrieval.Result, corpusRow []int, s Settings) (out []Suspect, zeroPairs int) {
	type key struct{ a, b int }
	best := map[key]int{}
	out = []Suspect{}
	zero := func(i int) bool {
		for _, v := range linalg.Row(d.X, i) {
			if v != 0 {
				return false
			}
		}
		return true
	}
	zeroRow := make([]bool, d.X.Rows)
	for i := range zeroRow {
		zeroRow[i] = zero(i)
	}
	zeroSeen := map[key]bool{}
	for q, m := range res.PerQuery {
		if m.R == 0 {
			continue
		}
		for _, nb := range m.TopNegatives {
			ex := float64(m.R-nb.RelevantAbove) / float64(m.R)
			if ex < s.NoiseQuantile {
				continue
			}
			a, b := q, nb.Index
			k := key{a, b}
			if d.Queries > 0 {
				b = corpusRow[nb.Index]
				k = key{a, b}
			} else if b < a {
				k = key{b, a}
			}
			if zeroRow[a] || zeroRow[b] {
				if !zeroSeen[k] {
					zeroSeen[k] = true
					zeroPairs++
				}
				continue
			}
			sp := Suspect{A: a, B: b, Score: nb.Score, Exceeds: ex}
			if i, ok := best[k]; ok {
				if ex > out[i].Exceeds {
					out[i] = sp
				}
				continue
			}
			best[k] = len(out)
			out = append(out, sp)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		x, y := out[i], out[j]
		if x.Exceeds != y.Exceeds {
			return x.Exceeds > y.Exceeds
		}
		if x.Score != y.Score {
			return x.Score > y.Score
		}
		if x.A != y.A {
			return x.A < y.A
		}
		return x.B < y.B
	})
	if s.MaxSuspects > 0 && len(out) > s.MaxSuspects {
		out = out[:s.MaxSuspects]
	}
	for i := range out {
		x := &out[i]
		x.ExceedsAll = positiveFracBelow(res.Hist, x.Score)
		if d.Labels != nil {
			x.LabelA, x.LabelB = className(d.ClassNames, d.Labels[x.A]), className(d.ClassNames, d.Labels[x.B])
		}
		if d.Texts != nil {
			x.TextA, x.TextB = d.Texts[x.A], d.Texts[x.B]
			if d.Queries > 0 {
				x.Positive = d.Texts[d.Queries+x.A]
			}
		}
	}
	return out, zeroPairs
}
