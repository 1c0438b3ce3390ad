package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/embfit/embfit/onnx/onnxtest"
	"github.com/embfit/embfit/pipeline/audit"
)

// auditWords are three topical groups of words; a text is drawn from one
// group (its label) plus a shared filler word, so a bag-of-words encoder
// separates the labels well but not perfectly.
var auditWords = [][]string{
	{"dog", "cat", "fox", "horse", "cow", "sheep", "goat", "mouse"},
	{"red", "blue", "green", "yellow", "purple", "orange", "pink", "brown"},
	{"run", "jump", "swim", "walk", "climb", "crawl", "fly", "dance"},
}
var auditFiller = []string{"the", "a", "very", "quite", "some", "big", "small", "old"}

func auditTestModel(t *testing.T, seed uint64, layers int) string {
	t.Helper()
	var words []string
	for _, g := range auditWords {
		words = append(words, g...)
	}
	words = append(words, auditFiller...)
	w, err := onnxtest.TokenModel{Words: words, Dim: 16, Seed: seed, Layers: layers}.Write(filepath.Join(t.TempDir(), "model"))
	if err != nil {
		t.Fatal(err)
	}
	return w.Dir
}

// auditTestData writes n labelled texts (labelled.jsonl) and n pairs
// (pairs.jsonl: a text and another text of the same group) into dir.
func auditTestData(t *testing.T, dir string, n int) (labelled, pairs string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(n), 5))
	text := func(g int) string {
		ws := auditWords[g]
		return fmt.Sprintf("%s %s %s %s", auditFiller[rng.IntN(len(auditFiller))], ws[rng.IntN(len(ws))], ws[rng.IntN(len(ws))], auditFiller[rng.IntN(len(auditFiller))])
	}
	names := []string{"animal", "color", "motion"}
	var lb, pb strings.Builder
	for i := range n {
		g := i % 3
		fmt.Fprintf(&lb, "{\"text\":%q,\"label\":%q}\n", text(g), names[g])
		fmt.Fprintf(&pb, "{\"anchor\":%q,\"positive\":%q}\n", text(g), text(g)+" "+fmt.Sprint(i))
	}
	labelled, pairs = filepath.Join(dir, "labelled.jsonl"), filepath.Join(dir, "pairs.jsonl")
	if err := os.WriteFile(labelled, []byte(lb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pairs, []byte(pb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return labelled, pairs
}

// auditJSONOut is the part of the audit JSON the tests read.
type auditJSONOut struct {
	Model     string `json:"model"`
	Form      string `json:"form"`
	N         int    `json:"n"`
	Dim       int    `json:"dim"`
	Precision string `json:"precision"`
	Losses    []struct {
		Spec  string  `json:"spec"`
		Value float64 `json:"value"`
	} `json:"losses"`
	Triplets struct {
		Margin float64 `json:"margin"`
		Total  int64   `json:"total"`
	} `json:"triplets"`
	Temperature []struct {
		Temperature       float64 `json:"temperature"`
		NormalizedEntropy float64 `json:"normalized_entropy"`
	} `json:"temperature_sweep"`
	Retrieval struct {
		Metrics struct {
			Queries      int     `json:"queries"`
			PrecisionAt1 float64 `json:"precision_at_1"`
			MAPAtR       float64 `json:"map_at_r"`
			ROCAUC       float64 `json:"roc_auc"`
		} `json:"metrics"`
	} `json:"retrieval"`
	PerClass []struct {
		Name string `json:"name"`
	} `json:"per_class"`
	Suspects []struct {
		TextA string `json:"text_a"`
		TextB string `json:"text_b"`
	} `json:"suspects"`
	Compared   []json.RawMessage `json:"compared"`
	Comparison []struct {
		Metric string    `json:"metric"`
		Values []float64 `json:"values"`
	} `json:"comparison"`
}

func readAuditJSON(t *testing.T, path string) auditJSONOut {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out auditJSONOut
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return out
}

func checkAuditHTML(t *testing.T, path string, kinds []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	for _, k := range kinds {
		if !strings.Contains(html, `data-chart="`+k+`"><svg`) {
			t.Errorf("%s: chart %s missing", path, k)
		}
	}
	for _, bad := range []string{"<script", "src=", "<link"} {
		if strings.Contains(html, bad) {
			t.Errorf("%s: not self-contained (%q)", path, bad)
		}
	}
}

func TestAuditModelE2ELabelled(t *testing.T) {
	model := auditTestModel(t, 1, 0)
	dir := t.TempDir()
	labelled, _ := auditTestData(t, dir, 90)
	jsonOut, htmlOut, perOut := filepath.Join(dir, "a.json"), filepath.Join(dir, "a.html"), filepath.Join(dir, "per.jsonl")
	stdout, stderr, code := runEmbfit(t, "audit", "--model", model, "--input", labelled, "--json", jsonOut, "--html", htmlOut, "--per-sample", perOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"labelled data, rows 90, dim 16, 3 classes", "retrieval (90 queries", "InfoNCE temperature sweep", "triplets (euclidean, margin 0.2)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "audit: retrieval") {
		t.Errorf("no progress lines on stderr: %q", stderr)
	}
	r := readAuditJSON(t, jsonOut)
	if r.Form != "labelled" || r.N != 90 || r.Dim != 16 || len(r.Losses) != 5 || r.Precision != "float64" || r.Model != model {
		t.Errorf("header %+v", r)
	}
	if m := r.Retrieval.Metrics; m.Queries != 90 || m.PrecisionAt1 < 0.5 || m.MAPAtR <= 0 || m.MAPAtR > 1 || m.ROCAUC < 0.6 { // chance: 1/3 and 0.5
		t.Errorf("retrieval on separable topics: %+v", m)
	}
	if len(r.Temperature) != len(audit.DefaultTemperatures) || r.Temperature[0].NormalizedEntropy >= r.Temperature[7].NormalizedEntropy {
		t.Errorf("temperature sweep %+v", r.Temperature)
	}
	if len(r.PerClass) != 3 || r.Triplets.Total == 0 {
		t.Errorf("per class %v, triplets %+v", r.PerClass, r.Triplets)
	}
	checkAuditHTML(t, htmlOut, audit.ChartKinds)
	per, err := os.ReadFile(perOut)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(per)), "\n")
	if len(lines) != 90 || !strings.Contains(lines[0], `"text":"`) || !strings.Contains(lines[0], `"grad_norm":{"contrastive":`) {
		t.Errorf("per-sample: %d lines, first %s", len(lines), lines[0])
	}
}

func TestAuditModelE2ECompareTwoModelsOnPairs(t *testing.T) {
	a, b := auditTestModel(t, 1, 0), auditTestModel(t, 2, 1)
	dir := t.TempDir()
	_, pairs := auditTestData(t, dir, 60)
	jsonOut, htmlOut := filepath.Join(dir, "c.json"), filepath.Join(dir, "c.html")
	stdout, stderr, code := runEmbfit(t, "audit", "--model", a, "--model", b, "--input", pairs, "--json", jsonOut, "--html", htmlOut,
		"--loss", "infonce", "--loss", "triplet:margin=0.1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// One comparison table with a column per model and the delta.
	var mapLine string
	for _, l := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(l, "MAP@R ") {
			mapLine = l
		}
	}
	if f := strings.Fields(mapLine); len(f) < 4 {
		t.Errorf("comparison MAP@R line %q in:\n%s", mapLine, stdout)
	}
	r := readAuditJSON(t, jsonOut)
	if r.Form != "pairs" || r.N != 120 || len(r.Compared) != 1 || len(r.Comparison) == 0 {
		t.Fatalf("json: form %s n %d compared %d comparison %d", r.Form, r.N, len(r.Compared), len(r.Comparison))
	}
	found := false
	for _, row := range r.Comparison {
		if row.Metric == "loss triplet:margin=0.1" && len(row.Values) == 2 {
			found = true
		}
	}
	if !found || r.Triplets.Margin != 0.1 {
		t.Errorf("comparison rows %+v, margin %v", r.Comparison, r.Triplets.Margin)
	}
	// Pairs have no classes: every chart but the per-class one, twice the
	// per-model charts.
	checkAuditHTML(t, htmlOut, []string{audit.ChartSimilarity, audit.ChartTemperatureLoss, audit.ChartTemperatureEntropy, audit.ChartTripletCategories})
	h, _ := os.ReadFile(htmlOut)
	if n := strings.Count(string(h), `data-chart="`+audit.ChartSimilarity+`"`); n != 2 || !strings.Contains(string(h), `id="comparison"`) {
		t.Errorf("%d similarity charts, comparison table present: %v", n, strings.Contains(string(h), `id="comparison"`))
	}
}

func TestAuditModelE2EDeterministic(t *testing.T) {
	model := auditTestModel(t, 3, 1)
	dir := t.TempDir()
	labelled, _ := auditTestData(t, dir, 75)
	var outs [2][3][]byte
	for i := range 2 {
		j, h, p := filepath.Join(dir, fmt.Sprintf("%d.json", i)), filepath.Join(dir, fmt.Sprintf("%d.html", i)), filepath.Join(dir, fmt.Sprintf("%d.jsonl", i))
		if _, stderr, code := runEmbfit(t, "audit", "--model", model, "--input", labelled, "--json", j, "--html", h, "--per-sample", p); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		for k, f := range []string{j, h, p} {
			outs[i][k], _ = os.ReadFile(f)
		}
	}
	for k, name := range []string{"json", "html", "per-sample"} {
		if !bytes.Equal(outs[0][k], outs[1][k]) || len(outs[0][k]) == 0 {
			t.Errorf("%s differs between two identical runs", name)
		}
	}
}

func TestAuditModelE2EEmbeddingsWithTexts(t *testing.T) {
	model := auditTestModel(t, 4, 0)
	dir := t.TempDir()
	labelled, _ := auditTestData(t, dir, 45)
	npy := filepath.Join(dir, "e.npy")
	if _, stderr, code := runEmbfit(t, "embed", "--model", model, "--input", labelled, "--out", npy); code != 0 {
		t.Fatalf("embed: exit %d: %s", code, stderr)
	}
	jsonOut, htmlOut := filepath.Join(dir, "e.json"), filepath.Join(dir, "e.html")
	if _, stderr, code := runEmbfit(t, "audit", "--embeddings", npy, "--labels", labelled, "--json", jsonOut, "--html", htmlOut, "--max-suspects", "3", "--noise-quantile", "0.5"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	r := readAuditJSON(t, jsonOut)
	if r.N != 45 || len(r.PerClass) != 3 || len(r.Suspects) > 3 {
		t.Errorf("json %+v", r)
	}
	for _, s := range r.Suspects {
		if s.TextA == "" || s.TextB == "" {
			t.Errorf("suspect without texts: %+v", s)
		}
	}
	checkAuditHTML(t, htmlOut, audit.ChartKinds)
	// --losses-only keeps to the losses and triplet counts: no retrieval section.
	stdout, stderr, code := runEmbfit(t, "audit", "--embeddings", npy, "--labels", labelled, "--losses-only")
	if code != 0 || strings.Contains(stdout, "retrieval") || !strings.Contains(stdout, "triplets (euclidean") {
		t.Errorf("--losses-only: exit %d %s\n%s", code, stderr, stdout)
	}
}

func TestAuditModelE2EBadInput(t *testing.T) {
	model := auditTestModel(t, 5, 0)
	dir := t.TempDir()
	labelled, pairs := auditTestData(t, dir, 12)
	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte("{\"text\":\"a dog\",\"label\":\"x\"}\n{\"text\":\"a cat\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.json")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no input", []string{"--model", model}, "--input is required with --model"},
		{"no model", []string{"--input", labelled}, "--model is required with --input"},
		{"three models", []string{"--model", model, "--model", model, "--model", model, "--input", labelled}, "at most two models"},
		{"model and embeddings", []string{"--model", model, "--input", labelled, "--embeddings", "e.npy"}, "not both"},
		{"bad line", []string{"--model", model, "--input", bad, "--json", out}, "bad.jsonl:2: missing field \"label\""},
		{"missing input", []string{"--model", model, "--input", filepath.Join(dir, "nope.jsonl")}, "nope.jsonl"},
		{"missing model", []string{"--model", filepath.Join(dir, "nomodel"), "--input", labelled, "--json", out}, "nomodel"},
		{"html over input", []string{"--model", model, "--input", labelled, "--html", labelled}, "--html " + labelled + ": would overwrite the input file"},
		{"json over pairs", []string{"--model", model, "--input", pairs, "--json", pairs}, "would overwrite the input file"},
		{"bad quantile", []string{"--model", model, "--input", labelled, "--noise-quantile", "1.5"}, "--noise-quantile: 1.5"},
		{"bad loss", []string{"--model", model, "--input", labelled, "--loss", "arcface"}, "--loss: unknown loss \"arcface\""},
		{"bad field", []string{"--model", model, "--input", labelled, "--text-field", "body"}, "labelled.jsonl:1: need fields \"body\" and \"label\""},
	}
	before, _ := os.ReadFile(labelled)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := runEmbfit(t, append([]string{"audit"}, tc.args...)...)
			if code != 2 {
				t.Errorf("exit %d, want 2 (stderr %q)", code, errOut)
			}
			if !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Errorf("stderr %q, want one line containing %q", errOut, tc.want)
			}
		})
	}
	if after, _ := os.ReadFile(labelled); !bytes.Equal(before, after) {
		t.Errorf("input file changed")
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("an output appeared after failures")
	}
}

func TestAuditModelE2EInterrupt(t *testing.T) {
	model := auditTestModel(t, 6, 0)
	dir := t.TempDir()
	labelled, _ := auditTestData(t, dir, 4000)
	jsonOut, htmlOut := filepath.Join(dir, "i.json"), filepath.Join(dir, "i.html")
	cmd := exec.Command(embfitBin, "audit", "--model", model, "--input", labelled, "--json", jsonOut, "--html", htmlOut, "--loss", "center")
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	sc := bufio.NewScanner(pipe)
	signalled := false
	for sc.Scan() {
		stderr.WriteString(sc.Text() + "\n")
		if !signalled && strings.Contains(sc.Text(), "audit: temperature") {
			time.Sleep(100 * time.Millisecond)
			cmd.Process.Signal(os.Interrupt)
			signalled = true
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !signalled || !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("signalled %v, wait: %v (stderr %q), want exit status 130", signalled, err, stderr.String())
	}
	for _, f := range []string{jsonOut, htmlOut} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s written by an interrupted audit", f)
		}
	}
}

// The full audit on the real data (GloVe encoder, WordNet
// test glosses by lexname and reverse-dictionary pairs), on the first 1500
// lines of each file to keep the test short; the full-size run is in the
// README.
func TestAuditModelE2EGloVeWordNet(t *testing.T) {
	glove, data := filepath.Join("..", "..", "models", "glove-100d"), filepath.Join("..", "..", "data", "wordnet")
	for _, p := range []string{filepath.Join(glove, "model.onnx"), filepath.Join(data, "glosses.test.jsonl")} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%v: run `make setup` first", err)
		}
	}
	dir := t.TempDir()
	head := func(name string, n int) string {
		b, err := os.ReadFile(filepath.Join(data, name))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitAfter(string(b), "\n")
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Join(lines[:min(n, len(lines))], "")), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		file  string
		kinds []string
	}{
		{"glosses.test.jsonl", audit.ChartKinds},
		{"pairs.test.jsonl", []string{audit.ChartSimilarity, audit.ChartTemperatureLoss, audit.ChartTemperatureEntropy, audit.ChartTripletCategories}},
	} {
		in := head(tc.file, 1500)
		jsonOut, htmlOut := filepath.Join(dir, tc.file+".json"), filepath.Join(dir, tc.file+".html")
		start := time.Now()
		_, stderr, code := runEmbfit(t, "audit", "--model", glove, "--input", in, "--json", jsonOut, "--html", htmlOut)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.file, code, stderr)
		}
		t.Logf("%s: 1500 lines audited in %s", tc.file, time.Since(start).Round(time.Millisecond))
		r := readAuditJSON(t, jsonOut)
		if m := r.Retrieval.Metrics; m.Queries == 0 || !(m.MAPAtR > 0 && m.MAPAtR < 1) || !(m.ROCAUC > 0.5) {
			t.Errorf("%s: retrieval %+v", tc.file, m)
		}
		checkAuditHTML(t, htmlOut, tc.kinds)
	}
}
