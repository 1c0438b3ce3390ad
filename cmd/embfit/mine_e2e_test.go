package main

import (
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

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/mining"
	"github.com/embfit/embfit/pipeline/dataio"
)

// runMineBin runs `embfit mine args...` with the binary built by TestMain.
func runMineBin(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runEmbfit(t, append([]string{"mine"}, args...)...)
}

func mineWriteFile(t *testing.T, path string, lines ...string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func mineWriteNPY(t *testing.T, path string, rows ...[]float32) string {
	t.Helper()
	m := blas32.General{Rows: len(rows), Cols: len(rows[0]), Stride: len(rows[0])}
	for _, r := range rows {
		m.Data = append(m.Data, r...)
	}
	if err := dataio.WriteNPY(path, m); err != nil {
		t.Fatal(err)
	}
	return path
}

// mineFixture writes a pairs file where "cat" has two positives, a corpus
// holding a second "kitty" (a positive's text) and "cat" (the query's
// text), and embeddings in which those two would otherwise be the best
// negatives of "cat".
func mineFixture(t *testing.T, dir string) (pairs, corpus, qnpy, cnpy string) {
	pairs = mineWriteFile(t, filepath.Join(dir, "pairs.jsonl"),
		`{"anchor":"cat","positive":"feline"}`,
		`{"anchor":"dog","positive":"canine"}`,
		``,
		`{"anchor":"cat","positive":"kitty"}`,
		`{"anchor":"car","positive":"automobile"}`)
	corpus = mineWriteFile(t, filepath.Join(dir, "corpus.jsonl"),
		`{"text":"feline"}`, `{"text":"canine"}`, `{"text":"kitty"}`, `{"text":"automobile"}`,
		`{"text":"tiger"}`, `{"text":"wolf"}`, `{"text":"truck"}`, `{"text":"kitty"}`, `{"text":"cat"}`)
	qnpy = mineWriteNPY(t, filepath.Join(dir, "q.npy"),
		[]float32{1, 0, 0}, []float32{0, 1, 0}, []float32{1, 0, 0}, []float32{0, 0, 1})
	cnpy = mineWriteNPY(t, filepath.Join(dir, "c.npy"),
		[]float32{0.9, 0.1, 0}, []float32{0.1, 0.9, 0}, []float32{0.95, 0, 0.05}, []float32{0, 0.1, 0.9},
		[]float32{0.8, 0.2, 0}, []float32{0.2, 0.8, 0}, []float32{0.1, 0, 0.8}, []float32{1, 0, 0.01}, []float32{1, 0, 0})
	return pairs, corpus, qnpy, cnpy
}

func TestMineEmbeddingsMode(t *testing.T) {
	dir := t.TempDir()
	pairs, corpus, qnpy, cnpy := mineFixture(t, dir)
	out := filepath.Join(dir, "neg.jsonl")
	stdout, stderr, code := runMineBin(t, "--pairs", pairs, "--corpus", corpus, "--query-embeddings", qnpy,
		"--corpus-embeddings", cnpy, "--num-negatives", "1", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "mined 3 queries × 9 corpus rows: 3 negatives") {
		t.Errorf("summary line: %q", stdout)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"anchor":"cat","positive":"feline","negative":"tiger"}
{"anchor":"cat","positive":"kitty","negative":"tiger"}
{"anchor":"dog","positive":"canine","negative":"wolf"}
{"anchor":"car","positive":"automobile","negative":"truck"}
`
	if string(got) != want {
		t.Fatalf("output:\n%s\nwant:\n%s", got, want)
	}
	b, err := os.ReadFile(out + ".manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var man mining.Manifest
	if err := json.Unmarshal(b, &man); err != nil {
		t.Fatal(err)
	}
	if man.Mode != "pairs" || man.Counts.Queries != 3 || man.Counts.Corpus != 9 || man.Counts.Negatives != 3 ||
		man.Output.Rows != 4 || man.PositiveScores.Count != 4 || man.NegativeScores.Count != 3 ||
		man.Settings.RangeMax != 50 || man.Settings.MaxScore != nil || len(man.Inputs) != 4 {
		t.Fatalf("manifest: %s", b)
	}
	for _, in := range man.Inputs {
		if len(in.SHA256) != 64 {
			t.Errorf("input %s: sha256 %q", in.Path, in.SHA256)
		}
	}
	if man.Inputs[0].Rows != 4 {
		t.Errorf("pairs rows = %d, want 4", man.Inputs[0].Rows)
	}
}

// TestMineDeterministic: same inputs and seed give byte-identical files
// whatever GOMAXPROCS, the OpenBLAS thread count and the block sizes.
func TestMineDeterministic(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(7, 7))
	const nq, nc, d = 300, 2000, 64
	var pairLines, corpusLines []string
	qrows, crows := make([][]float32, nq), make([][]float32, nc)
	for i := range nc {
		corpusLines = append(corpusLines, fmt.Sprintf(`{"text":"doc %d"}`, i))
		crows[i] = make([]float32, d)
		for j := range crows[i] {
			crows[i][j] = float32(r.NormFloat64())
		}
	}
	for i := range nq {
		pairLines = append(pairLines, fmt.Sprintf(`{"anchor":"query %d","positive":"doc %d"}`, i/2, r.IntN(nc)))
		qrows[i] = make([]float32, d)
		for j := range qrows[i] {
			qrows[i][j] = float32(r.NormFloat64())
		}
	}
	pairs := mineWriteFile(t, filepath.Join(dir, "pairs.jsonl"), pairLines...)
	corpus := mineWriteFile(t, filepath.Join(dir, "corpus.jsonl"), corpusLines...)
	qnpy := mineWriteNPY(t, filepath.Join(dir, "q.npy"), qrows...)
	cnpy := mineWriteNPY(t, filepath.Join(dir, "c.npy"), crows...)
	var first []byte
	for i, env := range []struct{ procs, blas, block string }{{"1", "1", "1024"}, {"2", "2", "37"}, {"4", "1", "500"}} {
		out := filepath.Join(dir, fmt.Sprintf("neg%d.jsonl", i))
		cmd := exec.Command(embfitBin, "mine", "--pairs", pairs, "--corpus", corpus, "--query-embeddings", qnpy,
			"--corpus-embeddings", cnpy, "--sampling", "random", "--seed", "5", "--output-format", "n-tuple-scores",
			"--num-negatives", "4", "--range-min", "2", "--max-score", "0.45",
			"--query-block", env.block, "--corpus-block", env.block, "--out", out)
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+env.procs, "OPENBLAS_NUM_THREADS="+env.blas)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		got, _ := os.ReadFile(out)
		man, _ := os.ReadFile(out + ".manifest.json")
		// The manifest names the output file and the block sizes; compare
		// the rest.
		var m mining.Manifest
		if err := json.Unmarshal(man, &m); err != nil {
			t.Fatal(err)
		}
		m.Output.Path, m.Settings.QueryBlock, m.Settings.CorpusBlock = "", 0, 0
		mb, _ := json.Marshal(m)
		got = append(got, mb...)
		if i == 0 {
			first = got
			if m.Output.Rows < 100 {
				t.Fatalf("only %d rows", m.Output.Rows)
			}
			continue
		}
		if !bytes.Equal(got, first) {
			t.Fatalf("run %d (%+v) differs from run 0", i, env)
		}
	}
}

func TestMineLabelledEmbeddings(t *testing.T) {
	dir := t.TempDir()
	items := mineWriteFile(t, filepath.Join(dir, "items.jsonl"),
		`{"text":"a1","label":"A"}`, `{"text":"a2","label":"A"}`, `{"text":"b1","label":"B"}`,
		`{"text":"b2","label":"B"}`, `{"text":"c1","label":3}`, `{"text":"a1","label":"A"}`)
	q := mineWriteNPY(t, filepath.Join(dir, "items.npy"),
		[]float32{1, 0}, []float32{0.9, 0.1}, []float32{0.95, 0.05}, []float32{0, 1}, []float32{0.5, 0.5}, []float32{1, 0})
	out := filepath.Join(dir, "pairs.jsonl")
	_, stderr, code := runMineBin(t, "--labelled", items, "--query-embeddings", q, "--num-negatives", "1",
		"--output-format", "labeled-pair", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, _ := os.ReadFile(out)
	// a1's nearest other-label item is b1 (0.95); c1 has no positive and
	// gets no rows; b2's nearest is c1.
	want := `{"text1":"a1","text2":"a2","label":1}
{"text1":"a1","text2":"b1","label":0}
{"text1":"a2","text2":"a1","label":1}
{"text1":"a2","text2":"b1","label":0}
{"text1":"b1","text2":"b2","label":1}
{"text1":"b1","text2":"a1","label":0}
{"text1":"b2","text2":"b1","label":1}
{"text1":"b2","text2":"c1","label":0}
`
	if string(got) != want {
		t.Fatalf("output:\n%s\nwant:\n%s", got, want)
	}
}

// TestMineGloVe embeds texts with the default GloVe encoder (built by
// `make setup`) and checks the run end to end.
func TestMineGloVe(t *testing.T) {
	model := "../../models/glove-100d"
	if _, err := os.Stat(filepath.Join(model, "model.onnx")); err != nil {
		t.Skipf("default encoder not built (run make setup): %v", err)
	}
	dir := t.TempDir()
	pairs := mineWriteFile(t, filepath.Join(dir, "pairs.jsonl"),
		`{"anchor":"dog","positive":"a domesticated canine animal"}`,
		`{"anchor":"cat","positive":"a small domesticated feline animal"}`,
		`{"anchor":"car","positive":"a motor vehicle with four wheels"}`,
		`{"anchor":"truck","positive":"a large motor vehicle for carrying goods"}`,
		`{"anchor":"apple","positive":"a round fruit with red or green skin"}`,
		`{"anchor":"pear","positive":"a sweet juicy fruit with a rounded bottom"}`)
	out := filepath.Join(dir, "neg.jsonl")
	stdout, stderr, code := runMineBin(t, "--model", model, "--pairs", pairs, "--num-negatives", "1",
		"--output-format", "n-tuple-scores", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "mined 6 queries × 6 corpus rows: 6 negatives") {
		t.Errorf("summary: %q", stdout)
	}
	b, _ := os.ReadFile(out)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d rows:\n%s", len(lines), b)
	}
	// The hardest negative of "car" is the truck's definition (another
	// motor vehicle), and scores are sorted: positive first, then the
	// negative, all in [-1, 1].
	var row struct {
		Anchor, Positive, Negative1 string
		Scores                      []float64
	}
	for _, l := range lines {
		if err := json.Unmarshal([]byte(strings.Replace(l, "negative_1", "negative1", 1)), &row); err != nil {
			t.Fatal(err)
		}
		if len(row.Scores) != 2 || row.Scores[0] < -1.0001 || row.Scores[0] > 1.0001 || row.Scores[1] < -1.0001 || row.Scores[1] > 1.0001 {
			t.Fatalf("scores %v in %s", row.Scores, l)
		}
		if row.Anchor == "car" && row.Negative1 != "a large motor vehicle for carrying goods" {
			t.Errorf("car's hardest negative is %q", row.Negative1)
		}
	}
	man, _ := os.ReadFile(out + ".manifest.json")
	var m mining.Manifest
	if err := json.Unmarshal(man, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.ModelSHA256) != 64 || m.Counts.Negatives != 6 {
		t.Fatalf("manifest: %s", man)
	}
}

func TestMineBadInput(t *testing.T) {
	dir := t.TempDir()
	pairs, corpus, qnpy, cnpy := mineFixture(t, dir)
	emptySide := mineWriteFile(t, filepath.Join(dir, "empty.jsonl"),
		`{"anchor":"cat","positive":"feline"}`, `{"anchor":"dog","positive":"  "}`)
	missing := mineWriteFile(t, filepath.Join(dir, "missing.jsonl"),
		`{"anchor":"cat","positive":"feline"}`, `{"anchor":"dog","positive":"canine"}`, `{"anchor":"eel","positive":"fish"}`)
	short := mineWriteNPY(t, filepath.Join(dir, "short.npy"), []float32{1, 0, 0}, []float32{0, 1, 0})
	out := filepath.Join(dir, "out.jsonl")
	emb := []string{"--query-embeddings", qnpy, "--corpus-embeddings", cnpy, "--corpus", corpus}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"empty side", append([]string{"--pairs", emptySide, "--out", out}, emb...), "empty.jsonl:2: empty \"positive\""},
		{"missing positive", append([]string{"--pairs", missing, "--out", out}, emb...), "missing.jsonl:3: positive \"fish\" is not in the corpus"},
		{"npy rows", []string{"--pairs", pairs, "--corpus", corpus, "--query-embeddings", short, "--corpus-embeddings", cnpy, "--out", out}, "--query-embeddings " + short + ": 2 rows but " + pairs + " has 4 JSON lines"},
		{"corpus npy rows", []string{"--pairs", pairs, "--corpus", corpus, "--query-embeddings", qnpy, "--corpus-embeddings", short, "--out", out}, "--corpus-embeddings " + short + ": 2 rows"},
		{"range", append([]string{"--pairs", pairs, "--out", out, "--range-min", "5", "--range-max", "5"}, emb...), "--range-max 5 must be greater than --range-min 5"},
		{"format", append([]string{"--pairs", pairs, "--out", out, "--output-format", "csv"}, emb...), "--output-format"},
		{"sampling", append([]string{"--pairs", pairs, "--out", out, "--sampling", "best"}, emb...), "--sampling"},
		{"two inputs", append([]string{"--pairs", pairs, "--labelled", pairs, "--out", out}, emb...), "--pairs and --labelled"},
		{"overwrite input", append([]string{"--pairs", pairs, "--out", corpus}, emb...), "would overwrite the input file"},
		{"no model", []string{"--pairs", pairs, "--out", out}, "--model"},
		{"no out folder", append([]string{"--pairs", pairs, "--out", filepath.Join(dir, "nope", "o.jsonl")}, emb...), "does not exist"},
		{"no out", append([]string{"--pairs", pairs}, emb...), "missing flag --out"},
		{"bad json", append([]string{"--pairs", mineWriteFile(t, filepath.Join(dir, "bad.jsonl"), `{"anchor":"cat","positive":"feline"}`, `{"anchor":`), "--out", out}, emb...), "bad.jsonl:2: not JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runMineBin(t, tc.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr %s", code, stderr)
			}
			if !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Fatalf("stderr %q, want one line containing %q", stderr, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("output written despite the error")
			}
			if _, err := os.Stat(out + ".manifest.json"); err == nil {
				t.Fatal("manifest written despite the error")
			}
		})
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

// TestMineInterrupt sends SIGINT during the search: the command stops
// with exit status 130 and writes nothing.
func TestMineInterrupt(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(9, 9))
	const nq, nc, d = 2000, 20000, 128
	var pairLines, corpusLines []string
	qrows, crows := make([][]float32, nq), make([][]float32, nc)
	for i := range nc {
		corpusLines = append(corpusLines, fmt.Sprintf(`{"text":"doc %d"}`, i))
		crows[i] = make([]float32, d)
		for j := range crows[i] {
			crows[i][j] = float32(r.NormFloat64())
		}
	}
	for i := range nq {
		pairLines = append(pairLines, fmt.Sprintf(`{"anchor":"query %d","positive":"doc %d"}`, i, i))
		qrows[i] = make([]float32, d)
		for j := range qrows[i] {
			qrows[i][j] = float32(r.NormFloat64())
		}
	}
	pairs := mineWriteFile(t, filepath.Join(dir, "pairs.jsonl"), pairLines...)
	corpus := mineWriteFile(t, filepath.Join(dir, "corpus.jsonl"), corpusLines...)
	qnpy := mineWriteNPY(t, filepath.Join(dir, "q.npy"), qrows...)
	cnpy := mineWriteNPY(t, filepath.Join(dir, "c.npy"), crows...)
	out := filepath.Join(dir, "neg.jsonl")
	// Tiny blocks (10 million GEMM calls) make the search slow (many seconds)
	// and cancellable at once.
	cmd := exec.Command(embfitBin, "mine", "--pairs", pairs, "--corpus", corpus, "--query-embeddings", qnpy,
		"--corpus-embeddings", cnpy, "--query-block", "1", "--corpus-block", "4", "--out", out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("wait: %v (stderr %s); want exit status 130", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "embfit: interrupted") {
		t.Errorf("stderr: %s", stderr.String())
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "neg") || strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// TestMineGloVeLabelled mines labelled items with the default encoder: no
// negative ever shares the item's label.
func TestMineGloVeLabelled(t *testing.T) {
	model := "../../models/glove-100d"
	if _, err := os.Stat(filepath.Join(model, "model.onnx")); err != nil {
		t.Skipf("default encoder not built (run make setup): %v", err)
	}
	dir := t.TempDir()
	items := mineWriteFile(t, filepath.Join(dir, "items.jsonl"),
		`{"text":"a small dog barked","label":"animal"}`,
		`{"text":"the cat slept on the mat","label":"animal"}`,
		`{"text":"a horse ran in the field","label":"animal"}`,
		`{"text":"the car drove down the road","label":"vehicle"}`,
		`{"text":"a truck carried heavy goods","label":"vehicle"}`,
		`{"text":"the bus stopped at the station","label":"vehicle"}`,
		`{"text":"she ate a red apple","label":"food"}`,
		`{"text":"bread and butter for breakfast","label":"food"}`)
	out := filepath.Join(dir, "neg.jsonl")
	_, stderr, code := runMineBin(t, "--model", model, "--labelled", items, "--num-negatives", "2", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	label := map[string]string{}
	b, _ := os.ReadFile(items)
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var it struct{ Text, Label string }
		json.Unmarshal([]byte(l), &it)
		label[it.Text] = it.Label
	}
	b, _ = os.ReadFile(out)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 8*2 {
		t.Fatalf("%d triplets, want 16:\n%s", len(lines), b)
	}
	for _, l := range lines {
		var tr struct{ Anchor, Positive, Negative string }
		if err := json.Unmarshal([]byte(l), &tr); err != nil {
			t.Fatal(err)
		}
		if label[tr.Anchor] != label[tr.Positive] || label[tr.Anchor] == label[tr.Negative] || tr.Anchor == tr.Positive {
			t.Fatalf("bad triplet %s", l)
		}
	}
}

// TestMineLabeledListIncludePositives checks sentence-transformers' two
// output shapes: labeled-list (positive then negatives, labels 1 then 0s)
// and include_positives (the positives ranked among the candidates of an
// n-tuple line), plus the refusal of include_positives with a format
// that cannot keep the ranking.
func TestMineLabeledListIncludePositives(t *testing.T) {
	dir := t.TempDir()
	pairs, corpus, qnpy, cnpy := mineFixture(t, dir)
	emb := []string{"--pairs", pairs, "--corpus", corpus, "--query-embeddings", qnpy, "--corpus-embeddings", cnpy}
	for _, tc := range []struct {
		name  string
		args  []string
		first string
		rows  int
	}{
		{"labeled-list", []string{"--output-format", "labeled-list", "--num-negatives", "2"},
			`{"anchor":"cat","positive":["feline","tiger","wolf"],"labels":[1,0,0]}`, 4},
		// cat's ranking without exclusions but its own text: the two
		// "kitty" rows (a positive's text), then the positive feline.
		{"include-positives", []string{"--output-format", "n-tuple", "--num-negatives", "3", "--include-positives"},
			`{"anchor":"cat","positive":"feline","negative_1":"kitty","negative_2":"kitty","negative_3":"feline"}`, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "o.jsonl")
			if _, stderr, code := runMineBin(t, append(append(emb, tc.args...), "--out", out)...); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			if lines[0] != tc.first || len(lines) != tc.rows {
				t.Fatalf("output:\n%s\nwant %d lines, the first\n%s", b, tc.rows, tc.first)
			}
			man, err := os.ReadFile(out + ".manifest.json")
			if err != nil {
				t.Fatal(err)
			}
			if want := `"include_positives": ` + fmt.Sprint(tc.name == "include-positives"); !strings.Contains(string(man), want) {
				t.Errorf("manifest lacks %s", want)
			}
		})
	}
	out := filepath.Join(dir, "bad.jsonl")
	_, stderr, code := runMineBin(t, append(emb, "--include-positives", "--out", out)...)
	if want := "embfit: --include-positives: needs output format n-tuple or n-tuple-scores, not triplet\n"; code != 2 || stderr != want {
		t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, want)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("refused run wrote its output")
	}
}
