package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/graph"
	"github.com/embfit/embfit/pipeline/dataio"
	"github.com/embfit/embfit/pipeline/head"
	"github.com/embfit/embfit/pipeline/job"
	"github.com/embfit/embfit/pipeline/retrieval"
)

var (
	trainBinOnce sync.Once
	trainBin     string
	trainBinErr  error
)

// trainBinary builds the embfit binary once for the train tests.
func trainBinary(t *testing.T) string {
	t.Helper()
	trainBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "embfit-train-e2e")
		if err != nil {
			trainBinErr = err
			return
		}
		trainBin = filepath.Join(dir, "embfit")
		out, err := exec.Command("go", "build", "-o", trainBin, ".").CombinedOutput()
		if err != nil {
			trainBinErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if trainBinErr != nil {
		t.Fatal(trainBinErr)
	}
	return trainBin
}

func runTrainBin(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(trainBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// textWorld is a synthetic text encoder and pair data set: each pair i
// has an anchor word and a two-word positive whose vectors share a latent
// signal in 4 of 16 dimensions, drowned by word-specific noise in the
// other 12; a linear head can learn to keep the signal.
type textWorld struct {
	dir                string // model folder: model.onnx + tokenizer.json
	train, dev, test   string
	devTexts           []string
	trainPairs, nPairs int
}

func writeJSONL(t *testing.T, path string, rows []map[string]string) {
	t.Helper()
	var b bytes.Buffer
	for _, r := range rows {
		line, _ := json.Marshal(r)
		b.Write(append(line, '\n'))
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func newTextWorld(t *testing.T, nTrain int) *textWorld {
	t.Helper()
	const d = 16
	nPairs := nTrain + 120
	r := rand.New(rand.NewPCG(42, 1))
	vocab := map[string]int{"[PAD]": 0, "[UNK]": 1}
	table := make([]float32, 0, (3*nPairs+2)*d)
	table = append(table, make([]float32, 2*d)...)
	word := func(z []float64) string {
		w := fmt.Sprintf("w%d", len(vocab))
		vocab[w] = len(vocab)
		for k := range d {
			v := 1.2 * r.NormFloat64()
			if k < 4 {
				v = z[k] + 0.1*r.NormFloat64()
			}
			table = append(table, float32(v))
		}
		return w
	}
	var pairs []map[string]string
	for range nPairs {
		z := []float64{r.NormFloat64(), r.NormFloat64(), r.NormFloat64(), r.NormFloat64()}
		a := word(z)
		pairs = append(pairs, map[string]string{"anchor": a, "positive": word(z) + " " + word(z)})
	}
	w := &textWorld{dir: t.TempDir(), trainPairs: nTrain, nPairs: nPairs}
	m := graph.New("tiny-words", 0)
	m.AddInput("input_ids", graph.Int64, graph.Sym("batch"), graph.Sym("tokens"))
	m.AddInput("attention_mask", graph.Int64, graph.Sym("batch"), graph.Sym("tokens"))
	m.AddInitializerFloat("table", []int64{int64(len(vocab)), d}, table)
	m.AddInitializerInt64("axes", []int64{1}, []int64{2})
	m.AddNode("Gather", []string{"table", "input_ids"}, []string{"vectors"}, graph.AttrInt("axis", 0))
	m.AddNode("Cast", []string{"attention_mask"}, []string{"maskf"}, graph.AttrInt("to", int64(graph.Float)))
	m.AddNode("Unsqueeze", []string{"maskf", "axes"}, []string{"mask3"})
	m.AddNode("Mul", []string{"vectors", "mask3"}, []string{"last_hidden_state"})
	m.AddOutput("last_hidden_state", graph.Float, graph.Sym("batch"), graph.Sym("tokens"), graph.Fixed(d))
	if err := m.Save(filepath.Join(w.dir, "model.onnx")); err != nil {
		t.Fatal(err)
	}
	tok := map[string]any{
		"version": "1.0", "truncation": nil, "padding": nil,
		"added_tokens": []map[string]any{
			{"id": 0, "content": "[PAD]", "special": true, "normalized": false},
			{"id": 1, "content": "[UNK]", "special": true, "normalized": false}},
		"normalizer":     map[string]any{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": nil, "lowercase": true},
		"pre_tokenizer":  map[string]any{"type": "BertPreTokenizer"},
		"post_processor": nil,
		"model":          map[string]any{"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"},
	}
	b, _ := json.Marshal(tok)
	if err := os.WriteFile(filepath.Join(w.dir, "tokenizer.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	w.train, w.dev, w.test = filepath.Join(data, "train.jsonl"), filepath.Join(data, "dev.jsonl"), filepath.Join(data, "test.jsonl")
	writeJSONL(t, w.train, pairs[:nTrain])
	writeJSONL(t, w.dev, pairs[nTrain:nTrain+60])
	writeJSONL(t, w.test, pairs[nTrain+60:])
	for _, p := range pairs[nTrain : nTrain+60] {
		w.devTexts = append(w.devTexts, p["anchor"], p["positive"])
	}
	return w
}

type testMetrics struct {
	Before, After retrieval.Metrics
}

func TestTrainEndToEnd(t *testing.T) {
	w := newTextWorld(t, 400)
	run := filepath.Join(t.TempDir(), "run")
	cache := t.TempDir()
	args := []string{"train", "--model", w.dir, "--train", w.train, "--dev", w.dev, "--test", w.test, "--out", run,
		"--epochs", "4", "--batch-size", "32", "--mine-negatives", "2", "--lr", "0.01", "--cache-dir", cache, "--seed", "3"}
	stdout, stderr, code := runTrainBin(t, nil, args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	t.Logf("stdout:\n%s", stdout)
	for _, f := range []string{"config.json", "metrics.jsonl", "head.onnx", "merged.onnx", "tokenizer.json", "test_metrics.json", "checkpoints/last.ckpt"} {
		if _, err := os.Stat(filepath.Join(run, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	if !strings.Contains(stderr, "mine: ") || !strings.Contains(stderr, "encoded") {
		t.Errorf("stderr lacks the embed/mine lines:\n%s", stderr)
	}
	var tm testMetrics
	b, _ := os.ReadFile(filepath.Join(run, "test_metrics.json"))
	if err := json.Unmarshal(b, &tm); err != nil {
		t.Fatal(err)
	}
	if tm.After.MAPAtR < tm.Before.MAPAtR+0.05 || tm.After.RecallAtK(1) <= tm.Before.RecallAtK(1) {
		t.Errorf("test MAP@R %.3f → %.3f, recall@1 %.3f → %.3f: no improvement", tm.Before.MAPAtR, tm.After.MAPAtR, tm.Before.RecallAtK(1), tm.After.RecallAtK(1))
	}
	lines := strings.Count(readFile(t, filepath.Join(run, "metrics.jsonl")), "\n")
	if lines != 5 {
		t.Errorf("metrics.jsonl has %d lines, want 5 (baseline + 4 epochs)", lines)
	}

	// A second run with other hyperparameters is served from the cache.
	_, stderr2, code := runTrainBin(t, nil, "train", "--model", w.dir, "--train", w.train, "--out", filepath.Join(t.TempDir(), "r2"),
		"--epochs", "1", "--cache-dir", cache, "--head", "mlp")
	if code != 0 || !strings.Contains(stderr2, "0 encoded") {
		t.Errorf("second run (exit %d) did not use the cache:\n%s", code, stderr2)
	}

	// merged.onnx (pooling none) equals head(encoder) computed in Go.
	_, hd, err := job.LoadRunHead(run)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := onnx.OpenEncoder(w.dir, onnx.EncoderSettings{})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	base := linalg.NewMatrix(len(w.devTexts), enc.Dim())
	if err := enc.Encode(context.Background(), base, w.devTexts); err != nil {
		t.Fatal(err)
	}
	want := normalizedHead(hd, base)
	merged, err := onnx.OpenEncoder(filepath.Join(run, "merged.onnx"), onnx.EncoderSettings{Pooling: onnx.PoolingNone})
	if err != nil {
		t.Fatal(err)
	}
	defer merged.Close()
	got := linalg.NewMatrix(base.Rows, hd.Settings().Out)
	if err := merged.Encode(context.Background(), got, w.devTexts); err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(got.Data, want.Data); d > 1e-5 {
		t.Errorf("merged.onnx vs head(encoder) in Go: max |diff| %g", d)
	}
	// The same through `embfit embed --model RUN/merged.onnx --pooling none`.
	var rows []map[string]string
	for _, x := range w.devTexts {
		rows = append(rows, map[string]string{"text": x})
	}
	texts := filepath.Join(t.TempDir(), "texts.jsonl")
	writeJSONL(t, texts, rows)
	npy := filepath.Join(t.TempDir(), "emb.npy")
	if so, se, code := runTrainBin(t, nil, "embed", "--model", filepath.Join(run, "merged.onnx"), "--pooling", "none", "--input", texts, "--out", npy); code != 0 {
		t.Fatalf("embed: exit %d\n%s%s", code, so, se)
	}
	viaCLI, err := dataio.ReadNPY(npy)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(viaCLI.Data, want.Data); d > 1e-5 {
		t.Errorf("embfit embed with merged.onnx vs head(encoder) in Go: max |diff| %g", d)
	}
	// head.onnx in ORT gives the head's outputs.
	sess, err := onnx.OpenSession(filepath.Join(run, "head.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out, err := sess.Run(map[string]onnx.Tensor{head.InputName: {Shape: []int64{int64(base.Rows), int64(base.Cols)}, Float: base.Data}})
	if err != nil {
		t.Fatal(err)
	}
	head.Apply(hd, want, base)
	if d := maxDiff(out[0].Float, want.Data); d > 1e-5 {
		t.Errorf("head.onnx vs Go head: max |diff| %g", d)
	}

	// embfit export re-creates the same files.
	before := readFile(t, filepath.Join(run, "head.onnx"))
	os.Remove(filepath.Join(run, "head.onnx"))
	os.Remove(filepath.Join(run, "merged.onnx"))
	if so, se, code := runTrainBin(t, nil, "export", "--run", run); code != 0 {
		t.Fatalf("export: exit %d\n%s%s", code, so, se)
	}
	if readFile(t, filepath.Join(run, "head.onnx")) != before {
		t.Error("re-exported head.onnx differs")
	}
	if _, err := os.Stat(filepath.Join(run, "merged.onnx")); err != nil {
		t.Error(err)
	}
}

func maxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var m float64
	for i := range a {
		m = max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTrainResumeAfterSIGKILL kills a training run mid-epoch, resumes it
// and checks that the final head equals an uninterrupted run's, bit for
// bit.
func TestTrainResumeAfterSIGKILL(t *testing.T) {
	w := newTextWorld(t, 240)
	cache := t.TempDir()
	common := []string{"--model", w.dir, "--train", w.train, "--dev", w.dev, "--epochs", "3", "--batch-size", "16",
		"--mine-negatives", "2", "--lr", "0.01", "--cache-dir", cache, "--seed", "9", "--checkpoint-every", "4", "--patience", "-1"}
	full := filepath.Join(t.TempDir(), "full")
	if so, se, code := runTrainBin(t, nil, append([]string{"train", "--out", full}, common...)...); code != 0 {
		t.Fatalf("uninterrupted run: exit %d\n%s%s", code, so, se)
	}

	killed := filepath.Join(t.TempDir(), "killed")
	// Kill ~6 steps into epoch 2 (15 steps per epoch, checkpoints every 4).
	werr, log := interruptTrain(t, append([]string{"train", "--out", killed}, common...), "epoch: epoch 1/3", syscall.SIGKILL)
	if ee, ok := werr.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("run was not killed (%v); its log:\n%s", werr, log)
	}
	if _, err := os.Stat(filepath.Join(killed, "head.onnx")); err == nil {
		t.Fatal("killed run already finished")
	}
	metrics := readFile(t, filepath.Join(killed, "metrics.jsonl"))
	if n := strings.Count(metrics, "\n"); n != 2 {
		t.Fatalf("killed run's metrics.jsonl has %d lines, want 2 (baseline, epoch 1)", n)
	}
	// Resume, and interrupt again with SIGINT mid-epoch 3: a clean stop
	// with exit status 130 and a checkpoint.
	werr, log = interruptTrain(t, []string{"train", "--resume", killed}, "epoch: epoch 2/3", syscall.SIGINT)
	if ee, ok := werr.(*exec.ExitError); !ok || ee.ExitCode() != 130 || !strings.Contains(log, "--resume "+killed) {
		t.Fatalf("SIGINT: %v; log:\n%s", werr, log)
	}
	if so, se, code := runTrainBin(t, nil, "train", "--resume", killed); code != 0 {
		t.Fatalf("resume: exit %d\n%s%s", code, so, se)
	}
	for _, f := range []string{"head.onnx", "merged.onnx", "metrics.jsonl"} {
		if readFile(t, filepath.Join(full, f)) != readFile(t, filepath.Join(killed, f)) {
			t.Errorf("%s differs between the uninterrupted and the resumed run", f)
		}
	}
	_, h1, err1 := job.LoadRunHead(full)
	_, h2, err2 := job.LoadRunHead(killed)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	a, b := h1.Params(), h2.Params()
	for i := range a {
		for k := range a[i].Data {
			if math.Float32bits(a[i].Data[k]) != math.Float32bits(b[i].Data[k]) {
				t.Fatalf("head parameter %d[%d]: %v vs %v", i, k, a[i].Data[k], b[i].Data[k])
			}
		}
	}
}

// interruptTrain runs embfit with a slowed-down training loop and sends
// sig ~6 steps after stderr shows a line starting with after. It returns
// the process's exit error and its standard error.
func interruptTrain(t *testing.T, args []string, after string, sig syscall.Signal) (error, string) {
	t.Helper()
	cmd := exec.Command(trainBinary(t), append(args, "--step-delay", "40ms")...)
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(errPipe)
	var log strings.Builder
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), after) {
			time.Sleep(6 * 40 * time.Millisecond)
			cmd.Process.Signal(sig)
			break
		}
	}
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
	}
	return cmd.Wait(), log.String()
}

func TestTrainBadInput(t *testing.T) {
	w := newTextWorld(t, 50)
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(bad, []byte("{\"anchor\":\"w2\",\"positive\":\"w3 w4\"}\n{\"anchor\":\"w5\"}\n"), 0o644)
	existing := filepath.Join(t.TempDir(), "run")
	os.MkdirAll(existing, 0o755)
	os.WriteFile(filepath.Join(existing, "config.json"), []byte("{}"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want string
		out  string
	}{
		{"no train", []string{"train", "--model", w.dir, "--out", filepath.Join(t.TempDir(), "r")}, "--train is required", ""},
		{"bad line", []string{"train", "--model", w.dir, "--train", bad, "--out", filepath.Join(t.TempDir(), "r"), "--cache-dir", "none"}, bad + ":2: missing field \"positive\"", "r"},
		{"bad loss", []string{"train", "--model", w.dir, "--train", w.train, "--out", filepath.Join(t.TempDir(), "r"), "--loss", "infonce:tau=1"}, "unknown key", ""},
		{"bad weight", []string{"train", "--model", w.dir, "--train", w.train, "--out", filepath.Join(t.TempDir(), "r"), "--loss", "x*infonce"}, "weight", ""},
		{"NaN weight", []string{"train", "--model", w.dir, "--train", w.train, "--out", filepath.Join(t.TempDir(), "r"), "--loss", "NaN*infonce"}, `--loss: "NaN*infonce": weight "NaN" must be a finite positive number`, ""},
		{"NaN margin", []string{"train", "--model", w.dir, "--train", w.train, "--out", filepath.Join(t.TempDir(), "r"), "--loss", "triplet:margin=NaN"}, `--loss: "triplet:margin=NaN": margin must be a finite number, got NaN`, ""},
		{"bad head", []string{"train", "--model", w.dir, "--train", w.train, "--out", filepath.Join(t.TempDir(), "r"), "--head", "conv"}, "unknown kind", ""},
		{"existing run", []string{"train", "--model", w.dir, "--train", w.train, "--out", existing, "--cache-dir", "none"}, "already holds a run", ""},
		{"missing model", []string{"train", "--model", "/nonexistent/m.onnx", "--train", w.train, "--out", filepath.Join(t.TempDir(), "r")}, "/nonexistent/m.onnx", ""},
		{"export without run", []string{"export", "--run", t.TempDir()}, "config.json", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runTrainBin(t, nil, tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, stderr, tc.want)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") > 0 && tc.name != "bad line" {
				t.Errorf("error is not one line: %q", stderr)
			}
		})
	}
	if readFile(t, filepath.Join(existing, "config.json")) != "{}" {
		t.Error("an existing run's config.json was overwritten")
	}
}
