package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/embfit/embfit/internal/atomicfile"
	"github.com/embfit/embfit/losses"
)

// LossAuditSettings configures AuditLosses. The zero value means: all five
// losses with their defaults, triplet statistics at margin 0.2, no
// per-sample gradients, automatic precision.
type LossAuditSettings struct {
	// Specs are loss specs (losses.Parse); empty means losses.Names() with defaults.
	Specs []string
	// TripletMargin is the margin of the triplet statistics (default 0.2).
	TripletMargin float64
	// PerSample also computes ‖∂L/∂x_i‖ for every row and loss.
	PerSample bool
	// Precision selects the exact float64 path ("float64", pure-Go GEMMs),
	// the float32 BLAS path ("float32"), or "" for float64 up to
	// Float64MaxRows rows and float32 above.
	Precision string
}

// Float64MaxRows is the largest N for which AuditLosses uses the float64
// path by default (its GEMMs are pure Go; above this it uses float32 BLAS).
const Float64MaxRows = 4096

// LossValue is one loss of an audit.
type LossValue struct {
	Spec   string         `json:"spec"`
	Name   string         `json:"name"`
	Params map[string]any `json:"params"`
	Value  float64        `json:"value"`
}

// TripletSummary counts the valid triplets of the audited set by
// category (Euclidean distance of normalized rows).
type TripletSummary struct {
	Margin   float64 `json:"margin"`
	Easy     int64   `json:"easy"`
	Semihard int64   `json:"semihard"`
	Hard     int64   `json:"hard"`
	Total    int64   `json:"total"`
}

// LossAudit is the result of AuditLosses; its JSON form is the audit file
// schema of `embfit audit --json`.
type LossAudit struct {
	N         int            `json:"n"`
	Dim       int            `json:"dim"`
	Precision string         `json:"precision"`
	Losses    []LossValue    `json:"losses"`
	Triplets  TripletSummary `json:"triplets"`
	// GradNorms[k][i] is ‖∂L_k/∂x_i‖ for loss k (same order as Losses);
	// nil unless PerSample was set.
	GradNorms [][]float64 `json:"-"`
}

// AuditLosses evaluates every loss of s on the rows of x (N×D) with the
// given labels (class ids, len N) and counts triplet categories. A bad
// spec or setting is an error; ctx is checked between losses.
func AuditLosses(ctx context.Context, x blas32.General, labels []int, s LossAuditSettings) (*LossAudit, error) {
	if len(labels) != x.Rows {
		return nil, fmt.Errorf("%d embedding rows but %d labels", x.Rows, len(labels))
	}
	specs := s.Specs
	if len(specs) == 0 {
		specs = losses.Names()
	}
	margin := s.TripletMargin
	if margin == 0 {
		margin = 0.2
	}
	prec := s.Precision
	switch prec {
	case "":
		prec = "float64"
		if x.Rows > Float64MaxRows {
			prec = "float32"
		}
	case "float32", "float64":
	default:
		return nil, fmt.Errorf("unknown precision %q (valid: float32, float64)", prec)
	}
	ls := make([]losses.Loss, len(specs))
	for i, sp := range specs {
		l, err := losses.Parse(sp)
		if err != nil {
			return nil, err
		}
		ls[i] = l
	}
	res := &LossAudit{N: x.Rows, Dim: x.Cols, Precision: prec}
	var x64 blas64.General
	if prec == "float64" {
		x64 = blas64.General{Rows: x.Rows, Cols: x.Cols, Stride: x.Cols, Data: make([]float64, x.Rows*x.Cols)}
		for i := range x.Rows {
			for k := range x.Cols {
				x64.Data[i*x.Cols+k] = float64(x.Data[i*x.Stride+k])
			}
		}
	}
	for _, l := range ls {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var v float64
		var norms []float64
		if prec == "float64" {
			var g blas64.General
			if s.PerSample {
				g = blas64.General{Rows: x.Rows, Cols: x.Cols, Stride: x.Cols, Data: make([]float64, x.Rows*x.Cols)}
			}
			v = l.(losses.Float64Loss).EvalFloat64(losses.Batch64{X: x64, Labels: labels}, g)
			if s.PerSample {
				norms = rowNorms(g.Data, x.Rows, x.Cols, func(v float64) float64 { return v })
			}
		} else {
			var g blas32.General
			if s.PerSample {
				g = blas32.General{Rows: x.Rows, Cols: x.Cols, Stride: x.Cols, Data: make([]float32, x.Rows*x.Cols)}
			}
			v = l.Eval(losses.Batch{X: x, Labels: labels}, g)
			if s.PerSample {
				norms = rowNorms(g.Data, x.Rows, x.Cols, func(v float32) float64 { return float64(v) })
			}
		}
		res.Losses = append(res.Losses, LossValue{Spec: specs[len(res.Losses)], Name: l.Name(), Params: l.Params(), Value: v})
		if s.PerSample {
			res.GradNorms = append(res.GradNorms, norms)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := losses.TripletStats(x, labels, losses.Euclidean, margin, true)
	res.Triplets = TripletSummary{Margin: margin, Easy: c.Easy, Semihard: c.Semihard, Hard: c.Hard, Total: c.Total}
	return res, nil
}

func rowNorms[T float32 | float64](g []T, n, d int, f func(T) float64) []float64 {
	out := make([]float64, n)
	for i := range n {
		var ss float64
		for _, v := range g[i*d : (i+1)*d] {
			ss += f(v) * f(v)
		}
		out[i] = math.Sqrt(ss)
	}
	return out
}

// WriteJSON writes a's JSON form (indented, one trailing newline) to w.
func (a *LossAudit) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WritePerSample writes one JSON line per row to path (atomically):
// {"row":i,"label":NAME,"grad_norm":{"SPEC":‖∂L/∂x_i‖,...}} with the specs
// in audit order. names[i] is row i's label text.
func (a *LossAudit) WritePerSample(path string, names []string) error {
	f, err := atomicfile.Create(path, false)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := a.WritePerSampleTo(f, names); err != nil {
		return err
	}
	return f.Commit()
}

// WritePerSampleTo writes the lines of WritePerSample to w.
func (a *LossAudit) WritePerSampleTo(f io.Writer, names []string) error {
	if a.GradNorms == nil {
		return fmt.Errorf("per-sample gradients were not computed")
	}
	var buf bytes.Buffer
	for i := range a.N {
		buf.Reset()
		buf.WriteString(`{"row":`)
		buf.WriteString(strconv.Itoa(i))
		buf.WriteString(`,"label":`)
		lb, _ := json.Marshal(names[i])
		buf.Write(lb)
		buf.WriteString(`,"grad_norm":{`)
		for k, lv := range a.Losses {
			if k > 0 {
				buf.WriteByte(',')
			}
			sb, _ := json.Marshal(lv.Spec)
			buf.Write(sb)
			buf.WriteByte(':')
			buf.WriteString(strconv.FormatFloat(a.GradNorms[k][i], 'g', -1, 64))
		}
		buf.WriteString("}}\n")
		if _, err := f.Write(buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// WriteTable writes a human-readable summary of a to w.
func (a *LossAudit) WriteTable(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "rows %d, dim %d, precision %s\n\n", a.N, a.Dim, a.Precision)
	width := len("loss")
	for _, l := range a.Losses {
		width = max(width, len(l.Spec))
	}
	fmt.Fprintf(&b, "%-*s  %s\n", width, "loss", "value")
	for _, l := range a.Losses {
		fmt.Fprintf(&b, "%-*s  %.10g\n", width, l.Spec, l.Value)
	}
	t := a.Triplets
	pct := func(k int64) float64 {
		if t.Total == 0 {
			return 0
		}
		return 100 * float64(k) / float64(t.Total)
	}
	fmt.Fprintf(&b, "\ntriplets (euclidean, margin %g): %d total\n", t.Margin, t.Total)
	fmt.Fprintf(&b, "  easy      %12d  %5.1f%%\n", t.Easy, pct(t.Easy))
	fmt.Fprintf(&b, "  semihard  %12d  %5.1f%%\n", t.Semihard, pct(t.Semihard))
	fmt.Fprintf(&b, "  hard      %12d  %5.1f%%\n", t.Hard, pct(t.Hard))
	_, err := w.Write(b.Bytes())
	return err
}
