package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/onnxtest"
	"github.com/embfit/embfit/pipeline/dataio"
	"github.com/embfit/embfit/pipeline/job"
)

// TestInspectFolderE2E: inspect prints the resolved pipeline of a
// sentence-transformers folder with where each setting came from, and
// flags show up as explicit.
func TestInspectFolderE2E(t *testing.T) {
	dir := t.TempDir()
	f := onnxtest.STFolder{Model: onnxtest.TokenModel{Template: "bert"}, Pooling: "cls", Normalize: true, MaxSeqLength: 12,
		Prompts: map[string]string{"query": "the quick "}, DefaultPromptName: "query", Similarity: "dot", Variants: []string{"model_O4.onnx"}}
	if _, err := f.Write(dir); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runEmbfit(t, "inspect", "--model", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"file:           onnx/model.onnx (of onnx/model.onnx, onnx/model_O4.onnx)",
		"input:          text                         WordLevel tokenizer " + filepath.Join(dir, "tokenizer.json"),
		"pooling:        cls                          " + filepath.Join(dir, "1_Pooling", "config.json"),
		"normalize:      true                         " + filepath.Join(dir, "modules.json"),
		"max length:     12                           " + filepath.Join(dir, "sentence_bert_config.json"),
		`prompt:         "the quick " (query), 3 tokens ` + filepath.Join(dir, "config_sentence_transformers.json"),
		"similarity:     dot                          " + filepath.Join(dir, "config_sentence_transformers.json"),
		"padding side:   right                        default",
		"note: model folder " + dir + " holds 2 ONNX files",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
	out, errOut, code = runEmbfit(t, "inspect", "--json", "--model", dir, "--file", "model_O4.onnx", "--pooling", "mean", "--max-length", "6", "--prompt-name", "query", "--no-normalize")
	var js struct {
		Pipeline struct {
			File      string `json:"file"`
			Pooling   struct{ Value, From string }
			MaxLength struct {
				Value int
				From  string
			} `json:"max_length"`
			Normalize struct {
				Value bool
				From  string
			}
		} `json:"pipeline"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &js) != nil {
		t.Fatalf("inspect --json: exit %d %s %s", code, out, errOut)
	}
	p := js.Pipeline
	if p.File != "onnx/model_O4.onnx" || p.Pooling.Value != "mean" || p.Pooling.From != "explicit" || p.MaxLength.Value != 6 || p.MaxLength.From != "explicit" || p.Normalize.Value || p.Normalize.From != "explicit" {
		t.Errorf("explicit settings: %+v", p)
	}
	// Bad input: one line naming the file and field, or the flag; exit 2.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--file", "model_O9.onnx"}, `embfit: --file: "model_O9.onnx": not in model folder`},
		{[]string{"--prompt-name", "doc"}, `embfit: --prompt-name: "doc" is not one of the model's prompts (query)`},
		{[]string{"--padding-side", "up"}, `embfit: --padding-side: "up": want left or right`},
	} {
		_, errOut, code := runEmbfit(t, append([]string{"inspect", "--model", dir}, tc.args...)...)
		if code != 2 || !strings.HasPrefix(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
	embedWrite(t, filepath.Join(dir, "1_Pooling", "config.json"), `{"pooling_mode": "sum"}`)
	_, errOut, code = runEmbfit(t, "inspect", "--model", dir)
	if want := "embfit: " + filepath.Join(dir, "1_Pooling", "config.json") + `: pooling_mode: "sum": want cls, mean`; code != 2 || !strings.HasPrefix(errOut, want) {
		t.Errorf("bad pooling config: exit %d, %q, want %q", code, errOut, want)
	}
}

// TestEmbedFolderE2E: embed uses a folder's pooling, normalization,
// max length and default prompt with no flags.
func TestEmbedFolderE2E(t *testing.T) {
	dir := t.TempDir()
	f := onnxtest.STFolder{Model: onnxtest.TokenModel{Template: "bert", Layers: 1}, Pooling: "cls", Normalize: true, MaxSeqLength: 4,
		Prompts: map[string]string{"query": "hello "}, DefaultPromptName: "query"}
	w, err := f.Write(filepath.Join(dir, "m"))
	if err != nil {
		t.Fatal(err)
	}
	in := embedWrite(t, filepath.Join(dir, "in.jsonl"), `{"text":"the quick brown fox"}`+"\n"+`{"text":"cat"}`+"\n")
	out := filepath.Join(dir, "e.npy")
	stdout, errOut, code := runEmbfit(t, "embed", "--model", w.Dir, "--input", in, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(stdout, `pooling cls, normalize true, prompt "hello "`) {
		t.Errorf("summary: %s", stdout)
	}
	x, err := dataio.ReadNPY(out)
	if err != nil {
		t.Fatal(err)
	}
	// cls pooling of a causal-free model = the [CLS] token's own vector,
	// normalized: both rows are the same (the prompt and text do not
	// reach the first token).
	vocabCLS := len(w.Vocab) - 2
	h := w.Hidden([]int64{int64(vocabCLS)})[0]
	var n float64
	for _, v := range h {
		n += float64(v) * float64(v)
	}
	for r := 0; r < 2; r++ {
		for j, v := range h {
			if got := float64(x.Data[r*x.Stride+j]); math.Abs(got-float64(v)/math.Sqrt(n)) > 1e-6 {
				t.Fatalf("row %d [%d] = %v, want %v", r, j, got, float64(v)/math.Sqrt(n))
			}
		}
	}
}

// TestEmbedTensorE2E: a tensor model with an NHWC input, a rank-4 output
// and a fixed batch of 1 embeds nested and flat JSON items; a wrong
// shape or count exits 2 naming the file and line.
func TestEmbedTensorE2E(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "speech.onnx")
	wts, d, err := (onnxtest.TensorModel{ItemShape: []int64{3, 2, 1}, OutShape: []int64{1, 1, 4}, FixedBatch: 1}).Write(model)
	if err != nil {
		t.Fatal(err)
	}
	nested := func(v []float64) string {
		return fmt.Sprintf("[[[%g],[%g]],[[%g],[%g]],[[%g],[%g]]]", v[0], v[1], v[2], v[3], v[4], v[5])
	}
	items := [][]float64{{1, 2, 3, 4, 5, 6}, {0.5, -1, 0, 2, 1, 1}, {3, 3, 3, 3, 3, 3}}
	lines := fmt.Sprintf(`{"id":"a","tensor":%s}`+"\n"+`{"id":"b","tensor":[%g,%g,%g,%g,%g,%g]}`+"\n"+`{"id":"c","tensor":%s}`+"\n",
		nested(items[0]), items[1][0], items[1][1], items[1][2], items[1][3], items[1][4], items[1][5], nested(items[2]))
	in := embedWrite(t, filepath.Join(dir, "in.jsonl"), lines)
	out := filepath.Join(dir, "e.npy")
	_, errOut, code := runEmbfit(t, "embed", "--model", model, "--input", in, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "batch size 64: the model's batch dimension is fixed at 1: using 1") || strings.Count(errOut, "batch dimension") != 1 {
		t.Errorf("want one note about the batch size, got %q", errOut)
	}
	x, err := dataio.ReadNPY(out)
	if err != nil {
		t.Fatal(err)
	}
	if x.Rows != 3 || x.Cols != d {
		t.Fatalf("embeddings %dx%d", x.Rows, x.Cols)
	}
	for i, it := range items {
		for j := 0; j < d; j++ {
			var want float64
			for k, v := range it {
				want += v * float64(wts[k*d+j])
			}
			if got := float64(x.Data[i*x.Stride+j]); math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
				t.Fatalf("item %d [%d] = %v, want %v", i, j, got, want)
			}
		}
	}
	// The same items from a .npy [N,3,2,1] with a sidecar for ids.
	npyIn := filepath.Join(dir, "items.npy")
	writeNPYTensor(t, npyIn, []int{3, 3, 2, 1}, append(append(append([]float64(nil), items[0]...), items[1]...), items[2]...))
	embedWrite(t, filepath.Join(dir, "items.ids.jsonl"), `{"id":"a"}`+"\n"+`{"id":"b","label":"x"}`+"\n"+`{"id":"c"}`+"\n")
	out2 := filepath.Join(dir, "e2.npy")
	if _, errOut, code := runEmbfit(t, "embed", "--model", model, "--input", npyIn, "--out", out2); code != 0 {
		t.Fatalf(".npy input: exit %d: %s", code, errOut)
	}
	x2, err := dataio.ReadNPY(out2)
	if err != nil {
		t.Fatal(err)
	}
	for k := range x.Data {
		if x.Data[k] != x2.Data[k] {
			t.Fatalf(".npy and JSONL inputs differ at %d", k)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "e2.ids.jsonl")); !strings.Contains(string(b), `{"row":1,"line":2,"id":"b","label":"x"}`) {
		t.Errorf("sidecar: %s", b)
	}
	badNPY := filepath.Join(dir, "wrong.npy")
	writeNPYTensor(t, badNPY, []int{1, 2, 3, 1}, []float64{1, 2, 3, 4, 5, 6})
	if _, errOut, code := runEmbfit(t, "embed", "--model", model, "--input", badNPY, "--out", filepath.Join(dir, "e3.npy")); code != 2 ||
		!strings.Contains(errOut, badNPY+": items: shape [2 3 1]: dimension 1 has 2 values, the model's item shape [3 2 1] needs 3") {
		t.Errorf("bad .npy: exit %d, %q", code, errOut)
	}
	for _, tc := range []struct {
		line, want string
	}{
		{`{"tensor":[[[1],[2]],[[3],[4]]]}`, `:2: field "tensor": shape [2 2 1]: dimension 1 has 2 values, the model's item shape [3 2 1] needs 3`},
		{`{"tensor":[[[1,2]],[[3,4]],[[5,6]]]}`, `:2: field "tensor": shape [3 1 2]: dimension 2 has 1 values`},
		{`{"tensor":[1,2,3,4,5]}`, `:2: field "tensor": 5 values, the model's item shape [3 2 1] needs 6`},
	} {
		bad := embedWrite(t, filepath.Join(dir, "bad.jsonl"), fmt.Sprintf(`{"tensor":%s}`, nested(items[0]))+"\n"+tc.line+"\n")
		badOut := filepath.Join(dir, "bad.npy")
		_, errOut, code := runEmbfit(t, "embed", "--model", model, "--input", bad, "--out", badOut)
		if code != 2 || !strings.Contains(errOut, bad+tc.want) || strings.Count(errOut, "embfit: ") != 2 {
			t.Errorf("%s: exit %d, stderr %q, want %q", tc.line, code, errOut, bad+tc.want)
		}
		if _, err := os.Stat(badOut); !os.IsNotExist(err) {
			t.Errorf("%s: output written", tc.line)
		}
	}
}

// writeNPYTensor writes a float32 C-order .npy of any shape.
func writeNPYTensor(t *testing.T, path string, shape []int, data []float64) {
	t.Helper()
	dims := ""
	for _, d := range shape {
		dims += fmt.Sprintf("%d, ", d)
	}
	header := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", strings.TrimSuffix(dims, " "))
	for (10+len(header)+1)%64 != 0 {
		header += " "
	}
	header += "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(header)), byte(len(header)>>8))
	b = append(b, header...)
	for _, v := range data {
		u := math.Float32bits(float32(v))
		b = append(b, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTrainOnFolderE2E: training on a sentence-transformers folder (cls
// pooling, Normalize, left padding, a default prompt) uses the folder's
// pipeline, records it in config.json, and the finished run is itself a
// model folder: `embfit embed --model RUN` with no flags gives
// head(encoder) normalized, and inspect says the merged model pools.
func TestTrainOnFolderE2E(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "st")
	f := onnxtest.STFolder{Model: onnxtest.TokenModel{Template: "bert", Layers: 1, Seed: 5}, Pooling: "cls", Normalize: true, PaddingSide: "left",
		Prompts: map[string]string{"query": "hello "}, DefaultPromptName: "query", MaxSeqLength: 16}
	if _, err := f.Write(model); err != nil {
		t.Fatal(err)
	}
	words := onnxtest.DefaultWords[:13]
	var pairs []map[string]string
	for i := 0; i < 60; i++ {
		pairs = append(pairs, map[string]string{"anchor": words[i%13] + " " + words[(i*7)%13], "positive": words[(i*3)%13] + " " + words[(i*5+1)%13] + " " + words[i%13]})
	}
	train := filepath.Join(dir, "train.jsonl")
	writeJSONL(t, train, pairs)
	run := filepath.Join(dir, "run")
	if stdout, stderr, code := runTrainBin(t, nil, "train", "--model", model, "--train", train, "--out", run, "--epochs", "2", "--batch-size", "16", "--head", "linear", "--seed", "1"); code != 0 {
		t.Fatalf("train: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var cfg struct {
		Encoder struct {
			Pooling   string `json:"pooling"`
			Normalize bool   `json:"normalize"`
		} `json:"encoder"`
		Pipeline struct {
			Pooling struct{ Value, From string }
			Prompt  struct{ Value, From string }
		} `json:"encoder_pipeline"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(run, "config.json"))), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Encoder.Pooling != "cls" || !cfg.Encoder.Normalize || cfg.Pipeline.Pooling.From != filepath.Join(model, "1_Pooling", "config.json") || cfg.Pipeline.Prompt.Value != "hello " {
		t.Errorf("config.json: %+v", cfg)
	}
	texts := []string{"the quick brown fox", "cat", "over the lazy dog"}
	in := embedWrite(t, filepath.Join(dir, "in.jsonl"), `{"text":"the quick brown fox"}`+"\n"+`{"text":"cat"}`+"\n"+`{"text":"over the lazy dog"}`+"\n")
	out := filepath.Join(dir, "run.npy")
	if _, errOut, code := runEmbfit(t, "embed", "--model", run, "--input", in, "--out", out); code != 0 {
		t.Fatalf("embed with the run folder: exit %d: %s", code, errOut)
	}
	got, err := dataio.ReadNPY(out)
	if err != nil {
		t.Fatal(err)
	}
	_, hd, err := job.LoadRunHead(run)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := onnx.OpenEncoder(model, onnx.EncoderSettings{})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	base := linalg.NewMatrix(len(texts), enc.Dim())
	if err := enc.Encode(context.Background(), base, texts); err != nil {
		t.Fatal(err)
	}
	want := normalizedHead(hd, base)
	if d := maxDiff(got.Data, want.Data); d > 1e-5 {
		t.Errorf("run folder embeds %v away from head(encoder)", d)
	}
	stdout, _, code := runEmbfit(t, "inspect", "--model", run)
	for _, w := range []string{
		"pooling:        none                         model",
		"normalize:      true                         " + filepath.Join(run, "modules.json"),
		`prompt:         "hello " (query), 2 tokens   ` + filepath.Join(run, "config_sentence_transformers.json"),
		"padding side:   left                         " + filepath.Join(run, "tokenizer_config.json"),
	} {
		if code != 0 || !strings.Contains(stdout, w) {
			t.Errorf("inspect of the run lacks %q:\n%s", w, stdout)
		}
	}
}

// TestMinePromptsE2E: mine embeds queries and corpus with their own
// prompts (by name from the model folder), records both pipelines in the
// manifest, and gives byte-identical output to mining precomputed
// embeddings made with `embed --prompt-name`.
func TestMinePromptsE2E(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "st")
	f := onnxtest.STFolder{Model: onnxtest.TokenModel{Template: "bert", Layers: 1, Seed: 9}, Pooling: "mean", Normalize: true,
		Prompts: map[string]string{"query": "hello world ", "document": "red "}}
	if _, err := f.Write(model); err != nil {
		t.Fatal(err)
	}
	words := onnxtest.DefaultWords
	var pairs, corpus []map[string]string
	for i := 0; i < 20; i++ {
		pairs = append(pairs, map[string]string{"anchor": words[i%20] + " " + words[(i*3)%20], "positive": words[(i*7)%20] + " " + words[(i+5)%20]})
	}
	for i := 0; i < 40; i++ {
		corpus = append(corpus, map[string]string{"text": words[(i*11)%20] + " " + words[(i*13+1)%20] + " " + words[i%20]})
	}
	for _, p := range pairs {
		corpus = append(corpus, map[string]string{"text": p["positive"]})
	}
	pairsFile, corpusFile := filepath.Join(dir, "pairs.jsonl"), filepath.Join(dir, "corpus.jsonl")
	writeJSONL(t, pairsFile, pairs)
	writeJSONL(t, corpusFile, corpus)
	out1 := filepath.Join(dir, "a.jsonl")
	if _, errOut, code := runEmbfit(t, "mine", "--model", model, "--pairs", pairsFile, "--corpus", corpusFile, "--out", out1,
		"--query-prompt-name", "query", "--corpus-prompt-name", "document"); code != 0 {
		t.Fatalf("mine: exit %d: %s", code, errOut)
	}
	var man struct {
		Encoder map[string]struct {
			Prompt struct{ Value, From string }
		} `json:"encoder"`
	}
	if err := json.Unmarshal([]byte(readFile(t, out1+".manifest.json")), &man); err != nil {
		t.Fatal(err)
	}
	if man.Encoder["query"].Prompt.Value != "hello world " || man.Encoder["corpus"].Prompt.Value != "red " {
		t.Errorf("manifest encoder: %+v", man.Encoder)
	}
	q, c := filepath.Join(dir, "q.npy"), filepath.Join(dir, "c.npy")
	for _, e := range [][]string{{pairsFile, "anchor", "query", q}, {corpusFile, "text", "document", c}} {
		if _, errOut, code := runEmbfit(t, "embed", "--model", model, "--input", e[0], "--field", e[1], "--prompt-name", e[2], "--out", e[3]); code != 0 {
			t.Fatalf("embed: exit %d: %s", code, errOut)
		}
	}
	out2 := filepath.Join(dir, "b.jsonl")
	if _, errOut, code := runEmbfit(t, "mine", "--pairs", pairsFile, "--corpus", corpusFile, "--query-embeddings", q, "--corpus-embeddings", c, "--out", out2); code != 0 {
		t.Fatalf("mine from embeddings: exit %d: %s", code, errOut)
	}
	if a, b := readFile(t, out1), readFile(t, out2); a != b || a == "" {
		t.Errorf("mine with prompts differs from mining the prompted embeddings:\n%s\n---\n%s", a, b)
	}
	// Without prompts the negatives change (the prompts matter here).
	out3 := filepath.Join(dir, "c.jsonl")
	if _, errOut, code := runEmbfit(t, "mine", "--model", model, "--pairs", pairsFile, "--corpus", corpusFile, "--out", out3); code != 0 {
		t.Fatalf("mine: exit %d: %s", code, errOut)
	}
	if readFile(t, out3) == readFile(t, out1) {
		t.Errorf("prompts changed nothing")
	}
	_, errOut, code := runEmbfit(t, "mine", "--model", model, "--pairs", pairsFile, "--out", filepath.Join(dir, "d.jsonl"), "--query-prompt-name", "q")
	if code != 2 || !strings.HasPrefix(errOut, `embfit: --query-prompt-name: "q" is not one of the model's prompts (document, query)`) {
		t.Errorf("bad prompt name: exit %d, %q", code, errOut)
	}
}

// TestAuditPromptsE2E: audit --model embeds anchors and positives with
// their prompts and records the pipelines in its JSON.
func TestAuditPromptsE2E(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "st")
	f := onnxtest.STFolder{Model: onnxtest.TokenModel{Template: "bert", Layers: 1, Seed: 9}, Pooling: "mean",
		Prompts: map[string]string{"query": "hello world ", "document": "red "}}
	if _, err := f.Write(model); err != nil {
		t.Fatal(err)
	}
	words := onnxtest.DefaultWords
	var pairs []map[string]string
	for i := 0; i < 30; i++ {
		pairs = append(pairs, map[string]string{"anchor": words[i%20] + " " + words[(i*3)%20], "positive": words[(i*7)%20] + " " + words[(i+5)%20]})
	}
	in := filepath.Join(dir, "pairs.jsonl")
	writeJSONL(t, in, pairs)
	audit := func(extra ...string) (string, map[string]any) {
		out := filepath.Join(dir, fmt.Sprintf("a%d.json", len(extra)))
		_, errOut, code := runEmbfit(t, append([]string{"audit", "--model", model, "--input", in, "--json", out}, extra...)...)
		if code != 0 {
			t.Fatalf("audit %v: exit %d: %s", extra, code, errOut)
		}
		var rep map[string]any
		s := readFile(t, out)
		if err := json.Unmarshal([]byte(s), &rep); err != nil {
			t.Fatal(err)
		}
		return s, rep
	}
	plain, _ := audit()
	_, rep := audit("--query-prompt-name", "query", "--corpus-prompt-name", "document")
	enc, _ := rep["encoder"].(map[string]any)
	anchors, _ := enc["anchors"].(map[string]any)
	positives, _ := enc["positives"].(map[string]any)
	if anchors["prompt"].(map[string]any)["value"] != "hello world " || positives["prompt"].(map[string]any)["value"] != "red " {
		t.Errorf("audit JSON encoder: %v", rep["encoder"])
	}
	if r1, r2 := rep["retrieval"], func() any { var x map[string]any; json.Unmarshal([]byte(plain), &x); return x["retrieval"] }(); fmt.Sprint(r1) == fmt.Sprint(r2) {
		t.Errorf("prompts changed no retrieval metric")
	}
	_, errOut, code := runEmbfit(t, "audit", "--model", model, "--input", in, "--corpus-prompt-name", "doc")
	if code != 2 || !strings.HasPrefix(errOut, `embfit: --corpus-prompt-name: "doc" is not one of the model's prompts`) {
		t.Errorf("bad prompt name: exit %d, %q", code, errOut)
	}
}

// TestTensorModelCommandsE2E: a tensor model with an NHWC input, a rank-4
// output and a fixed batch of 1 embeds labelled items from JSONL and from
// .npy; mine and audit run on its embeddings; commands that need text
// say so, naming the command and the model's input.
func TestTensorModelCommandsE2E(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "img.onnx")
	if _, _, err := (onnxtest.TensorModel{ItemShape: []int64{2, 2, 1}, OutShape: []int64{1, 1, 3}, FixedBatch: 1}).Write(model); err != nil {
		t.Fatal(err)
	}
	var lines strings.Builder
	var flat []float64
	for i := 0; i < 24; i++ {
		c := i % 3
		v := []float64{float64(c) + 0.1*float64(i%5), float64(c*c) - 0.05*float64(i%4), 1 - float64(c), 0.3 * float64(i%2)}
		flat = append(flat, v...)
		fmt.Fprintf(&lines, `{"text":"item-%d","label":"c%d","tensor":[[[%g],[%g]],[[%g],[%g]]]}`+"\n", i, c, v[0], v[1], v[2], v[3])
	}
	items := embedWrite(t, filepath.Join(dir, "items.jsonl"), lines.String())
	emb := filepath.Join(dir, "e.npy")
	if _, errOut, code := runEmbfit(t, "embed", "--model", model, "--input", items, "--out", emb); code != 0 {
		t.Fatalf("embed: exit %d: %s", code, errOut)
	}
	npyIn := filepath.Join(dir, "x.npy")
	writeNPYTensor(t, npyIn, []int{24, 2, 2, 1}, flat)
	emb2 := filepath.Join(dir, "e2.npy")
	if _, errOut, code := runEmbfit(t, "embed", "--model", model, "--input", npyIn, "--out", emb2); code != 0 {
		t.Fatalf("embed .npy: exit %d: %s", code, errOut)
	}
	if a, b := readFile(t, emb), readFile(t, emb2); a != b {
		t.Errorf("JSONL and .npy inputs embed differently")
	}
	neg := filepath.Join(dir, "neg.jsonl")
	if _, errOut, code := runEmbfit(t, "mine", "--labelled", items, "--query-embeddings", emb, "--out", neg, "--num-negatives", "2"); code != 0 {
		t.Fatalf("mine: exit %d: %s", code, errOut)
	}
	if n := strings.Count(readFile(t, neg), "\n"); n == 0 {
		t.Errorf("mine wrote nothing")
	}
	if out, errOut, code := runEmbfit(t, "audit", "--embeddings", emb, "--labels", items); code != 0 || !strings.Contains(out, "MAP@R") {
		t.Fatalf("audit: exit %d: %s\n%s", code, errOut, out)
	}
	// train: a head on the tensor encoder, from JSONL and from the .npy
	// (labels from its sidecar); merged.onnx embeds as head(encoder), and
	// the run folder is a tensor model folder.
	embedWrite(t, filepath.Join(dir, "x.ids.jsonl"), func() string {
		var b strings.Builder
		for i := 0; i < 24; i++ {
			fmt.Fprintf(&b, `{"label":"c%d"}`+"\n", i%3)
		}
		return b.String()
	}())
	for _, src := range []string{items, npyIn} {
		run := filepath.Join(dir, "run-"+filepath.Ext(src)[1:])
		stdout, stderr, code := runTrainBin(t, nil, "train", "--model", model, "--train", src, "--out", run,
			"--epochs", "2", "--batch-size", "6", "--per-class", "2", "--head", "linear", "--lr", "0.01", "--seed", "2")
		if code != 0 {
			t.Fatalf("train on %s: exit %d\n%s\n%s", src, code, stdout, stderr)
		}
		if strings.Count(stderr, "batch dimension is fixed at 1") != 1 {
			t.Errorf("train: want one note about the fixed batch:\n%s", stderr)
		}
		_, hd, err := job.LoadRunHead(run)
		if err != nil {
			t.Fatal(err)
		}
		base, err := dataio.ReadNPY(emb)
		if err != nil {
			t.Fatal(err)
		}
		want := normalizedHead(hd, base)
		out := filepath.Join(dir, "merged-"+filepath.Ext(src)[1:]+".npy")
		if _, errOut, code := runEmbfit(t, "embed", "--model", run, "--input", items, "--out", out); code != 0 {
			t.Fatalf("embed with the tensor run folder: exit %d: %s", code, errOut)
		}
		got, err := dataio.ReadNPY(out)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(got.Data, want.Data); d > 1e-5 {
			t.Errorf("%s: the run's merged model is %v away from head(encoder)", src, d)
		}
	}
	if a, b := readFile(t, filepath.Join(dir, "run-jsonl", "head.onnx")), readFile(t, filepath.Join(dir, "run-npy", "head.onnx")); a != b {
		t.Errorf("training from JSONL and from .npy gave different heads")
	}
	bad := embedWrite(t, filepath.Join(dir, "bad.jsonl"), `{"tensor":[[[1],[2]],[[3],[4]]],"label":"a"}`+"\n"+`{"tensor":[[[1],[2]],[[3],[4]],[[5],[6]]],"label":"b"}`+"\n")
	_, errOut, code := runTrainBin(t, nil, "train", "--model", model, "--train", bad, "--out", filepath.Join(dir, "badrun"))
	if want := bad + `:2: field "tensor": shape [3 2 1]: dimension 1 has 3 values, the model's item shape [2 2 1] needs 2`; code != 2 || !strings.Contains(errOut, want) {
		t.Errorf("train on a wrong shape: exit %d, %q, want %q", code, errOut, want)
	}
	// mine --model and audit --model take the tensor items themselves and
	// score exactly as the precomputed embeddings do.
	neg2 := filepath.Join(dir, "neg2.jsonl")
	if _, errOut, code := runEmbfit(t, "mine", "--model", model, "--labelled", items, "--out", neg2, "--num-negatives", "2"); code != 0 {
		t.Fatalf("mine --model: exit %d: %s", code, errOut)
	}
	scores := func(path string) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(readFile(t, path+".manifest.json")), &m); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(m["positive_scores"], m["negative_scores"], m["counts"])
	}
	if a, b := scores(neg), scores(neg2); a != b {
		t.Errorf("mine --model on tensors and mine on their embeddings differ:\n%s\n%s", a, b)
	}
	auditJSON := func(args ...string) map[string]any {
		out := filepath.Join(dir, fmt.Sprintf("audit%d.json", len(args)))
		if _, errOut, code := runEmbfit(t, append(append([]string{"audit"}, args...), "--json", out)...); code != 0 {
			t.Fatalf("audit %v: exit %d: %s", args, code, errOut)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(readFile(t, out)), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	a1, a2 := auditJSON("--embeddings", emb, "--labels", items), auditJSON("--model", model, "--input", items)
	if fmt.Sprint(a1["retrieval"]) != fmt.Sprint(a2["retrieval"]) || a2["encoder"] == nil {
		t.Errorf("audit --model on tensors and audit of their embeddings differ:\n%v\n%v", a1["retrieval"], a2["retrieval"])
	}
	_, errOut, code = runEmbfit(t, "mine", "--model", model, "--labelled", items, "--out", filepath.Join(dir, "m.jsonl"), "--query-prompt", "x")
	if code != 2 || !strings.HasPrefix(errOut, "embfit: --query-prompt: model "+model+" takes a float tensor: prompts do not apply") {
		t.Errorf("prompt on a tensor model: exit %d, %q", code, errOut)
	}
	bad2 := embedWrite(t, filepath.Join(dir, "bad2.jsonl"), `{"tensor":[1,2,3],"label":"a"}`+"\n")
	_, errOut, code = runEmbfit(t, "audit", "--model", model, "--input", bad2)
	if want := bad2 + `:1: field "tensor": 3 values, the model's item shape [2 2 1] needs 4`; code != 2 || !strings.Contains(errOut, want) {
		t.Errorf("audit on a wrong count: exit %d, %q, want %q", code, errOut, want)
	}
}

// TestTrainPromptsE2E: train gives anchors and positives their own
// prompts (recorded in config.json, part of the cache key) and the run
// folder carries them.
func TestTrainPromptsE2E(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "st")
	f := onnxtest.STFolder{Model: onnxtest.TokenModel{Template: "bert", Layers: 1, Seed: 4}, Pooling: "mean", Normalize: true,
		Prompts: map[string]string{"query": "hello world ", "document": "red "}}
	if _, err := f.Write(model); err != nil {
		t.Fatal(err)
	}
	words := onnxtest.DefaultWords
	var pairs []map[string]string
	for i := 0; i < 80; i++ {
		pairs = append(pairs, map[string]string{"anchor": words[i%20] + " " + words[(i*3+1)%20], "positive": words[(i*7)%20] + " " + words[(i+5)%20] + " " + words[i%20]})
	}
	train, test := filepath.Join(dir, "train.jsonl"), filepath.Join(dir, "test.jsonl")
	writeJSONL(t, train, pairs[:60])
	writeJSONL(t, test, pairs[60:])
	cache := t.TempDir()
	trainRun := func(name string, extra ...string) (string, string) {
		run := filepath.Join(dir, name)
		args := append([]string{"train", "--model", model, "--train", train, "--test", test, "--out", run, "--epochs", "1", "--batch-size", "16", "--head", "linear", "--cache-dir", cache}, extra...)
		stdout, stderr, code := runTrainBin(t, nil, args...)
		if code != 0 {
			t.Fatalf("train %v: exit %d\n%s\n%s", extra, code, stdout, stderr)
		}
		return run, stderr
	}
	prompts := []string{"--query-prompt-name", "query", "--corpus-prompt-name", "document"}
	run, _ := trainRun("run", prompts...)
	var cfg struct {
		QueryPromptName string                                  `json:"query_prompt_name"`
		Pipeline        struct{ Prompt struct{ Value string } } `json:"encoder_pipeline"`
		CorpusPipeline  struct{ Prompt struct{ Value string } } `json:"corpus_pipeline"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(run, "config.json"))), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.QueryPromptName != "query" || cfg.Pipeline.Prompt.Value != "hello world " || cfg.CorpusPipeline.Prompt.Value != "red " {
		t.Errorf("config.json: %+v", cfg)
	}
	// Same prompts, other hyperparameters: all from the cache. No
	// prompts: other embeddings (nothing from the cache, other "before").
	_, stderr := trainRun("run2", append(prompts, "--lr", "0.01")...)
	if !strings.Contains(stderr, ", 0 encoded") {
		t.Errorf("same prompts did not use the cache:\n%s", stderr)
	}
	plain, stderr := trainRun("run3")
	if strings.Contains(stderr, ", 0 encoded") {
		t.Errorf("no prompts served from the prompted cache:\n%s", stderr)
	}
	before := func(run string) string {
		var m map[string]any
		json.Unmarshal([]byte(readFile(t, filepath.Join(run, "test_metrics.json"))), &m)
		return fmt.Sprint(m["before"])
	}
	if before(run) == before(plain) {
		t.Errorf("prompts changed no test metric of the frozen encoder")
	}
	stdout, _, code := runEmbfit(t, "inspect", "--model", run, "--prompt-name", "document")
	if code != 0 || !strings.Contains(stdout, `prompt:         "red " (document)`) || !strings.Contains(stdout, `prompts:        document="red " query="hello world "`) {
		t.Errorf("inspect of the run:\n%s", stdout)
	}
}
