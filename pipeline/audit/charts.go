package audit

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Chart kinds, as found in the HTML report's data-chart attributes.
const (
	ChartSimilarity         = "similarity-histogram"
	ChartTemperatureLoss    = "temperature-loss"
	ChartTemperatureEntropy = "temperature-entropy"
	ChartTripletCategories  = "triplet-categories"
	ChartPerClass           = "per-class-map-at-r"
)

// ChartKinds lists every chart kind WriteHTML draws for a labelled report
// (a pair-form report has no per-class chart).
var ChartKinds = []string{ChartSimilarity, ChartTemperatureLoss, ChartTemperatureEntropy, ChartTripletCategories, ChartPerClass}

// svgOf renders p as an SVG element (no XML prolog) of w×h points.
func svgOf(p *plot.Plot, w, h vg.Length) (string, error) {
	wt, err := p.WriterTo(w, h, "svg")
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return "", err
	}
	s := b.String()
	if i := strings.Index(s, "<svg"); i >= 0 {
		s = s[i:]
	}
	return s, nil
}

func modelLabel(r *Report, i int) string {
	if r.Model != "" {
		return r.Model
	}
	return "embeddings " + strconv.Itoa(i+1)
}

// similarityChart draws the positive and negative similarity densities
// (fraction of pairs per bin) of one report.
func similarityChart(r *Report) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Cosine similarity: positive vs negative pairs"
	p.X.Label.Text = "cosine similarity"
	p.Y.Label.Text = "fraction of pairs per bin"
	h := r.Similarity.Histogram
	lo, hi := len(h.Positive), -1
	for b := range h.Positive {
		if h.Positive[b]+h.Negative[b] > 0 {
			lo, hi = min(lo, b), max(hi, b)
		}
	}
	if hi < 0 {
		lo, hi = 0, len(h.Positive)-1
	}
	ymax := 0.0
	for k, series := range []struct {
		name   string
		counts []uint64
		total  uint64
	}{{"positive (same label)", h.Positive, r.Similarity.PositivePairs}, {"negative", h.Negative, r.Similarity.NegativePairs}} {
		if series.total == 0 {
			continue
		}
		pts := make(plotter.XYs, 0, 2*(hi-lo+1))
		for b := lo; b <= hi; b++ {
			f := float64(series.counts[b]) / float64(series.total)
			ymax = math.Max(ymax, f)
			pts = append(pts, plotter.XY{X: h.Edges[b], Y: f}, plotter.XY{X: h.Edges[b+1], Y: f})
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		l.Color = plotutil.Color(k)
		l.Width = vg.Points(1.5)
		l.FillColor = withAlpha(plotutil.Color(k), 60)
		p.Add(l)
		p.Legend.Add(series.name, l)
	}
	if t := r.Similarity.BestBalanced.Threshold; !math.IsNaN(t) && !math.IsInf(t, 0) {
		v, err := plotter.NewLine(plotter.XYs{{X: t, Y: 0}, {X: t, Y: ymax}})
		if err != nil {
			return nil, err
		}
		v.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		v.Color = color.Gray{Y: 80}
		p.Add(v)
		p.Legend.Add(fmt.Sprintf("best balanced threshold %.3f", t), v)
	}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return p, nil
}

func withAlpha(c color.Color, a uint8) color.Color {
	r, g, b, _ := c.RGBA()
	return color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: a}
}

// temperatureChart draws one TemperaturePt field against τ (log scale)
// for every report.
func temperatureChart(reps []*Report, title, ylabel string, legendTop bool, field func(TemperaturePt) float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "temperature τ (log scale)"
	p.Y.Label.Text = ylabel
	p.X.Scale = plot.LogScale{}
	var ticks plot.ConstantTicks
	for i, r := range reps {
		pts := plotter.XYs{}
		for _, t := range r.Temperature {
			if v := field(t); !math.IsNaN(v) && !math.IsInf(v, 0) {
				pts = append(pts, plotter.XY{X: t.Temperature, Y: v})
			}
			if i == 0 {
				ticks = append(ticks, plot.Tick{Value: t.Temperature, Label: strconv.FormatFloat(t.Temperature, 'g', -1, 64)})
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, s, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, err
		}
		l.Color, s.Color = plotutil.Color(i), plotutil.Color(i)
		s.Shape = plotutil.Shape(i)
		p.Add(l, s)
		p.Legend.Add(modelLabel(r, i), l, s)
	}
	p.X.Tick.Marker = ticks
	p.Add(plotter.NewGrid())
	p.Legend.Top = legendTop
	return p, nil
}

// tripletChart draws, per margin, stacked bars of the easy / semihard /
// hard fractions of one report.
func tripletChart(r *Report) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Triplet categories vs margin (%s distance)", r.TripletAnatomy.Distance)
	p.Y.Label.Text = "fraction of valid triplets"
	p.X.Label.Text = "margin"
	ms := r.TripletAnatomy.Margins
	names := make([]string, len(ms))
	hard, semi, easy := make(plotter.Values, len(ms)), make(plotter.Values, len(ms)), make(plotter.Values, len(ms))
	for i, m := range ms {
		names[i] = strconv.FormatFloat(m.Margin, 'g', 4, 64)
		hard[i], semi[i], easy[i] = m.HardFrac, m.SemihardFrac, m.EasyFrac
	}
	w := vg.Points(22)
	var below *plotter.BarChart
	for k, s := range []struct {
		name string
		v    plotter.Values
		c    color.Color
	}{
		{"hard (m ≤ 0)", hard, color.NRGBA{R: 200, G: 50, B: 50, A: 255}},
		{"semihard (0 < m ≤ margin)", semi, color.NRGBA{R: 230, G: 170, B: 40, A: 255}},
		{"easy (m > margin)", easy, color.NRGBA{R: 70, G: 150, B: 80, A: 255}},
	} {
		b, err := plotter.NewBarChart(s.v, w)
		if err != nil {
			return nil, err
		}
		b.Color = s.c
		b.LineStyle.Width = 0
		if k > 0 {
			b.StackOn(below)
		}
		below = b
		p.Add(b)
		p.Legend.Add(s.name, b)
	}
	p.NominalX(names...)
	p.Y.Max = 1.4 // room for the legend
	p.Legend.Top = true
	return p, nil
}

// perClassChart draws horizontal MAP@R bars per class (the first
// report's order, worst first at the top) for every report.
func perClassChart(reps []*Report, maxClasses int) (*plot.Plot, int, error) {
	first := reps[0].PerClass
	n := min(len(first), maxClasses)
	p := plot.New()
	p.Title.Text = "MAP@R per class (worst first)"
	p.X.Label.Text = "MAP@R"
	names := make([]string, n)
	for i := range n {
		// bars are drawn bottom-up; put the worst class at the top
		names[n-1-i] = first[i].Name
	}
	w := vg.Points(float64(18) / float64(len(reps)))
	for ri, r := range reps {
		byLabel := map[int]float64{}
		for _, c := range r.PerClass {
			byLabel[c.Label] = c.Metrics.MAPAtR
		}
		vals := make(plotter.Values, n)
		for i := range n {
			vals[n-1-i] = byLabel[first[i].Label]
		}
		b, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return nil, 0, err
		}
		b.Horizontal = true
		b.Color = plotutil.Color(ri)
		b.LineStyle.Width = 0
		b.Offset = w * vg.Length(float64(ri)-float64(len(reps)-1)/2)
		p.Add(b)
		p.Legend.Add(modelLabel(r, ri), b)
	}
	p.NominalY(names...)
	p.X.Min = 0
	p.Legend.Top = true
	p.Legend.Left = false
	p.Add(plotter.NewGrid())
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	p.Y.Tick.Label.Font.Size = vg.Points(8)
	return p, n, nil
}
