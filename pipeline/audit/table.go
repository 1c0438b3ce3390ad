package audit

import (
	"bytes"
	"fmt"
	"io"
	"math"
)

// WriteTable writes a readable summary of one report, or, with several
// reports of the same data, their comparison table (FormatComparison)
// followed by each report's summary.
func WriteTable(w io.Writer, reps ...*Report) error {
	if len(reps) == 1 && reps[0].Settings.LossesOnly {
		return writeLossesTable(w, reps[0])
	}
	var b bytes.Buffer
	if len(reps) > 1 {
		names := make([]string, len(reps))
		for i, r := range reps {
			names[i] = fmt.Sprintf("model %d", i+1)
			fmt.Fprintf(&b, "model %d: %s\n", i+1, modelLabel(r, i))
		}
		fmt.Fprintf(&b, "\n%s\n", FormatComparison(Compare(reps...), names))
	}
	for i, r := range reps {
		writeSummary(&b, r, i)
	}
	_, err := w.Write(b.Bytes())
	return err
}

func writeSummary(b *bytes.Buffer, r *Report, i int) {
	fmt.Fprintf(b, "== %s: %s data, rows %d, dim %d", modelLabel(r, i), r.Form, r.N, r.Dim)
	if r.Classes > 0 {
		fmt.Fprintf(b, ", %d classes", r.Classes)
	}
	fmt.Fprintf(b, ", loss precision %s\n", r.Precision)
	if r.ZeroRows > 0 {
		fmt.Fprintf(b, "warning: %d all-zero embeddings (they score 0 against everything)", r.ZeroRows)
		if r.ZeroRowSuspects > 0 {
			fmt.Fprintf(b, "; %d pairs with one left out of the suspects", r.ZeroRowSuspects)
		}
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	width := len("loss")
	for _, l := range r.Losses {
		width = max(width, len(l.Spec))
	}
	fmt.Fprintf(b, "%-*s  %s\n", width, "loss", "value")
	for _, l := range r.Losses {
		fmt.Fprintf(b, "%-*s  %.10g\n", width, l.Spec, l.Value)
	}
	t := r.Triplets
	pct := func(k int64) float64 {
		if t.Total == 0 {
			return 0
		}
		return 100 * float64(k) / float64(t.Total)
	}
	fmt.Fprintf(b, "\ntriplets (%s, margin %g): %d total\n", r.TripletAnatomy.Distance, t.Margin, t.Total)
	fmt.Fprintf(b, "  easy      %12d  %5.1f%%\n", t.Easy, pct(t.Easy))
	fmt.Fprintf(b, "  semihard  %12d  %5.1f%%\n", t.Semihard, pct(t.Semihard))
	fmt.Fprintf(b, "  hard      %12d  %5.1f%%\n", t.Hard, pct(t.Hard))
	m := r.Retrieval
	fmt.Fprintf(b, "\nretrieval (%d queries, %d skipped, corpus %d): P@1 %.4f  R-prec %.4f  MAP@R %.4f  MRR@10 %.4f  NDCG@10 %.4f",
		m.Queries, m.Skipped, m.Corpus, m.PrecisionAt1, m.RPrecision, m.MAPAtR, m.MRRAt10, m.NDCGAt10)
	for _, rc := range m.Recall {
		fmt.Fprintf(b, "  R@%d %.4f", rc.K, rc.Recall)
	}
	s := r.Similarity
	fmt.Fprintf(b, "\nsimilarity: positive mean %.4f (%d pairs), negative mean %.4f (%d pairs), overlap %.4f, ROC-AUC %.4f\n",
		s.PositiveMean, s.PositivePairs, s.NegativeMean, s.NegativePairs, s.Overlap, s.ROCAUC)
	fmt.Fprintf(b, "  best threshold %.4f: accuracy %.2f%%; best balanced threshold %.4f: balanced accuracy %.2f%%\n",
		s.Best.Threshold, 100*s.Best.Accuracy, s.BestBalanced.Threshold, 100*s.BestBalanced.BalancedAccuracy)
	fmt.Fprintf(b, "\ntriplet categories vs margin:\n  %-8s %9s %9s %9s\n", "margin", "easy", "semihard", "hard")
	for _, t := range r.TripletAnatomy.Margins {
		mark := ""
		if t.Margin == r.Triplets.Margin {
			mark = "  <- chosen"
		}
		fmt.Fprintf(b, "  %-8g %8.2f%% %8.2f%% %8.2f%%%s\n", t.Margin, 100*t.EasyFrac, 100*t.SemihardFrac, 100*t.HardFrac, mark)
	}
	fmt.Fprintf(b, "\nInfoNCE temperature sweep:\n  %-6s %10s %10s %10s %12s\n", "tau", "loss", "entropy", "norm.ent", "max weight")
	for _, t := range r.Temperature {
		fmt.Fprintf(b, "  %-6g %10.4f %10.4f %10.4f %12.4f\n", t.Temperature, t.Loss, t.Entropy, t.NormalizedEntropy, t.MaxWeight)
	}
	if c := r.Centers; c != nil {
		fmt.Fprintf(b, "\ncenters: loss %.6g, within RMS %.4f, between mean %.4f, between/within %.4f, tr(S_B)/tr(S_W) %.4f\n",
			c.Loss, c.WithinRMS, c.BetweenMean, c.Ratio, c.ScatterRatio)
	}
	if len(r.PerClass) > 0 {
		n := min(len(r.PerClass), 10)
		fmt.Fprintf(b, "\nworst %d of %d classes by MAP@R:\n", n, len(r.PerClass))
		for _, c := range r.PerClass[:n] {
			fmt.Fprintf(b, "  %-24s size %6d  MAP@R %.4f  P@1 %.4f  nearest %s\n", c.Name, c.Size, c.Metrics.MAPAtR, c.Metrics.PrecisionAt1, c.Nearest)
		}
	}
	if len(r.Suspects) > 0 {
		n := min(len(r.Suspects), 5)
		fmt.Fprintf(b, "\ntop %d of %d suspects (the JSON and HTML reports list all):\n", n, len(r.Suspects))
		for _, x := range r.Suspects[:n] {
			fmt.Fprintf(b, "  %.4f  row %d %s %q  ~  row %d %s %q\n", x.Score, x.A, x.LabelA, clip(x.TextA, 50), x.B, x.LabelB, clip(x.TextB, 50))
		}
	}
	var total float64
	for _, v := range r.Seconds {
		total += v
	}
	if !math.IsNaN(total) {
		fmt.Fprintf(b, "\naudit time %.1fs\n\n", total)
	}
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
