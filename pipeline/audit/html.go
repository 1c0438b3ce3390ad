package audit

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

// chart is one inline SVG figure of the HTML report.
type chart struct {
	Kind    string
	ID      string
	Caption string
	SVG     template.HTML
}

type htmlReport struct {
	*Report
	Index    int
	Label    string
	Charts   []chart
	PerClass []ClassReport
	More     int
}

type htmlPage struct {
	Title      string
	Reports    []htmlReport
	Names      []string
	Comparison []ComparisonRow
	Shared     []chart
}

// MaxHTMLClasses caps the per-class table and chart of the HTML report
// (worst classes first); the JSON report has every class.
const MaxHTMLClasses = 60

// WriteHTML writes one self-contained HTML page (inline CSS and SVG, no
// scripts, no external resources) for one or more reports of the same data:
// a comparison table when there are several, then per report the losses,
// retrieval metrics, similarity distributions, triplet anatomy,
// temperature sweep, center statistics, per-class metrics and suspects,
// with the charts listed in ChartKinds (each a <figure data-chart=KIND>).
func WriteHTML(w io.Writer, title string, reps ...*Report) error {
	if len(reps) == 0 {
		return fmt.Errorf("audit: no report to render")
	}
	page := htmlPage{Title: title}
	for i, r := range reps {
		page.Names = append(page.Names, modelLabel(r, i))
	}
	if len(reps) > 1 {
		page.Comparison = Compare(reps...)
	}
	render := func(kind, id, caption string, p *plot.Plot, w, h vg.Length) (chart, error) {
		svg, err := svgOf(p, w, h)
		if err != nil {
			return chart{}, fmt.Errorf("audit: chart %s: %w", id, err)
		}
		return chart{Kind: kind, ID: id, Caption: caption, SVG: template.HTML(svg)}, nil
	}
	// Charts shared by all reports (one line per model).
	tl, err := temperatureChart(reps, "InfoNCE loss vs temperature", "InfoNCE loss", true, func(t TemperaturePt) float64 { return t.Loss })
	if err != nil {
		return err
	}
	te, err := temperatureChart(reps, "Entropy of the softmax over negatives vs temperature", "entropy / log(#negatives)", false,
		func(t TemperaturePt) float64 { return t.NormalizedEntropy })
	if err != nil {
		return err
	}
	for _, c := range []struct {
		kind, caption string
		p             *plot.Plot
	}{
		{ChartTemperatureLoss, "InfoNCE over the whole set at each temperature.", tl},
		{ChartTemperatureEntropy, "Mean normalized entropy of each anchor's softmax over its negatives: near 0 the loss looks only at the hardest negative (low τ), near 1 at all negatives equally (high τ).", te},
	} {
		ch, err := render(c.kind, c.kind, c.caption, c.p, 5.5*vg.Inch, 3.2*vg.Inch)
		if err != nil {
			return err
		}
		page.Shared = append(page.Shared, ch)
	}
	if reps[0].Form == "labelled" && len(reps[0].PerClass) > 0 {
		p, n, err := perClassChart(reps, MaxHTMLClasses)
		if err != nil {
			return err
		}
		ch, err := render(ChartPerClass, ChartPerClass, fmt.Sprintf("MAP@R of the %d worst classes (of %d), worst at the top.", n, len(reps[0].PerClass)),
			p, 6.5*vg.Inch, vg.Length(90+(6+12*len(reps))*n)*vg.Points(1))
		if err != nil {
			return err
		}
		page.Shared = append(page.Shared, ch)
	}
	for i, r := range reps {
		hr := htmlReport{Report: r, Index: i + 1, Label: modelLabel(r, i), PerClass: r.PerClass}
		if len(hr.PerClass) > MaxHTMLClasses {
			hr.More = len(hr.PerClass) - MaxHTMLClasses
			hr.PerClass = hr.PerClass[:MaxHTMLClasses]
		}
		sp, err := similarityChart(r)
		if err != nil {
			return err
		}
		ch, err := render(ChartSimilarity, fmt.Sprintf("%s-%d", ChartSimilarity, i+1),
			"Similarity distributions of positive and negative pairs (each normalized to 1).", sp, 5.5*vg.Inch, 3.2*vg.Inch)
		if err != nil {
			return err
		}
		hr.Charts = append(hr.Charts, ch)
		tp, err := tripletChart(r)
		if err != nil {
			return err
		}
		ch, err = render(ChartTripletCategories, fmt.Sprintf("%s-%d", ChartTripletCategories, i+1),
			"Fractions of easy / semihard / hard valid triplets as the margin grows (m = D_an − D_ap).", tp, 5.5*vg.Inch, 3.2*vg.Inch)
		if err != nil {
			return err
		}
		hr.Charts = append(hr.Charts, ch)
		page.Reports = append(page.Reports, hr)
	}
	return htmlTemplate.Execute(w, page)
}

var htmlTemplate = template.Must(template.New("audit").Funcs(template.FuncMap{
	"f": func(v float64) string {
		if math.IsNaN(v) {
			return "–"
		}
		return strconv.FormatFloat(v, 'f', 4, 64)
	},
	"f32": func(v float32) string { return strconv.FormatFloat(float64(v), 'f', 4, 64) },
	"pct": func(v float64) string {
		if math.IsNaN(v) {
			return "–"
		}
		return strconv.FormatFloat(100*v, 'f', 1, 64) + "%"
	},
	"delta": func(r ComparisonRow) template.HTML {
		cls := ""
		if (r.Better == "higher" && r.Delta > 0) || (r.Better == "lower" && r.Delta < 0) {
			cls = "good"
		} else if (r.Better == "higher" && r.Delta < 0) || (r.Better == "lower" && r.Delta > 0) {
			cls = "bad"
		}
		return template.HTML(fmt.Sprintf(`<td class="num %s">%+.4f</td>`, cls, r.Delta))
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:2px solid #ccc;padding-bottom:.2em;margin-top:2em}h3{margin-top:1.5em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.good{color:#1a7f37;font-weight:600}td.bad{color:#b42318;font-weight:600}
figure{margin:1em 0;display:inline-block}figcaption{font-size:.85em;color:#555;max-width:40em}
svg{max-width:100%;height:auto}.note{color:#555;font-size:.9em}
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="note">Models: {{range $i, $n := .Names}}{{if $i}}, {{end}}<b>{{$n}}</b>{{end}}.
{{with index .Reports 0}}{{.Form}} data, N = {{.N}} rows{{if .Classes}}, {{.Classes}} classes{{end}}, dimension {{.Dim}}.{{end}}</p>
{{if .Comparison}}
<h2 id="comparison">Comparison</h2>
<table>
<tr><th>metric</th>{{range .Names}}<th>{{.}}</th>{{end}}<th>delta (last − first)</th></tr>
{{range .Comparison}}<tr><td>{{.Metric}}</td>{{range .Values}}<td class="num">{{f .}}</td>{{end}}{{delta .}}</tr>
{{end}}</table>
{{end}}
<h2 id="shared-charts">Temperature and per-class charts</h2>
{{range .Shared}}<figure id="{{.ID}}" data-chart="{{.Kind}}">{{.SVG}}<figcaption>{{.Caption}}</figcaption></figure>
{{end}}
{{range .Reports}}
<h2 id="model-{{.Index}}">{{.Label}}</h2>
{{if .ZeroRows}}<p class="note"><b>{{.ZeroRows}} all-zero embeddings</b> (e.g. texts made only of unknown words): they score 0 against everything{{if .ZeroRowSuspects}}; {{.ZeroRowSuspects}} pairs with one are left out of the suspects{{end}}.</p>{{end}}
<h3>Losses (whole set)</h3>
<table><tr><th>spec</th><th>value</th></tr>
{{range .Losses}}<tr><td>{{.Spec}}</td><td class="num">{{f .Value}}</td></tr>{{end}}
</table>
<h3>Retrieval</h3>
<p class="note">Each {{if eq .Form "labelled"}}item queries the other {{.Retrieval.Corpus}} (relevant = same label){{else}}anchor searches {{.Retrieval.Corpus}} distinct positives{{end}}; {{.Retrieval.Queries}} queries, {{.Retrieval.Skipped}} skipped (nothing relevant).</p>
<table><tr><th>precision@1</th><th>R-precision</th><th>MAP@R</th>{{range .Retrieval.Recall}}<th>recall@{{.K}}</th>{{end}}<th>MRR@10</th><th>NDCG@10</th><th>ROC-AUC</th></tr>
<tr><td class="num">{{f .Retrieval.PrecisionAt1}}</td><td class="num">{{f .Retrieval.RPrecision}}</td><td class="num">{{f .Retrieval.MAPAtR}}</td>{{range .Retrieval.Recall}}<td class="num">{{f .Recall}}</td>{{end}}<td class="num">{{f .Retrieval.MRRAt10}}</td><td class="num">{{f .Retrieval.NDCGAt10}}</td><td class="num">{{f .Retrieval.ROCAUC}}</td></tr></table>
<h3>Similarity distributions</h3>
<table><tr><th></th><th>pairs</th><th>mean</th><th>5%</th><th>25%</th><th>50%</th><th>75%</th><th>95%</th></tr>
<tr><td>positive</td><td class="num">{{.Similarity.PositivePairs}}</td><td class="num">{{f .Similarity.PositiveMean}}</td>{{range .Similarity.PositiveQuantiles}}<td class="num">{{f .}}</td>{{end}}</tr>
<tr><td>negative</td><td class="num">{{.Similarity.NegativePairs}}</td><td class="num">{{f .Similarity.NegativeMean}}</td>{{range .Similarity.NegativeQuantiles}}<td class="num">{{f .}}</td>{{end}}</tr></table>
<table><tr><th>overlap</th><th>ROC-AUC</th><th>best threshold</th><th>accuracy</th><th>best balanced threshold</th><th>balanced accuracy</th></tr>
<tr><td class="num">{{f .Similarity.Overlap}}</td><td class="num">{{f .Similarity.ROCAUC}}</td><td class="num">{{f .Similarity.Best.Threshold}}</td><td class="num">{{pct .Similarity.Best.Accuracy}}</td><td class="num">{{f .Similarity.BestBalanced.Threshold}}</td><td class="num">{{pct .Similarity.BestBalanced.BalancedAccuracy}}</td></tr></table>
{{range .Charts}}<figure id="{{.ID}}" data-chart="{{.Kind}}">{{.SVG}}<figcaption>{{.Caption}}</figcaption></figure>
{{end}}
<h3>Triplet anatomy ({{.TripletAnatomy.Distance}} distance{{if .TripletAnatomy.Normalize}}, normalized rows{{end}})</h3>
<table><tr><th>margin</th><th>easy</th><th>semihard</th><th>hard</th><th>total</th></tr>
{{range .TripletAnatomy.Margins}}<tr><td class="num">{{.Margin}}</td><td class="num">{{pct .EasyFrac}}</td><td class="num">{{pct .SemihardFrac}}</td><td class="num">{{pct .HardFrac}}</td><td class="num">{{.Total}}</td></tr>{{end}}
</table>
<h3>InfoNCE temperature sweep</h3>
<table><tr><th>τ</th><th>loss</th><th>entropy (nats)</th><th>normalized entropy</th><th>effective negatives</th><th>weight of hardest negative</th></tr>
{{range .Temperature}}<tr><td class="num">{{.Temperature}}</td><td class="num">{{f .Loss}}</td><td class="num">{{f .Entropy}}</td><td class="num">{{f .NormalizedEntropy}}</td><td class="num">{{f .EffectiveNegatives}}</td><td class="num">{{f .MaxWeight}}</td></tr>{{end}}
</table>
{{with .Centers}}<h3>Class centers</h3>
<table><tr><th>center loss (class means)</th><th>within-class RMS</th><th>mean between-center distance</th><th>between / within</th><th>tr(S_B)/tr(S_W)</th></tr>
<tr><td class="num">{{f .Loss}}</td><td class="num">{{f .WithinRMS}}</td><td class="num">{{f .BetweenMean}}</td><td class="num">{{f .Ratio}}</td><td class="num">{{f .ScatterRatio}}</td></tr></table>{{end}}
{{if .PerClass}}<h3>Per class (worst MAP@R first)</h3>
<table><tr><th>class</th><th>size</th><th>precision@1</th><th>R-precision</th><th>MAP@R</th><th>radius</th><th>nearest class</th><th>separation</th></tr>
{{range .PerClass}}<tr><td>{{.Name}}</td><td class="num">{{.Size}}</td><td class="num">{{f .Metrics.PrecisionAt1}}</td><td class="num">{{f .Metrics.RPrecision}}</td><td class="num">{{f .Metrics.MAPAtR}}</td><td class="num">{{f .Radius}}</td><td>{{.Nearest}}</td><td class="num">{{f .Separation}}</td></tr>
{{end}}</table>{{if .More}}<p class="note">{{.More}} more classes in the JSON report.</p>{{end}}{{end}}
<h3>{{if eq .Form "labelled"}}Suspected label noise{{else}}Suspected false negatives{{end}}</h3>
<p class="note">{{if eq .Form "labelled"}}Different-label pairs{{else}}Anchors and corpus items that are not their positive{{end}} ranked above at least {{pct .Settings.NoiseQuantile}} of the anchor's own positives (at most {{.Settings.MaxSuspects}}; "all positives" = share of all positive pairs less similar).</p>
{{if .Suspects}}<table><tr><th>similarity</th><th>outranks anchor's positives</th><th>above all positives</th><th>row</th>{{if eq .Form "labelled"}}<th>label</th>{{end}}<th>text</th><th>row</th>{{if eq .Form "labelled"}}<th>label</th>{{end}}<th>text</th>{{if ne .Form "labelled"}}<th>true positive</th>{{end}}</tr>
{{range .Suspects}}<tr><td class="num">{{f32 .Score}}</td><td class="num">{{pct .Exceeds}}</td><td class="num">{{pct .ExceedsAll}}</td><td class="num">{{.A}}</td>{{if .LabelA}}<td>{{.LabelA}}</td>{{end}}<td>{{.TextA}}</td><td class="num">{{.B}}</td>{{if .LabelB}}<td>{{.LabelB}}</td>{{end}}<td>{{.TextB}}</td>{{if .Positive}}<td>{{.Positive}}</td>{{end}}</tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}
{{end}}
</body>
</html>
`))
