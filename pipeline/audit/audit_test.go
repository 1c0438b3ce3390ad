package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/losses"
	"github.com/embfit/embfit/pipeline/retrieval"
)

// clustered returns n rows in `classes` Gaussian clusters of dimension d
// (centers at distance ~1, spread sigma) and their labels.
func clustered(rng *rand.Rand, n, d, classes int, sigma float64) (blas32.General, []int) {
	centers := make([][]float64, classes)
	for c := range centers {
		centers[c] = make([]float64, d)
		for k := range centers[c] {
			centers[c][k] = rng.NormFloat64()
		}
	}
	x := linalg.NewMatrix(n, d)
	labels := make([]int, n)
	for i := range n {
		labels[i] = i % classes
		for k, v := range centers[labels[i]] {
			x.Data[i*d+k] = float32(v + sigma*rng.NormFloat64())
		}
	}
	return x, labels
}

func unit(x blas32.General) [][]float64 {
	out := make([][]float64, x.Rows)
	for i := range out {
		r := linalg.Row(x, i)
		var ss float64
		for _, v := range r {
			ss += float64(v) * float64(v)
		}
		out[i] = make([]float64, len(r))
		for k, v := range r {
			out[i][k] = float64(v) / math.Sqrt(ss)
		}
	}
	return out
}

func dot(a, b []float64) float64 {
	var s float64
	for k := range a {
		s += a[k] * b[k]
	}
	return s
}

// bruteEntropy is the mean over anchors (with a positive and a negative)
// of the entropy of the softmax over negatives at temperature tau.
func bruteEntropy(u [][]float64, isPos func(a, j int) bool, isNeg func(a, j int) bool, anchors int, cands func(j int) []float64, nc int, tau float64) float64 {
	var sum float64
	var n int
	for a := range anchors {
		var ws []float64
		hasPos := false
		for j := range nc {
			if isPos(a, j) {
				hasPos = true
			}
			if isNeg(a, j) {
				ws = append(ws, math.Exp(dot(u[a], cands(j))/tau))
			}
		}
		if !hasPos || len(ws) == 0 {
			continue
		}
		var z, h float64
		for _, w := range ws {
			z += w
		}
		for _, w := range ws {
			p := w / z
			if p > 0 {
				h -= p * math.Log(p)
			}
		}
		sum += h
		n++
	}
	return sum / float64(n)
}

func TestRunLabelled(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x, labels := clustered(rng, 120, 8, 5, 0.6)
	// A planted mislabel: row 0 (class 0) copied into a row labelled 1.
	copy(linalg.Row(x, 1), linalg.Row(x, 0))
	texts := make([]string, x.Rows)
	for i := range texts {
		texts[i] = fmt.Sprintf("text %d", i)
	}
	d := Data{X: x, Labels: labels, Texts: texts, ClassNames: []string{"a", "b", "c", "d", "e"}}
	rep, err := Run(context.Background(), d, Settings{PerSample: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Precision != "float64" || len(rep.GradNorms) != 5 || len(rep.GradNorms[0]) != x.Rows {
		t.Errorf("precision %q, grad norms %d", rep.Precision, len(rep.GradNorms))
	}
	// Losses are package losses' values, in losses.Names() order.
	if len(rep.Losses) != 5 {
		t.Fatalf("%d losses", len(rep.Losses))
	}
	for i, name := range losses.Names() {
		l, _ := losses.Parse(name)
		want := l.Eval(losses.Batch{X: x, Labels: labels}, blas32.General{})
		if rep.Losses[i].Name != name || math.Abs(rep.Losses[i].Value-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Errorf("loss %s = %v, want %v", rep.Losses[i].Name, rep.Losses[i].Value, want)
		}
	}
	// The sweep's InfoNCE equals package losses' NT-Xent at each τ.
	u := unit(x)
	for _, p := range rep.Temperature {
		l, _ := losses.Parse(fmt.Sprintf("infonce:temperature=%v", p.Temperature))
		want := l.Eval(losses.Batch{X: x, Labels: labels}, blas32.General{})
		if math.Abs(p.Loss-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Errorf("τ=%v: sweep loss %v, losses.InfoNCE %v", p.Temperature, p.Loss, want)
		}
		h := bruteEntropy(u, func(a, j int) bool { return j != a && labels[j] == labels[a] },
			func(a, j int) bool { return labels[j] != labels[a] }, x.Rows, func(j int) []float64 { return u[j] }, x.Rows, p.Temperature)
		if math.Abs(p.Entropy-h) > 1e-4 {
			t.Errorf("τ=%v: entropy %v, brute force %v", p.Temperature, p.Entropy, h)
		}
		if p.NormalizedEntropy < 0 || p.NormalizedEntropy > 1 {
			t.Errorf("τ=%v: normalized entropy %v outside [0,1]", p.Temperature, p.NormalizedEntropy)
		}
	}
	// Low τ is sharp, high τ near uniform.
	first, last := rep.Temperature[0], rep.Temperature[len(rep.Temperature)-1]
	if !(first.NormalizedEntropy < last.NormalizedEntropy && first.MaxWeight > last.MaxWeight && last.NormalizedEntropy > 0.9) {
		t.Errorf("entropy does not rise with τ: %+v … %+v", first, last)
	}
	// Triplets at the default chosen margin 0.2 are losses.TripletStats.
	// (Rows 0 and 1 are duplicates: their exact distance ties are broken by
	// float32 rounding, which depends on the BLAS tile a score lands in, so
	// a few triplets may change category; TestTripletAnatomyMatchesTripletStats
	// checks exact equality on data without ties.)
	c := losses.TripletStats(x, labels, losses.Euclidean, 0.2, true)
	near := func(a, b int64) bool { return math.Abs(float64(a-b)) <= 1e-3*float64(c.Total) }
	if rep.Triplets.Margin != 0.2 || !near(rep.Triplets.Easy, c.Easy) || !near(rep.Triplets.Hard, c.Hard) || rep.Triplets.Total != c.Total {
		t.Errorf("triplets %+v, want %+v", rep.Triplets, c)
	}
	prevEasy := 2.0
	for _, m := range rep.TripletAnatomy.Margins {
		if m.EasyFrac > prevEasy+1e-15 {
			t.Errorf("easy fraction grows with the margin: %+v", rep.TripletAnatomy.Margins)
		}
		prevEasy = m.EasyFrac
	}
	// Centers: L_C equals the losses' center (audit form) value.
	if got, want := rep.Centers.Loss, rep.Losses[3].Value; math.Abs(got-want) > 1e-6*want {
		t.Errorf("center loss %v, losses.Center %v", got, want)
	}
	if rep.Centers.Ratio <= 0 || rep.Centers.ScatterRatio <= 0 {
		t.Errorf("center ratios %+v", rep.Centers)
	}
	// Retrieval equals retrieval.EvaluateLabelled.
	res, err := retrieval.EvaluateLabelled(context.Background(), x, labels, retrieval.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Retrieval.MAPAtR != res.Metrics.MAPAtR || rep.Similarity.ROCAUC != res.Metrics.ROCAUC {
		t.Errorf("retrieval %+v, want %+v", rep.Retrieval, res.Metrics)
	}
	// Per class: every class, worst first, named.
	if len(rep.PerClass) != 5 {
		t.Fatalf("%d classes", len(rep.PerClass))
	}
	for i := 1; i < len(rep.PerClass); i++ {
		if rep.PerClass[i].Metrics.MAPAtR < rep.PerClass[i-1].Metrics.MAPAtR {
			t.Errorf("per-class not worst first")
		}
	}
	if rep.PerClass[0].Name == "" || rep.PerClass[0].Nearest == "" {
		t.Errorf("per-class names missing: %+v", rep.PerClass[0])
	}
	// The planted duplicate (rows 0 and 1, labels a and b) is the top suspect.
	if len(rep.Suspects) == 0 || rep.Suspects[0].A != 0 || rep.Suspects[0].B != 1 || rep.Suspects[0].TextB != "text 1" ||
		rep.Suspects[0].LabelA != "a" || rep.Suspects[0].LabelB != "b" || rep.Suspects[0].Exceeds < 0.9 {
		t.Errorf("suspects %+v", rep.Suspects)
	}
	// JSON keeps the losses-only schema (n, dim, losses, triplets) at the top level.
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"n", "dim", "losses", "triplets", "temperature_sweep", "centers", "similarity", "retrieval", "per_class", "suspects", "settings"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	ret := m["retrieval"].(map[string]any)
	if mm, ok := ret["metrics"].(map[string]any); !ok || mm["map_at_r"] != rep.Retrieval.MAPAtR || ret["corpus"] != float64(x.Rows-1) {
		t.Errorf("JSON retrieval %v", ret)
	}
	tr := m["triplets"].(map[string]any)
	for _, k := range []string{"margin", "easy", "semihard", "hard", "total"} {
		if _, ok := tr[k]; !ok {
			t.Errorf("JSON triplets lack %q", k)
		}
	}
}

func TestRunPairs(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	const q, dim = 40, 12
	x := linalg.NewMatrix(2*q, dim)
	texts := make([]string, 2*q)
	for i := range q {
		for k := range dim {
			v := rng.NormFloat64()
			x.Data[i*dim+k] = float32(v)
			x.Data[(q+i)*dim+k] = float32(v + 0.3*rng.NormFloat64())
		}
		texts[i], texts[q+i] = fmt.Sprintf("query %d", i), fmt.Sprintf("doc %d", i)
	}
	// Query 6 and its positive duplicate query 5 and its positive: doc 5
	// ties with doc 6 for query 6 and ranks first, a false negative.
	copy(linalg.Row(x, 6), linalg.Row(x, 5))
	copy(linalg.Row(x, q+6), linalg.Row(x, q+5))
	rep, err := Run(context.Background(), Data{X: x, Queries: q, Texts: texts}, Settings{Losses: []string{"infonce", "triplet:margin=0.1"}, PerSample: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Form != "pairs" || rep.Centers != nil || rep.PerClass != nil || rep.Retrieval.Corpus != q {
		t.Errorf("pair report shape: form %s centers %v per-class %v corpus %d", rep.Form, rep.Centers, rep.PerClass, rep.Retrieval.Corpus)
	}
	for _, p := range rep.Temperature {
		l, _ := losses.Parse(fmt.Sprintf("infonce:temperature=%v", p.Temperature))
		want := l.Eval(losses.Batch{X: x, Queries: q}, blas32.General{})
		if math.Abs(p.Loss-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Errorf("τ=%v: sweep loss %v, losses.InfoNCE pair form %v", p.Temperature, p.Loss, want)
		}
	}
	if len(rep.GradNorms) != 2 || len(rep.GradNorms[1]) != 2*q {
		t.Errorf("pair grad norms: %d", len(rep.GradNorms))
	}
	if rep.Triplets.Margin != 0.1 {
		t.Errorf("chosen margin %v, want the spec's 0.1", rep.Triplets.Margin)
	}
	found := false
	for _, s := range rep.Suspects {
		if (s.A == 6 && s.B == q+5) || (s.A == 5 && s.B == q+6) {
			found = s.Positive != "" && strings.HasPrefix(s.TextB, "doc ")
		}
	}
	if !found {
		t.Errorf("false negative (query 6 ↔ doc 5) not suspected: %+v", rep.Suspects)
	}
}

func TestRunErrors(t *testing.T) {
	x := linalg.NewMatrix(4, 2)
	for _, tc := range []struct {
		name string
		d    Data
		s    Settings
	}{
		{"bad spec", Data{X: x, Labels: []int{0, 0, 1, 1}}, Settings{Losses: []string{"tripple"}}},
		{"labels", Data{X: x, Labels: []int{0}}, Settings{}},
		{"pair rows", Data{X: x, Queries: 3}, Settings{}},
		{"texts", Data{X: x, Labels: []int{0, 0, 1, 1}, Texts: []string{"a"}}, Settings{}},
		{"temperature", Data{X: x, Labels: []int{0, 0, 1, 1}}, Settings{Temperatures: []float64{0}}},
		{"bins", Data{X: x, Labels: []int{0, 0, 1, 1}}, Settings{HistogramBins: 100}},
	} {
		if _, err := Run(context.Background(), tc.d, tc.s); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestWriteHTMLHasEveryChart(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	x, labels := clustered(rng, 90, 6, 4, 0.5)
	y, _ := clustered(rng, 90, 6, 4, 1.5)
	names := []string{"noun.<script>", "verb", "adj", "adv"}
	a, err := Run(context.Background(), Data{X: x, Labels: labels, ClassNames: names}, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Run(context.Background(), Data{X: y, Labels: labels, ClassNames: names}, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	a.Model, b.Model = "before.onnx", "after.onnx"
	for _, reps := range [][]*Report{{a}, {a, b}} {
		var buf bytes.Buffer
		if err := WriteHTML(&buf, "audit", reps...); err != nil {
			t.Fatal(err)
		}
		html := buf.String()
		for _, kind := range ChartKinds {
			i := strings.Index(html, `data-chart="`+kind+`"`)
			if i < 0 {
				t.Fatalf("%d reports: chart %s missing", len(reps), kind)
			}
			if !strings.HasPrefix(html[strings.Index(html[i:], ">")+i+1:], "<svg") {
				t.Errorf("chart %s is not an inline SVG", kind)
			}
		}
		if n := strings.Count(html, `data-chart="`+ChartSimilarity+`"`); n != len(reps) {
			t.Errorf("%d similarity charts for %d reports", n, len(reps))
		}
		for _, bad := range []string{"<script", "src=", "<link", "@import", "url("} {
			if strings.Contains(html, bad) {
				t.Errorf("HTML contains %q: not self-contained or not escaped", bad)
			}
		}
		if len(reps) == 2 && (!strings.Contains(html, `id="comparison"`) || !strings.Contains(html, "MAP@R") || !strings.Contains(html, "after.onnx")) {
			t.Errorf("comparison table missing")
		}
		if len(reps) == 1 && strings.Contains(html, `id="comparison"`) {
			t.Errorf("comparison table with one model")
		}
	}
}

func TestCompare(t *testing.T) {
	a := &Report{Retrieval: RetrievalReport{Metrics: retrieval.Metrics{MAPAtR: 0.2, Recall: []retrieval.RecallAt{{K: 1, Recall: 0.5}}}},
		Losses: []LossValue{{Spec: "triplet", Value: 0.3}}}
	b := &Report{Retrieval: RetrievalReport{Metrics: retrieval.Metrics{MAPAtR: 0.35, Recall: []retrieval.RecallAt{{K: 1, Recall: 0.6}}}},
		Losses: []LossValue{{Spec: "triplet", Value: 0.1}}}
	rows := Compare(a, b)
	get := func(name string) ComparisonRow {
		for _, r := range rows {
			if r.Metric == name {
				return r
			}
		}
		t.Fatalf("no row %q in %+v", name, rows)
		return ComparisonRow{}
	}
	if r := get("MAP@R"); math.Abs(r.Delta-0.15) > 1e-12 || r.Better != "higher" {
		t.Errorf("MAP@R row %+v", r)
	}
	if r := get("recall@1"); math.Abs(r.Delta-0.1) > 1e-12 {
		t.Errorf("recall row %+v", r)
	}
	if r := get("loss triplet"); math.Abs(r.Delta+0.2) > 1e-12 || r.Better != "lower" {
		t.Errorf("loss row %+v", r)
	}
	txt := FormatComparison(rows, []string{"glove", "trained"})
	if !strings.Contains(txt, "MAP@R") || !strings.Contains(txt, "+0.1500 +") {
		t.Errorf("table:\n%s", txt)
	}
}

// Audit labelled embeddings and read the headline numbers.
func ExampleRun() {
	x := linalg.NewMatrix(6, 2)
	copy(x.Data, []float32{1, 0.1, 1, 0.2, 1, 0.15, 0.1, 1, 0.2, 1, 0.15, 1})
	rep, err := Run(context.Background(), Data{X: x, Labels: []int{0, 0, 0, 1, 1, 1}}, Settings{Losses: []string{"triplet"}})
	if err != nil {
		panic(err)
	}
	fmt.Printf("MAP@R %.2f, ROC-AUC %.2f, easy triplets at margin %.1f: %.0f%%\n",
		rep.Retrieval.MAPAtR, rep.Similarity.ROCAUC, rep.Triplets.Margin, 100*rep.Triplets.EasyFrac)
	// Output: MAP@R 1.00, ROC-AUC 1.00, easy triplets at margin 0.2: 100%
}

func TestPowerPlan(t *testing.T) {
	p := newPowerPlan(DefaultTemperatures)
	// index in DefaultTemperatures → (parent temperature, k); -1: exp.
	want := map[float64][2]float64{1: {-1, 0}, 0.5: {1, 2}, 0.2: {1, 5}, 0.1: {0.2, 2}, 0.07: {-1, 0}, 0.05: {0.1, 2}, 0.02: {0.1, 5}, 0.01: {0.02, 2}}
	for i, tau := range DefaultTemperatures {
		w := want[tau]
		if w[0] < 0 {
			if p.parent[i] != -1 {
				t.Errorf("τ=%v: parent %d, want exp", tau, p.parent[i])
			}
			continue
		}
		if p.parent[i] < 0 || DefaultTemperatures[p.parent[i]] != w[0] || p.k[i] != int(w[1]) {
			t.Errorf("τ=%v: parent %d k %d, want τ=%v k=%v", tau, p.parent[i], p.k[i], w[0], w[1])
		}
	}
	// The sweep with derived powers equals exp-only sweeps, τ by τ.
	rng := rand.New(rand.NewPCG(2, 8))
	x, labels := clustered(rng, 80, 6, 4, 0.7)
	all, err := temperatureSweep(context.Background(), Data{X: x, Labels: labels}, labels, DefaultTemperatures, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, tau := range DefaultTemperatures {
		one, _ := temperatureSweep(context.Background(), Data{X: x, Labels: labels}, labels, []float64{tau}, nil)
		a, b := all[i], one[0]
		if math.Abs(a.Loss-b.Loss) > 1e-12*b.Loss || math.Abs(a.Entropy-b.Entropy) > 1e-11 || math.Abs(a.MaxWeight-b.MaxWeight) > 1e-12 {
			t.Errorf("τ=%v: with powers %+v, exp only %+v", tau, a, b)
		}
	}
}

func TestRunCountsZeroRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	x, labels := clustered(rng, 30, 5, 3, 0.5)
	for _, r := range []int{4, 17} {
		clear(linalg.Row(x, r))
	}
	rep, err := Run(context.Background(), Data{X: x, Labels: labels}, Settings{Losses: []string{"center"}})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteTable(&b, rep); err != nil {
		t.Fatal(err)
	}
	if rep.ZeroRows != 2 || !strings.Contains(b.String(), "warning: 2 all-zero embeddings") {
		t.Errorf("zero rows %d, table:\n%s", rep.ZeroRows, b.String())
	}
	// Zero rows tie with everything: they are never suspects, and the
	// pairs left out for them are counted apart.
	rep, err = Run(context.Background(), Data{X: x, Labels: labels}, Settings{Losses: []string{"center"}, NoiseQuantile: 0.01, MaxSuspects: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range rep.Suspects {
		if sp.A == 4 || sp.A == 17 || sp.B == 4 || sp.B == 17 {
			t.Errorf("suspect with a zero row: %+v", sp)
		}
	}
	b.Reset()
	if err := WriteTable(&b, rep); err != nil {
		t.Fatal(err)
	}
	if rep.ZeroRowSuspects == 0 || !strings.Contains(b.String(), fmt.Sprintf("; %d pairs with one left out of the suspects", rep.ZeroRowSuspects)) {
		t.Errorf("zero-row suspects %d, table:\n%s", rep.ZeroRowSuspects, b.String())
	}
}

// Benchmarks of the audit's own whole-set passes (D=100, 45 classes).
func BenchmarkAuditPasses(b *testing.B) {
	for _, n := range []int{4096, 11779} {
		rng := rand.New(rand.NewPCG(1, 1))
		x, labels := clustered(rng, n, 100, 45, 2)
		d := Data{X: x, Labels: labels}
		b.Run(fmt.Sprintf("temperature-sweep/n=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := temperatureSweep(context.Background(), d, labels, DefaultTemperatures, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("triplet-anatomy/n=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := losses.CountTriplets(context.Background(), x, labels, losses.Euclidean, true, DefaultMargins, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("retrieval/n=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := retrieval.EvaluateLabelled(context.Background(), x, labels, retrieval.Settings{PerQuery: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestRunReportsProgress(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	x, labels := clustered(rng, 40, 5, 4, 0.5)
	type call struct {
		stage       string
		done, total int
	}
	var calls []call
	s := Settings{Losses: []string{"triplet", "center"}, Progress: func(st string, done, total int) { calls = append(calls, call{st, done, total}) }}
	if _, err := Run(context.Background(), Data{X: x, Labels: labels}, s); err != nil {
		t.Fatal(err)
	}
	last := map[string]call{}
	var order []string
	for _, c := range calls {
		if c.done == 0 {
			order = append(order, c.stage)
		}
		last[c.stage] = c
	}
	if strings.Join(order, ",") != "losses,triplets,temperature,centers,retrieval" {
		t.Errorf("stages %v", order)
	}
	for st, c := range last {
		if c.done != c.total || c.total == 0 {
			t.Errorf("stage %s ended at %d/%d", st, c.done, c.total)
		}
	}
	if last["losses"].total != 2 || last["triplets"].total != 40 {
		t.Errorf("totals %+v", last)
	}
}

// Degenerate sets (no positive pairs, no negative pairs) still give a
// report that encodes as JSON and renders as HTML.
func TestRunDegenerateSets(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 1))
	x, _ := clustered(rng, 12, 4, 3, 0.5)
	distinct := make([]int, 12)
	same := make([]int, 12)
	for i := range distinct {
		distinct[i] = i
	}
	for name, labels := range map[string][]int{"singletons": distinct, "one class": same} {
		rep, err := Run(context.Background(), Data{X: x, Labels: labels}, Settings{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if rep.Retrieval.Queries != 0 && name == "singletons" {
			t.Errorf("%s: %d queries", name, rep.Retrieval.Queries)
		}
		if !math.IsNaN(rep.Similarity.ROCAUC) {
			t.Errorf("%s: ROC-AUC %v, want NaN", name, rep.Similarity.ROCAUC)
		}
		for _, l := range rep.Losses {
			if math.IsNaN(l.Value) || math.IsInf(l.Value, 0) {
				t.Errorf("%s: loss %s = %v", name, l.Spec, l.Value)
			}
		}
		b, err := json.Marshal(rep)
		if err != nil || !strings.Contains(string(b), `"roc_auc":null`) {
			t.Errorf("%s: JSON %v", name, err)
		}
		var buf bytes.Buffer
		if err := WriteHTML(&buf, "t", rep); err != nil {
			t.Errorf("%s: HTML: %v", name, err)
		}
		if err := WriteTable(&buf, rep); err != nil {
			t.Errorf("%s: table: %v", name, err)
		}
	}
}
