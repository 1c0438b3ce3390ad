package main

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/embfit/embfit/onnx/graph"
	"github.com/embfit/embfit/onnx/onnxtest"
	"github.com/embfit/embfit/onnx/tokenizer"
	"github.com/embfit/embfit/pipeline/dataio"
)

func embedTestModel(t *testing.T) onnxtest.Written {
	t.Helper()
	w, err := onnxtest.TokenModel{Dim: 8, Seed: 7}.Write(filepath.Join(t.TempDir(), "model"))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func embedWrite(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestInspectE2E(t *testing.T) {
	w := embedTestModel(t)
	out, errOut, code := runEmbfit(t, "inspect", "--model", w.Dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"opset:    17",
		"input_ids int64[batch,sequence]",
		"attention_mask int64[batch,sequence]",
		"last_hidden_state float32[batch,sequence,8]",
		"tokenizer: " + w.Tokenizer + " (22 tokens)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
	out, _, code = runEmbfit(t, "inspect", "--json", "--model", w.Model)
	var info struct {
		Opset  int `json:"opset"`
		Inputs []struct {
			Name  string   `json:"name"`
			Shape []string `json:"shape"`
		} `json:"inputs"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &info) != nil || info.Opset != 17 || len(info.Inputs) != 2 || info.Inputs[0].Shape[1] != "sequence" {
		t.Fatalf("inspect --json: exit %d, %s", code, out)
	}
}

func TestTokenizeE2E(t *testing.T) {
	w := embedTestModel(t)
	// A folder with only tokenizer.json is enough.
	only := t.TempDir()
	b, _ := os.ReadFile(w.Tokenizer)
	embedWrite(t, filepath.Join(only, "tokenizer.json"), string(b))
	out, errOut, code := runEmbfit(t, "tokenize", "--json", "--model", only, "The quick zebra!", "dog")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("output %q", out)
	}
	var got struct {
		IDs    []int64  `json:"ids"`
		Tokens []string `json:"tokens"`
		Mask   []int    `json:"attention_mask"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatal(err)
	}
	// vocab: [PAD]=0 [UNK]=1 the=2 a=3 quick=4 ... "!"=17
	if strings.Join(got.Tokens, " ") != "the quick [UNK] !" || len(got.IDs) != 4 || got.IDs[0] != 2 || got.IDs[1] != 4 || got.IDs[2] != 1 || got.IDs[3] != 17 || len(got.Mask) != 4 {
		t.Fatalf("tokenize: %s", lines[0])
	}
	out, _, code = runEmbfit(t, "tokenize", "--tokenizer", w.Tokenizer, "dog")
	if code != 0 || !strings.Contains(out, "ids:            10") || !strings.Contains(out, "tokens:         dog") {
		t.Fatalf("text output: %s", out)
	}
}

func TestEmbedE2E(t *testing.T) {
	w := embedTestModel(t)
	tk, err := tokenizer.Load(w.Tokenizer)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in := embedWrite(t, filepath.Join(dir, "data.jsonl"),
		`{"id": "a", "text": "the quick brown fox", "label": "animal"}`+"\n"+
			`{"id": 2, "text": "hello"}`+"\n\n"+
			`{"text": "the lazy dog sat on the mat .", "label": 3}`+"\n")
	out := filepath.Join(dir, "emb.npy")
	stdout, stderr, code := runEmbfit(t, "embed", "--model", w.Dir, "--input", in, "--out", out, "--batch-size", "2", "--normalize")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "embedded 3 items") || !strings.Contains(stdout, "items/s") {
		t.Errorf("final line: %q", stdout)
	}
	m, err := dataio.ReadNPY(out)
	if err != nil {
		t.Fatal(err)
	}
	if m.Rows != 3 || m.Cols != 8 {
		t.Fatalf("shape %dx%d", m.Rows, m.Cols)
	}
	for i, text := range []string{"the quick brown fox", "hello", "the lazy dog sat on the mat ."} {
		ids := tk.Encode(text, 0).IDs
		want := make([]float64, 8)
		var norm float64
		for j := range want {
			for _, id := range ids {
				want[j] += float64(w.Table[int(id)*8+j]) / float64(len(ids))
			}
			norm += want[j] * want[j]
		}
		for j := range want {
			if got := float64(m.Data[i*8+j]); math.Abs(got-want[j]/math.Sqrt(norm)) > 1e-6 {
				t.Fatalf("row %d dim %d: %v, want %v", i, j, got, want[j]/math.Sqrt(norm))
			}
		}
	}
	side, err := os.ReadFile(filepath.Join(dir, "emb.ids.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	wantSide := `{"row":0,"line":1,"id":"a","label":"animal"}` + "\n" +
		`{"row":1,"line":2,"id":2}` + "\n" +
		`{"row":2,"line":4,"label":3}` + "\n"
	if string(side) != wantSide {
		t.Fatalf("sidecar:\n%s\nwant:\n%s", side, wantSide)
	}
	// Standard input gives the same bytes.
	f, _ := os.Open(in)
	defer f.Close()
	out2 := filepath.Join(dir, "stdin.npy")
	if _, stderr, code := runEmbfitIn(t, "", f, "embed", "-m", w.Dir, "-i", "-", "-o", out2, "--normalize"); code != 0 {
		t.Fatalf("stdin: exit %d: %s", code, stderr)
	}
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(out2)
	if string(a) != string(b) {
		t.Error("embedding from stdin with another batch size differs")
	}
}

func TestEmbedE2EBadInput(t *testing.T) {
	w := embedTestModel(t)
	dir := t.TempDir()
	good := embedWrite(t, filepath.Join(dir, "good.jsonl"), `{"text":"a dog"}`+"\n")
	notJSON := embedWrite(t, filepath.Join(dir, "bad.jsonl"), `{"text":"a dog"}`+"\n"+`{"text": nope}`+"\n")
	noField := embedWrite(t, filepath.Join(dir, "nofield.jsonl"), `{"text":"a dog"}`+"\n"+`{"body":"x"}`+"\n")
	empty := embedWrite(t, filepath.Join(dir, "empty.jsonl"), "")
	twoIn := filepath.Join(t.TempDir(), "two.onnx")
	m := graph.New("two", 0)
	m.AddInput("pixels", graph.Float, graph.Sym("batch"), graph.Fixed(2))
	m.AddInput("extra", graph.Float, graph.Sym("batch"), graph.Fixed(2))
	m.AddNode("Add", []string{"pixels", "extra"}, []string{"y"})
	m.AddOutput("y", graph.Float, graph.Sym("batch"), graph.Fixed(2))
	if err := m.Save(twoIn); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.npy")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing model", []string{"--model", filepath.Join(dir, "nope.onnx"), "--input", good}, "nope.onnx: no such file"},
		{"not JSON", []string{"--model", w.Dir, "--input", notJSON}, notJSON + ":2: not JSON"},
		{"missing field", []string{"--model", w.Dir, "--input", noField}, noField + `:2: missing field "text"`},
		{"empty input", []string{"--model", w.Dir, "--input", empty}, empty + ": empty input"},
		{"missing input", []string{"--model", w.Dir, "--input", filepath.Join(dir, "none.jsonl")}, "none.jsonl: no such file"},
		{"unbindable model", []string{"--model", twoIn, "--input", good}, "two.onnx: cannot bind input pixels float32[batch,2]"},
		{"bad pooling", []string{"--model", w.Dir, "--input", good, "--pooling", "sum"}, `--pooling: "sum"`},
		{"bad batch size", []string{"--model", w.Dir, "--input", good, "--batch-size", "0"}, "--batch-size 0"},
		{"unwritable out", []string{"--model", w.Dir, "--input", good, "--out", filepath.Join(dir, "no", "such", "dir", "e.npy")}, "e.npy: cannot write"},
		{"out is input", []string{"--model", w.Dir, "--input", good, "--out", good}, "refusing to overwrite"},
		{"empty out flag", []string{"--model", w.Dir, "--input", good, "--out", ""}, "missing flag --out"},
		{"no out flag", []string{"--model", w.Dir, "--input", good, "--out-not"}, "flag provided but not defined: -out-not"},
		{"no input flag", []string{"--model", w.Dir, "--out", out}, "missing flag --input"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"embed"}, tc.args...)
			if !strings.Contains(strings.Join(tc.args, " "), "--out") {
				args = append(args, "--out", out)
			}
			_, stderr, code := runEmbfit(t, args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "embfit: ") || !strings.Contains(lines[0], tc.want) {
				t.Errorf("stderr %q, want one line containing %q", stderr, tc.want)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if !strings.HasSuffix(e.Name(), ".jsonl") {
					t.Errorf("left behind %s", e.Name())
				}
			}
			if b, _ := os.ReadFile(good); string(b) != `{"text":"a dog"}`+"\n" {
				t.Error("input file changed")
			}
		})
	}
}

func TestEmbedE2EMaxLengthClamp(t *testing.T) {
	w := embedTestModel(t)
	embedWrite(t, filepath.Join(w.Dir, "tokenizer_config.json"), `{"model_max_length": 16}`)
	dir := t.TempDir()
	in := embedWrite(t, filepath.Join(dir, "d.jsonl"), `{"text":"a dog"}`+"\n")
	_, stderr, code := runEmbfit(t, "embed", "-m", w.Dir, "-i", in, "-o", filepath.Join(dir, "e.npy"), "--max-length", "512")
	if code != 0 || !strings.Contains(stderr, "embfit: note: max length 512 is above the model's limit 16") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestEmbedE2EFloatModel(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.onnx")
	wts, err := onnxtest.FloatModel{In: 3, Out: 2, Seed: 1}.Write(p)
	if err != nil {
		t.Fatal(err)
	}
	in := embedWrite(t, filepath.Join(dir, "x.jsonl"), `{"tensor":[1,2,3]}`+"\n"+`{"tensor":[0,-1,0.5],"label":"b"}`+"\n")
	out := filepath.Join(dir, "x.npy")
	if _, stderr, code := runEmbfit(t, "embed", "-m", p, "-i", in, "-o", out); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	m, err := dataio.ReadNPY(out)
	if err != nil {
		t.Fatal(err)
	}
	x := [][]float64{{1, 2, 3}, {0, -1, 0.5}}
	for i := range x {
		for j := 0; j < 2; j++ {
			var want float64
			for k := 0; k < 3; k++ {
				want += x[i][k] * float64(wts[k*2+j])
			}
			if got := float64(m.Data[i*2+j]); math.Abs(got-want) > 1e-5 {
				t.Fatalf("row %d dim %d: %v want %v", i, j, got, want)
			}
		}
	}
}

// SIGINT stops embed: exit status 130, no output file.
func TestEmbedE2EInterrupt(t *testing.T) {
	w := embedTestModel(t)
	dir := t.TempDir()
	var sb strings.Builder
	for i := 0; i < 300000; i++ {
		sb.WriteString(`{"text":"the quick brown fox jumps over the lazy dog"}` + "\n")
	}
	in := embedWrite(t, filepath.Join(dir, "big.jsonl"), sb.String())
	out := filepath.Join(dir, "e.npy")
	cmd := exec.Command(embfitBin, "embed", "-m", w.Dir, "-i", in, "-o", out, "--batch-size", "1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("wait: %v (stderr %q), want exit status 130", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "embfit: interrupted") {
		t.Errorf("stderr %q", stderr.String())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}
}
