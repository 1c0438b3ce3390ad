package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/pipeline/audit"
	"github.com/embfit/embfit/pipeline/dataio"
)

type auditFixture struct {
	Embeddings [][]float64 `json:"embeddings"`
	Labels     []int       `json:"labels"`
	Cases      []struct {
		Name  string  `json:"name"`
		Value float64 `json:"value"`
	} `json:"cases"`
	Counts map[string]int64 `json:"triplet_counts_margin_0.2"`
}

// writeAuditInputs writes the loss fixture's embeddings (.npy) and labels
// (text, one per line) into dir.
func writeAuditInputs(t *testing.T, dir string) (npy, labels string, f auditFixture) {
	t.Helper()
	b, err := os.ReadFile("../../losses/testdata/losses-reference.json")
	if err != nil {
		t.Fatalf("reference fixture: %v", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	n, d := len(f.Embeddings), len(f.Embeddings[0])
	m := blas32.General{Rows: n, Cols: d, Stride: d, Data: make([]float32, 0, n*d)}
	for _, r := range f.Embeddings {
		for _, v := range r {
			m.Data = append(m.Data, float32(v))
		}
	}
	npy = filepath.Join(dir, "emb.npy")
	if err := dataio.WriteNPY(npy, m); err != nil {
		t.Fatal(err)
	}
	var lb strings.Builder
	for _, y := range f.Labels {
		fmt.Fprintf(&lb, "class-%d\n", y)
	}
	labels = filepath.Join(dir, "labels.txt")
	if err := os.WriteFile(labels, []byte(lb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return npy, labels, f
}

func (f auditFixture) value(name string) float64 {
	for _, c := range f.Cases {
		if c.Name == name {
			return c.Value
		}
	}
	panic("no fixture case " + name)
}

// tableValues parses the "SPEC  value" lines of the audit table.
func tableValues(t *testing.T, out string) map[string]float64 {
	vals := map[string]float64{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			vals[f[0]] = v
		}
	}
	return vals
}

func closeRel(got, want, tol float64) bool {
	if want == 0 {
		return got == 0
	}
	return math.Abs(got-want)/math.Abs(want) <= tol
}

func TestAuditE2EFixtureValues(t *testing.T) {
	dir := t.TempDir()
	npy, labels, f := writeAuditInputs(t, dir)
	// The .npy holds float32-rounded embeddings, so values agree with the
	// float64 fixture to ~1e-7 relative; 1e-5 leaves room.
	const tol = 1e-5
	t.Run("defaults float32", func(t *testing.T) {
		out, errOut, code := runEmbfit(t, "audit", "--embeddings", npy, "--labels", labels, "--precision", "float32")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		vals := tableValues(t, out)
		for spec, name := range map[string]string{"contrastive": "contrastive-default", "triplet": "triplet-all-euclidean",
			"infonce": "infonce-t0.07", "center": "center-classmeans", "circle": "circle-default"} {
			if got, want := vals[spec], f.value(name); !closeRel(got, want, 1e-4) {
				t.Errorf("float32 %s = %.10g, want %.10g", spec, got, want)
			}
		}
	})
	t.Run("defaults", func(t *testing.T) {
		out, errOut, code := runEmbfit(t, "audit", "--embeddings", npy, "--labels", labels)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		vals := tableValues(t, out)
		for spec, name := range map[string]string{"contrastive": "contrastive-default", "triplet": "triplet-all-euclidean",
			"infonce": "infonce-t0.07", "center": "center-classmeans", "circle": "circle-default"} {
			if got, want := vals[spec], f.value(name); !closeRel(got, want, tol) {
				t.Errorf("%s = %.10g, want %.10g (fixture %s)\n%s", spec, got, want, name, out)
			}
		}
		for _, want := range []string{fmt.Sprintf("%d total", f.Counts["all"]), fmt.Sprintf("easy %12d", f.Counts["easy"]),
			fmt.Sprintf("semihard %12d", f.Counts["semihard"]), fmt.Sprintf("hard %12d", f.Counts["hard"])} {
			if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
				t.Errorf("table lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("specs json per-sample", func(t *testing.T) {
		jsonOut, perOut := filepath.Join(dir, "audit.json"), filepath.Join(dir, "per.jsonl")
		specs := map[string]string{
			"triplet:margin=0.2,mining=semihard":                "triplet-semihard",
			"triplet:mining=batch-hard":                         "triplet-batch-hard",
			"contrastive:margin=0.5,pos_margin=0.1":             "contrastive-m0.5-pos0.1",
			"circle:m=0.25,gamma=256":                           "circle-face",
			"infonce:temperature=0.5":                           "infonce-t0.5",
			"triplet:distance=cosine,reduction=mean,margin=0.2": "",
		}
		order := []string{"triplet:margin=0.2,mining=semihard", "triplet:mining=batch-hard", "contrastive:margin=0.5,pos_margin=0.1",
			"circle:m=0.25,gamma=256", "infonce:temperature=0.5"}
		args := []string{"audit", "--embeddings", npy, "--labels", labels, "--json", jsonOut, "--per-sample", perOut}
		for _, s := range order {
			args = append(args, "--loss", s)
		}
		_, errOut, code := runEmbfit(t, args...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var got audit.Report
		b, err := os.ReadFile(jsonOut)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if got.N != len(f.Labels) || got.Dim != len(f.Embeddings[0]) || len(got.Losses) != len(order) {
			t.Fatalf("json header n=%d dim=%d losses=%d", got.N, got.Dim, len(got.Losses))
		}
		for i, s := range order {
			l := got.Losses[i]
			if l.Spec != s || !closeRel(l.Value, f.value(specs[s]), tol) {
				t.Errorf("losses[%d] = %s %.10g, want %s %.10g", i, l.Spec, l.Value, s, f.value(specs[s]))
			}
		}
		if p := got.Losses[0].Params; p["margin"] != 0.2 || p["distance"] != "euclidean" || p["mining"] != "semihard" ||
			p["soft"] != false || p["reduction"] != "avg_nonzero" || p["normalize"] != true {
			t.Errorf("params not filled in: %v", p)
		}
		if tr := got.Triplets; tr.Margin != 0.2 || tr.Easy != f.Counts["easy"] || tr.Semihard != f.Counts["semihard"] ||
			tr.Hard != f.Counts["hard"] || tr.Total != f.Counts["all"] {
			t.Errorf("triplets = %+v, want %v", tr, f.Counts)
		}
		per, err := os.ReadFile(perOut)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(per)), "\n")
		if len(lines) != len(f.Labels) {
			t.Fatalf("per-sample has %d lines, want %d", len(lines), len(f.Labels))
		}
		var row struct {
			Row      int                `json:"row"`
			Label    string             `json:"label"`
			GradNorm map[string]float64 `json:"grad_norm"`
		}
		if err := json.Unmarshal([]byte(lines[23]), &row); err != nil {
			t.Fatal(err)
		}
		// Row 23 is the fixture's singleton class: no positive, so it is
		// never an anchor, but it is still a negative for the others.
		if row.Row != 23 || row.Label != "class-12" || len(row.GradNorm) != len(order) {
			t.Errorf("per-sample row 23 = %+v", row)
		}
		if !strings.HasPrefix(lines[0], `{"row":0,"label":"class-0","grad_norm":{"triplet:margin=0.2,mining=semihard":`) {
			t.Errorf("per-sample line 0 = %s", lines[0])
		}
	})
}

func TestAuditE2EBadInput(t *testing.T) {
	dir := t.TempDir()
	npy, labels, _ := writeAuditInputs(t, dir)
	short := filepath.Join(dir, "short.txt")
	if err := os.WriteFile(short, []byte("a\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badLabels := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(badLabels, []byte("{\"label\":1}\n{\"text\":\"x\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.npy")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing embeddings file", []string{"--embeddings", missing, "--labels", labels}, "missing.npy"},
		{"missing labels file", []string{"--embeddings", npy, "--labels", filepath.Join(dir, "nolabels.txt")}, "nolabels.txt"},
		{"rows differ from labels", []string{"--embeddings", npy, "--labels", short}, "2 labels but --embeddings"},
		{"unknown loss", []string{"--embeddings", npy, "--labels", labels, "--loss", "arcface"}, "unknown loss \"arcface\" (valid: contrastive, triplet, infonce, center, circle)"},
		{"NaN margin", []string{"--embeddings", npy, "--labels", labels, "--loss", "contrastive:margin=NaN", "--json", "-"}, `--loss: "contrastive:margin=NaN": margin must be a finite number, got NaN`},
		{"unknown key", []string{"--embeddings", npy, "--labels", labels, "--loss", "triplet:gamma=2"}, "unknown key \"gamma\" for triplet (valid: margin, distance, mining, soft, reduction, normalize)"},
		{"bad value", []string{"--embeddings", npy, "--labels", labels, "--loss", "triplet:mining=medium"}, "unknown mining \"medium\""},
		{"json over input", []string{"--embeddings", npy, "--labels", labels, "--json", labels}, "would overwrite the input file"},
		{"no embeddings flag", []string{"--labels", labels}, "--embeddings is required"},
		{"bad precision", []string{"--embeddings", npy, "--labels", labels, "--precision", "half"}, "--precision: unknown precision \"half\""},
		{"bad labels line", []string{"--embeddings", npy, "--labels", badLabels}, "bad.jsonl:2: missing field \"label\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := os.ReadFile(labels)
			_, errOut, code := runEmbfit(t, append([]string{"audit"}, tc.args...)...)
			if code != 2 {
				t.Errorf("exit %d, want 2 (stderr %q)", code, errOut)
			}
			if !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Errorf("stderr %q, want one line containing %q", errOut, tc.want)
			}
			if after, _ := os.ReadFile(labels); !bytes.Equal(before, after) {
				t.Errorf("labels input file changed")
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "audit.json")); err == nil {
		t.Errorf("an output appeared after failures")
	}
}
