package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// WriteJSON writes one report, or several reports of the same data, as
// indented JSON with a trailing newline: the first report's fields at the
// top level, then, when models are compared, the other reports under
// "compared" and the metric-by-metric "comparison". A losses-only report
// (Settings.LossesOnly) has just n, dim, precision, losses and triplets
// (margin, easy, semihard, hard, total).
func WriteJSON(w io.Writer, reps ...*Report) error {
	var v any
	switch {
	case len(reps) == 0:
		return fmt.Errorf("audit: no report to write")
	case reps[0].Settings.LossesOnly:
		t := reps[0].Triplets
		v = lossesOnlyJSON{N: reps[0].N, Dim: reps[0].Dim, Precision: reps[0].Precision, Losses: reps[0].Losses,
			Triplets: tripletTotals{Margin: t.Margin, Easy: t.Easy, Semihard: t.Semihard, Hard: t.Hard, Total: t.Total}}
	default:
		r := reportJSON{Report: reps[0]}
		if len(reps) > 1 {
			r.Compared, r.Comparison = reps[1:], Compare(reps...)
		}
		v = r
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// reportJSON is the JSON of compared reports.
type reportJSON struct {
	*Report
	Compared   []*Report       `json:"compared,omitempty"`
	Comparison []ComparisonRow `json:"comparison,omitempty"`
}

// lossesOnlyJSON is the JSON of a losses-only report.
type lossesOnlyJSON struct {
	N         int           `json:"n"`
	Dim       int           `json:"dim"`
	Precision string        `json:"precision"`
	Losses    []LossValue   `json:"losses"`
	Triplets  tripletTotals `json:"triplets"`
}

type tripletTotals struct {
	Margin   float64 `json:"margin"`
	Easy     int64   `json:"easy"`
	Semihard int64   `json:"semihard"`
	Hard     int64   `json:"hard"`
	Total    int64   `json:"total"`
}

// writeLossesTable writes the summary of a losses-only report.
func writeLossesTable(w io.Writer, r *Report) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "rows %d, dim %d, precision %s\n\n", r.N, r.Dim, r.Precision)
	width := len("loss")
	for _, l := range r.Losses {
		width = max(width, len(l.Spec))
	}
	fmt.Fprintf(&b, "%-*s  %s\n", width, "loss", "value")
	for _, l := range r.Losses {
		fmt.Fprintf(&b, "%-*s  %.10g\n", width, l.Spec, l.Value)
	}
	t := r.Triplets
	pct := func(k int64) float64 {
		if t.Total == 0 {
			return 0
		}
		return 100 * float64(k) / float64(t.Total)
	}
	fmt.Fprintf(&b, "\ntriplets (%s, margin %g): %d total\n", r.TripletAnatomy.Distance, t.Margin, t.Total)
	fmt.Fprintf(&b, "  easy      %12d  %5.1f%%\n", t.Easy, pct(t.Easy))
	fmt.Fprintf(&b, "  semihard  %12d  %5.1f%%\n", t.Semihard, pct(t.Semihard))
	fmt.Fprintf(&b, "  hard      %12d  %5.1f%%\n", t.Hard, pct(t.Hard))
	_, err := w.Write(b.Bytes())
	return err
}
