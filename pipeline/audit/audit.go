// Package audit measures how well an embedding space is organised on
// labelled or paired data: every loss of package losses on the whole set,
// the triplet anatomy (easy / semihard / hard) across margins, InfoNCE over
// a temperature sweep with the entropy of each anchor's softmax over its
// negatives, center-loss statistics against the class means, the positive
// and negative similarity distributions (overlap, ROC-AUC, best threshold),
// retrieval metrics overall and per class, and suspected label noise /
// false negatives. Run computes a Report; WriteHTML renders one or more
// reports as a self-contained HTML page.
//
// Everything works in blocks of rows against the whole set through
// internal/linalg: memory is O(N·D) for the embeddings plus O(block·N) for
// one block of similarities, never an N×N matrix (the losses themselves
// are computed by package losses, which works in row blocks as well).
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/embfit/embfit/internal/inputerr"
	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/internal/rows"
	"github.com/embfit/embfit/losses"
	"github.com/embfit/embfit/pipeline/retrieval"
)

// Settings configures Run. The zero value means the defaults given on each
// field; Run validates the settings once and echoes them (defaults filled
// in) in Report.Settings.
type Settings struct {
	// Losses are loss specs (losses.Parse syntax). Default: the five
	// losses with their defaults, in losses.Names() order.
	Losses []string `json:"losses"`
	// Margins are the margins of the triplet anatomy sweep, ascending.
	// Default [0, 0.05, 0.1, 0.2, 0.3, 0.5, 1]. The triplet distance and
	// normalization are those of the first triplet spec in Losses
	// (default Euclidean on normalized rows); its margin is the "chosen"
	// one reported in Report.Triplets and is added to the sweep.
	Margins []float64 `json:"margins"`
	// Temperatures are the InfoNCE temperatures swept, ascending.
	// Default [0.01, 0.02, 0.05, 0.07, 0.1, 0.2, 0.5, 1].
	Temperatures []float64 `json:"temperatures"`
	// HistogramBins is the number of bins over [-1, 1] of the reported
	// similarity histograms; a power of two up to 2^20. Default 128.
	HistogramBins int `json:"histogram_bins"`
	// NoiseQuantile: a different-label pair (or, for pairs, a corpus item
	// that is not the anchor's positive) is suspected when it is ranked
	// above at least this fraction of the anchor's own positives.
	// Default 0.9 (for a single positive: ranked above it).
	NoiseQuantile float64 `json:"noise_quantile"`
	// MaxSuspects caps Report.Suspects. Default 50.
	MaxSuspects int `json:"max_suspects"`
	// Retrieval configures the retrieval metrics (see
	// retrieval.Settings; PerQuery is always on).
	Retrieval retrieval.Settings `json:"retrieval"`
	// PerSample also computes ‖∂L/∂x_i‖ for every row and loss
	// (Report.GradNorms).
	PerSample bool `json:"per_sample"`
	// Precision of the losses: "float64" (exact, pure-Go GEMMs), "float32"
	// (BLAS) or "" for float64 up to Float64MaxRows rows, the
	// rule of AuditLosses (`embfit audit --embeddings`).
	Precision string `json:"precision"`
	// LossesOnly restricts Run to the losses and the triplet categories at
	// the chosen margin (no sweeps, centers, retrieval or suspects); the
	// report's JSON and table then keep to those sections.
	LossesOnly bool `json:"losses_only,omitempty"`
	// Progress, when non-nil, is called with done = 0 as each stage
	// ("losses", "triplets", "temperature", "centers", "retrieval") starts,
	// then as it advances, with done and total in the stage's own units
	// (losses, rows, queries).
	Progress func(stage string, done, total int) `json:"-"`
}

// DefaultTemperatures is the default InfoNCE temperature sweep.
var DefaultTemperatures = []float64{0.01, 0.02, 0.05, 0.07, 0.1, 0.2, 0.5, 1}

// DefaultMargins is the default triplet anatomy sweep.
var DefaultMargins = []float64{0, 0.05, 0.1, 0.2, 0.3, 0.5, 1}

func (s Settings) withDefaults() (Settings, []losses.Loss, error) {
	if len(s.Losses) == 0 {
		s.Losses = losses.Names()
	}
	ls := make([]losses.Loss, len(s.Losses))
	for i, spec := range s.Losses {
		l, err := losses.Parse(spec)
		if err != nil {
			return s, nil, err // an input error for the setting loss
		}
		ls[i] = l
	}
	if s.Margins == nil {
		s.Margins = slices.Clone(DefaultMargins)
	}
	if s.Temperatures == nil {
		s.Temperatures = slices.Clone(DefaultTemperatures)
	}
	for _, t := range s.Temperatures {
		if !(t > 0) || math.IsInf(t, 0) {
			return s, nil, inputerr.Settingf("temperatures", "%v: must be positive", t)
		}
	}
	for _, m := range s.Margins {
		if math.IsNaN(m) || math.IsInf(m, 0) {
			return s, nil, inputerr.Settingf("margins", "%v: must be finite", m)
		}
	}
	if s.HistogramBins == 0 {
		s.HistogramBins = 128
	}
	if b := s.HistogramBins; b < 1 || b > retrieval.NumSimilarityBins || retrieval.NumSimilarityBins%b != 0 {
		return s, nil, inputerr.Settingf("histogram_bins", "%d: must be a power of two up to %d", b, retrieval.NumSimilarityBins)
	}
	if s.NoiseQuantile == 0 {
		s.NoiseQuantile = 0.9
	}
	if !(s.NoiseQuantile > 0 && s.NoiseQuantile <= 1) {
		return s, nil, inputerr.Settingf("noise_quantile", "%v: must be in (0, 1]", s.NoiseQuantile)
	}
	if s.MaxSuspects == 0 {
		s.MaxSuspects = 50
	}
	if s.MaxSuspects < 0 {
		return s, nil, inputerr.Settingf("max_suspects", "%d: must be ≥ 0", s.MaxSuspects)
	}
	switch s.Precision {
	case "", "float32", "float64":
	default:
		return s, nil, inputerr.Settingf("precision", "unknown precision %q (valid: float32, float64)", s.Precision)
	}
	s.Retrieval.PerQuery = true
	return s, ls, nil
}

// Validate reports the first bad setting of s (an *inputerr.Error naming
// it), so that a caller can check settings before embedding anything.
func (s Settings) Validate() error {
	_, _, err := s.withDefaults()
	return err
}

// Data is what Run audits: raw embeddings in one of two forms.
//
// Labelled form (Queries == 0): X is N×D, Labels[i] the class of row i.
// Pair form (Queries = Q > 0): X is 2Q×D, rows [0,Q) are anchors and rows
// [Q,2Q) their positives in the same order; Labels is nil. Losses then
// see query i and positive i as class i (package losses' convention) and
// retrieval searches the anchors against the distinct positives.
type Data struct {
	X       blas32.General
	Labels  []int
	Queries int
	// ClassNames[l] names label l (optional).
	ClassNames []string
	// Texts[i] is the text of row i (optional); used to list suspects and,
	// in the pair form, to merge identical positive texts into one corpus
	// item.
	Texts []string
}

func (d Data) validate() error {
	if d.Queries > 0 {
		if d.X.Rows != 2*d.Queries {
			return fmt.Errorf("pair form: %d rows for %d queries (want %d)", d.X.Rows, d.Queries, 2*d.Queries)
		}
		if d.Labels != nil {
			return fmt.Errorf("pair form takes no labels")
		}
	} else if len(d.Labels) != d.X.Rows {
		return fmt.Errorf("%d labels for %d rows", len(d.Labels), d.X.Rows)
	}
	if d.Texts != nil && len(d.Texts) != d.X.Rows {
		return fmt.Errorf("%d texts for %d rows", len(d.Texts), d.X.Rows)
	}
	for i := range d.X.Rows {
		for _, v := range linalg.Row(d.X, i) {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("row %d: non-finite value %v", i, v)
			}
		}
	}
	if d.X.Rows < 2 {
		return fmt.Errorf("need at least 2 rows, have %d", d.X.Rows)
	}
	return nil
}

// Float64MaxRows is the largest N for which Run computes the losses in
// float64 by default (its GEMMs are pure Go; above this it uses float32
// BLAS).
const Float64MaxRows = 4096

// LossValue is one loss evaluated on the whole set.
type LossValue struct {
	Spec   string         `json:"spec"`
	Name   string         `json:"name"`
	Params map[string]any `json:"params"`
	Value  float64        `json:"value"`
}

// TripletCounts are the valid triplets in each category at one margin
// (easy m > margin, semihard 0 < m ≤ margin, hard m ≤ 0, with
// m = D_an − D_ap), with the fractions of Total.
type TripletCounts struct {
	Margin       float64 `json:"margin"`
	Easy         int64   `json:"easy"`
	Semihard     int64   `json:"semihard"`
	Hard         int64   `json:"hard"`
	Total        int64   `json:"total"`
	EasyFrac     float64 `json:"easy_frac"`
	SemihardFrac float64 `json:"semihard_frac"`
	HardFrac     float64 `json:"hard_frac"`
}

// TripletAnatomy is the triplet categories across margins.
type TripletAnatomy struct {
	Distance  string          `json:"distance"`
	Normalize bool            `json:"normalize"`
	Margins   []TripletCounts `json:"margins"`
}

// Report is the result of Run. WriteJSON writes it: n, dim, precision,
// losses and triplets, then (unless Settings.LossesOnly) every other
// section.
type Report struct {
	// Model names what produced the embeddings (a file path), if known.
	Model string `json:"model,omitempty"`
	// Form is "labelled" or "pairs".
	Form string `json:"form"`
	N    int    `json:"n"`
	Dim  int    `json:"dim"`
	// Precision of the loss values: "float64" or "float32".
	Precision string `json:"precision"`
	// ZeroRows counts all-zero embeddings (e.g. texts made only of unknown
	// words); they score 0 against everything.
	ZeroRows int `json:"zero_rows"`
	// Classes is the number of distinct labels (labelled form).
	Classes int         `json:"classes,omitempty"`
	Losses  []LossValue `json:"losses"`
	// Triplets are the categories at the chosen margin.
	Triplets       TripletCounts   `json:"triplets"`
	TripletAnatomy TripletAnatomy  `json:"triplet_anatomy"`
	Temperature    []TemperaturePt `json:"temperature_sweep"`
	Centers        *CenterStats    `json:"centers,omitempty"`
	Similarity     SimilarityStats `json:"similarity"`
	Retrieval      RetrievalReport `json:"retrieval"`
	PerClass       []ClassReport   `json:"per_class,omitempty"`
	Suspects       []Suspect       `json:"suspects"`
	// ZeroRowSuspects counts the would-be suspects left out because one of
	// the two rows is an all-zero embedding: such a row ties with every
	// other at score 0, so its "outranking" says nothing about labels.
	ZeroRowSuspects int      `json:"zero_row_suspects"`
	Settings        Settings `json:"settings"`
	// Encoder describes how the rows were embedded (set by the caller,
	// e.g. the resolved pipelines of the model's query and corpus sides
	// with their prompts); nil for precomputed embeddings.
	Encoder any                `json:"encoder,omitempty"`
	Seconds map[string]float64 `json:"-"` // per stage, for the table (not in the JSON: outputs are deterministic)
	// PerQuery holds every query's retrieval metrics (not in the JSON
	// report; used for per-sample output).
	PerQuery []retrieval.QueryMetrics `json:"-"`
	// CorpusRows maps, in the pair form, the retrieval corpus index (as in
	// retrieval.Neighbour.Index) to the row of Data.X.
	CorpusRows []int `json:"-"`
	// GradNorms[k][i] is ‖∂L_k/∂x_i‖ for loss k, when Settings.PerSample.
	GradNorms [][]float64 `json:"-"`
}

// RetrievalReport is the overall retrieval metrics and how they were
// computed.
type RetrievalReport struct {
	retrieval.Metrics `json:"metrics"`
	// Corpus is the number of items searched per query (labelled: N−1;
	// pairs: distinct positives).
	Corpus int `json:"corpus"`
	// ROCAUCMaxError bounds the histogram approximation of ROC-AUC.
	ROCAUCMaxError float64 `json:"roc_auc_max_error"`
}

// MarshalJSON writes {"metrics": {...}, "corpus": .., "roc_auc_max_error": ..}
// (without it the embedded metrics' MarshalJSON would be promoted).
func (r RetrievalReport) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Metrics        retrieval.Metrics `json:"metrics"`
		Corpus         int               `json:"corpus"`
		ROCAUCMaxError *float64          `json:"roc_auc_max_error"`
	}{r.Metrics, r.Corpus, finite(r.ROCAUCMaxError)})
}

// ClassReport is one class's retrieval metrics and geometry.
type ClassReport struct {
	Label   int               `json:"label"`
	Name    string            `json:"name"`
	Size    int               `json:"size"`
	Metrics retrieval.Metrics `json:"metrics"`
	// Radius is the RMS distance of the class's rows to their mean.
	Radius float64 `json:"radius"`
	// Nearest is the label name of the nearest other class mean.
	Nearest string `json:"nearest_class"`
	// NearestDistance is the distance to that class mean.
	NearestDistance float64 `json:"nearest_distance"`
	// Separation = NearestDistance / Radius (0 when Radius is 0).
	Separation float64 `json:"separation"`
}

// Suspect is a pair that looks mislabelled: rows of different labels
// (labelled form), or an anchor and a corpus item that is not its positive
// (pair form), more similar than at least Settings.NoiseQuantile of the
// anchor's own positives (it is ranked above them).
type Suspect struct {
	// A is the anchor (query) row, B the other row.
	A     int     `json:"a"`
	B     int     `json:"b"`
	Score float32 `json:"score"`
	// Exceeds is the fraction of A's positives that B outranks.
	Exceeds float64 `json:"exceeds_anchor_positives"`
	// ExceedsAll is the fraction of all positive pairs of the set with a
	// lower similarity.
	ExceedsAll float64 `json:"exceeds_all_positives"`
	LabelA     string  `json:"label_a,omitempty"`
	LabelB     string  `json:"label_b,omitempty"`
	TextA      string  `json:"text_a,omitempty"`
	TextB      string  `json:"text_b,omitempty"`
	// Positive is, in the pair form, the text of A's true positive.
	Positive string `json:"positive,omitempty"`
}

// Run audits d with settings s. It stops with ctx's error when cancelled.
func Run(ctx context.Context, d Data, s Settings) (*Report, error) {
	s, ls, err := s.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if err := d.validate(); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	rep := &Report{Form: "labelled", N: d.X.Rows, Dim: d.X.Cols, Settings: s, Seconds: map[string]float64{}}
	if d.Queries > 0 {
		rep.Form = "pairs"
	}
	// stage reports the start of a stage of total units and returns its
	// progress callback and the function that records its duration.
	stage := func(name string, total int) (func(done int), func()) {
		tick := func(int) {}
		if s.Progress != nil {
			s.Progress(name, 0, total)
			tick = func(done int) { s.Progress(name, done, total) }
		}
		t0 := time.Now()
		return tick, func() { rep.Seconds[name] = time.Since(t0).Seconds() }
	}
	for i := range d.X.Rows {
		zero := true
		for _, v := range linalg.Row(d.X, i) {
			if v != 0 {
				zero = false
				break
			}
		}
		if zero {
			rep.ZeroRows++
		}
	}
	labels := d.Labels
	if d.Queries > 0 {
		labels = pairLabels(d.Queries)
	} else {
		seen := map[int]bool{}
		for _, l := range labels {
			seen[l] = true
		}
		rep.Classes = len(seen)
	}

	dist, norm, chosen := losses.Euclidean, true, 0.2
	for _, l := range ls {
		if t, ok := l.(*losses.Triplet); ok {
			dist, norm, chosen = t.Distance, t.Normalize, t.Margin
			break
		}
	}

	// Losses.
	tick, done := stage("losses", len(ls))
	if rep.Losses, rep.GradNorms, rep.Precision, err = evalLosses(ctx, d, s, ls, tick); err != nil {
		return nil, err
	}
	done()

	// Triplet anatomy.
	tick, done = stage("triplets", d.X.Rows)
	margins := slices.Clone(s.Margins)
	if s.LossesOnly {
		margins = []float64{chosen}
	} else if !slices.Contains(margins, chosen) {
		margins = append(margins, chosen)
		slices.Sort(margins)
	}
	rep.TripletAnatomy = TripletAnatomy{Distance: dist.String(), Normalize: norm}
	counts, err := losses.CountTriplets(ctx, d.X, labels, dist, norm, margins, tick)
	if err != nil {
		return nil, err
	}
	for _, c := range counts {
		rep.TripletAnatomy.Margins = append(rep.TripletAnatomy.Margins, tripletCounts(c))
	}
	for _, c := range rep.TripletAnatomy.Margins {
		if c.Margin == chosen {
			rep.Triplets = c
		}
	}
	done()
	if s.LossesOnly {
		return rep, nil
	}

	// InfoNCE temperature sweep.
	nAnchors := d.X.Rows
	if d.Queries > 0 {
		nAnchors = d.Queries
	}
	tick, done = stage("temperature", nAnchors)
	rep.Temperature, err = temperatureSweep(ctx, d, labels, s.Temperatures, tick)
	if err != nil {
		return nil, err
	}
	done()

	// Centers.
	if d.Queries == 0 {
		tick, done = stage("centers", 1)
		rep.Centers = centerStats(d.X, d.Labels)
		tick(1)
		done()
	}

	// Retrieval metrics and similarity distributions.
	tick, done = stage("retrieval", nAnchors)
	rs := s.Retrieval
	rs.Progress = func(q, _ int) {
		tick(q)
		if s.Retrieval.Progress != nil {
			s.Retrieval.Progress(q, nAnchors)
		}
	}
	var res *retrieval.Result
	var corpusRow []int // pair form: corpus index → row of X
	if d.Queries == 0 {
		res, err = retrieval.EvaluateLabelled(ctx, d.X, d.Labels, rs)
		rep.Retrieval.Corpus = d.X.Rows - 1
	} else {
		var corpus blas32.General
		var positives [][]int
		corpus, positives, corpusRow = pairCorpus(d)
		res, err = retrieval.EvaluatePairs(ctx, linalg.Slice(d.X, 0, d.Queries), corpus, positives, nil, rs)
		rep.Retrieval.Corpus = corpus.Rows
	}
	if err != nil {
		return nil, err
	}
	rep.Retrieval.Metrics = res.Metrics
	rep.Retrieval.ROCAUCMaxError = res.AUCMaxError
	rep.PerQuery = res.PerQuery
	rep.CorpusRows = corpusRow
	rep.Similarity = similarityStats(res.Hist, s.HistogramBins)
	if d.Queries == 0 {
		rep.PerClass = perClass(res.PerQuery, d.Labels, d.ClassNames, rep.Centers, res.Settings.RecallK)
	}
	rep.Suspects, rep.ZeroRowSuspects = suspects(d, res, corpusRow, s)
	done()
	return rep, nil
}

// evalLosses evaluates every loss on the whole set (and the per-row
// gradient norms when s.PerSample) at the precision s.Precision selects.
func evalLosses(ctx context.Context, d Data, s Settings, ls []losses.Loss, tick func(int)) ([]LossValue, [][]float64, string, error) {
	prec := s.Precision // validated by withDefaults
	if prec == "" {
		prec = "float64"
		if d.X.Rows > Float64MaxRows {
			prec = "float32"
		}
	}
	n, dim := d.X.Rows, d.X.Cols
	var x64 blas64.General
	if prec == "float64" {
		x64 = blas64.General{Rows: n, Cols: dim, Stride: dim, Data: make([]float64, n*dim)}
		for i := range n {
			for k, v := range linalg.Row(d.X, i) {
				x64.Data[i*dim+k] = float64(v)
			}
		}
	}
	var vals []LossValue
	var norms [][]float64
	for i, l := range ls {
		if err := ctx.Err(); err != nil {
			return nil, nil, "", err
		}
		var v float64
		if prec == "float64" {
			var g blas64.General
			if s.PerSample {
				g = blas64.General{Rows: n, Cols: dim, Stride: dim, Data: make([]float64, n*dim)}
			}
			v = l.(losses.Float64Loss).EvalFloat64(losses.Batch64{X: x64, Labels: d.Labels, Queries: d.Queries}, g)
			if s.PerSample {
				norms = append(norms, rowNorms(g.Data, n, dim))
			}
		} else {
			var g blas32.General
			if s.PerSample {
				g = linalg.NewMatrix(n, dim)
			}
			v = l.Eval(losses.Batch{X: d.X, Labels: d.Labels, Queries: d.Queries}, g)
			if s.PerSample {
				norms = append(norms, rowNorms(g.Data, n, dim))
			}
		}
		vals = append(vals, LossValue{Spec: s.Losses[i], Name: l.Name(), Params: l.Params(), Value: v})
		tick(i + 1)
	}
	return vals, norms, prec, nil
}

// rowNorms returns the L2 norm of every row of the rows×cols matrix held
// row-major in data.
func rowNorms[T rows.Float](data []T, nrows, cols int) []float64 {
	out := make([]float64, nrows)
	for i := range out {
		out[i] = rows.Norm(data[i*cols : (i+1)*cols])
	}
	return out
}

// pairLabels gives query i and positive i class i (package losses' pair
// convention).
func pairLabels(q int) []int {
	l := make([]int, 2*q)
	for i := range q {
		l[i], l[q+i] = i, i
	}
	return l
}

func tripletCounts(c losses.TripletCounts) TripletCounts {
	t := TripletCounts{Margin: c.Margin, Easy: c.Easy, Semihard: c.Semihard, Hard: c.Hard, Total: c.Total}
	if c.Total > 0 {
		n := float64(c.Total)
		t.EasyFrac, t.SemihardFrac, t.HardFrac = float64(c.Easy)/n, float64(c.Semihard)/n, float64(c.Hard)/n
	}
	return t
}

// pairCorpus builds the pair-form corpus: the positives rows, merged by
// identical text when texts are known. It returns the corpus, each query's
// positives (corpus indices) and the row of X of each corpus item.
func pairCorpus(d Data) (corpus blas32.General, positives [][]int, rows []int) {
	q := d.Queries
	positives = make([][]int, q)
	byText := map[string]int{}
	for i := range q {
		r := q + i
		if d.Texts != nil {
			if c, ok := byText[d.Texts[r]]; ok {
				positives[i] = []int{c}
				continue
			}
			byText[d.Texts[r]] = len(rows)
		}
		positives[i] = []int{len(rows)}
		rows = append(rows, r)
	}
	corpus = blas32.General{Rows: len(rows), Cols: d.X.Cols, Stride: d.X.Cols, Data: make([]float32, len(rows)*d.X.Cols)}
	for c, r := range rows {
		copy(corpus.Data[c*d.X.Cols:(c+1)*d.X.Cols], d.X.Data[r*d.X.Stride:r*d.X.Stride+d.X.Cols])
	}
	return corpus, positives, rows
}
