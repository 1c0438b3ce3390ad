package audit

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// ComparisonRow is one metric across several reports (e.g. a model before
// and after fine-tuning) on the same data.
type ComparisonRow struct {
	Metric string    `json:"metric"`
	Values []float64 `json:"values"`
	// Delta is Values[last] − Values[0].
	Delta float64 `json:"delta"`
	// Better is "higher", "lower" or "" (no preferred direction).
	Better string `json:"better,omitempty"`
}

// MarshalJSON writes r with NaN values (a metric missing from a report)
// as null.
func (r ComparisonRow) MarshalJSON() ([]byte, error) {
	vals := make([]*float64, len(r.Values))
	for i, v := range r.Values {
		vals[i] = finite(v)
	}
	return json.Marshal(struct {
		Metric string     `json:"metric"`
		Values []*float64 `json:"values"`
		Delta  *float64   `json:"delta"`
		Better string     `json:"better,omitempty"`
	}{r.Metric, vals, finite(r.Delta), r.Better})
}

// Compare lines up the metrics of reps (same data, different models) in
// one table: every loss (by spec), the triplet fractions at the chosen
// margin, InfoNCE loss and normalized entropy at each temperature, center
// statistics, similarity separation and the retrieval metrics. Losses are
// compared by their spec; a metric missing from a report is NaN.
func Compare(reps ...*Report) []ComparisonRow {
	var rows []ComparisonRow
	add := func(name, better string, f func(*Report) (float64, bool)) {
		r := ComparisonRow{Metric: name, Better: better, Values: make([]float64, len(reps))}
		any := false
		for i, rep := range reps {
			v, ok := f(rep)
			if !ok {
				v = math.NaN()
			} else {
				any = true
			}
			r.Values[i] = v
		}
		if !any {
			return
		}
		r.Delta = r.Values[len(reps)-1] - r.Values[0]
		rows = append(rows, r)
	}
	m := func(f func(*Report) float64) func(*Report) (float64, bool) {
		return func(r *Report) (float64, bool) { return f(r), true }
	}
	rm := func(r *Report) RetrievalReport { return r.Retrieval }
	add("precision@1", "higher", m(func(r *Report) float64 { return rm(r).PrecisionAt1 }))
	add("R-precision", "higher", m(func(r *Report) float64 { return rm(r).RPrecision }))
	add("MAP@R", "higher", m(func(r *Report) float64 { return rm(r).MAPAtR }))
	for _, k := range reps[0].Retrieval.Recall {
		add(fmt.Sprintf("recall@%d", k.K), "higher", m(func(r *Report) float64 { return rm(r).RecallAtK(k.K) }))
	}
	add("MRR@10", "higher", m(func(r *Report) float64 { return rm(r).MRRAt10 }))
	add("NDCG@10", "higher", m(func(r *Report) float64 { return rm(r).NDCGAt10 }))
	add("pair ROC-AUC", "higher", m(func(r *Report) float64 { return r.Similarity.ROCAUC }))
	add("similarity overlap", "lower", m(func(r *Report) float64 { return r.Similarity.Overlap }))
	add("best threshold accuracy", "higher", m(func(r *Report) float64 { return r.Similarity.Best.Accuracy }))
	add("best balanced accuracy", "higher", m(func(r *Report) float64 { return r.Similarity.BestBalanced.BalancedAccuracy }))
	add("mean positive similarity", "", m(func(r *Report) float64 { return r.Similarity.PositiveMean }))
	add("mean negative similarity", "", m(func(r *Report) float64 { return r.Similarity.NegativeMean }))
	for _, l := range reps[0].Losses {
		spec := l.Spec
		add("loss "+spec, "lower", func(r *Report) (float64, bool) {
			for _, x := range r.Losses {
				if x.Spec == spec {
					return x.Value, true
				}
			}
			return 0, false
		})
	}
	mg := reps[0].Triplets.Margin
	add(fmt.Sprintf("triplets easy @%g", mg), "higher", m(func(r *Report) float64 { return r.Triplets.EasyFrac }))
	add(fmt.Sprintf("triplets semihard @%g", mg), "", m(func(r *Report) float64 { return r.Triplets.SemihardFrac }))
	add(fmt.Sprintf("triplets hard @%g", mg), "lower", m(func(r *Report) float64 { return r.Triplets.HardFrac }))
	for ti, t := range reps[0].Temperature {
		tau := t.Temperature
		find := func(r *Report) (TemperaturePt, bool) {
			if ti < len(r.Temperature) && r.Temperature[ti].Temperature == tau {
				return r.Temperature[ti], true
			}
			return TemperaturePt{}, false
		}
		add(fmt.Sprintf("InfoNCE τ=%g", tau), "lower", func(r *Report) (float64, bool) {
			p, ok := find(r)
			return p.Loss, ok
		})
		add(fmt.Sprintf("negatives entropy (norm.) τ=%g", tau), "", func(r *Report) (float64, bool) {
			p, ok := find(r)
			return p.NormalizedEntropy, ok
		})
	}
	cs := func(f func(*CenterStats) float64) func(*Report) (float64, bool) {
		return func(r *Report) (float64, bool) {
			if r.Centers == nil {
				return 0, false
			}
			return f(r.Centers), true
		}
	}
	add("between/within class distance", "higher", cs(func(c *CenterStats) float64 { return c.Ratio }))
	add("scatter ratio tr(S_B)/tr(S_W)", "higher", cs(func(c *CenterStats) float64 { return c.ScatterRatio }))
	return rows
}

// FormatComparison renders rows as a plain-text table with one column per
// model (names) and a delta column.
func FormatComparison(rows []ComparisonRow, names []string) string {
	var b strings.Builder
	w := len("metric")
	for _, r := range rows {
		w = max(w, len([]rune(r.Metric)))
	}
	fmt.Fprintf(&b, "%-*s", w, "metric")
	for _, n := range names {
		fmt.Fprintf(&b, "  %12s", shorten(n, 12))
	}
	fmt.Fprintf(&b, "  %10s\n", "delta")
	for _, r := range rows {
		fmt.Fprintf(&b, "%s%s", r.Metric, strings.Repeat(" ", w-len([]rune(r.Metric))))
		for _, v := range r.Values {
			fmt.Fprintf(&b, "  %12.4f", v)
		}
		mark := ""
		if (r.Better == "higher" && r.Delta > 0) || (r.Better == "lower" && r.Delta < 0) {
			mark = " +"
		} else if (r.Better == "higher" && r.Delta < 0) || (r.Better == "lower" && r.Delta > 0) {
			mark = " -"
		}
		fmt.Fprintf(&b, "  %+10.4f%s\n", r.Delta, mark)
	}
	return b.String()
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return "…" + string(r[len(r)-n+1:])
}
