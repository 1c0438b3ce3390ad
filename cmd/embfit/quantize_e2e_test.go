package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/embfit/embfit/onnx/onnxtest"
)

// TestQuantizeE2E quantizes a generated BERT-shaped model folder, checks
// the folder Q that comes out (model, tokenizer and configs), embeds with
// it and compares the two models with audit.
func TestQuantizeE2E(t *testing.T) {
	tok, err := onnxtest.ReferenceTokenizer("bert-base-uncased.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	m := filepath.Join(dir, "m")
	if _, err := (onnxtest.Transformer{Layers: 2, Hidden: 32, Heads: 4, FF: 64, Tokenizer: tok, Seed: 5}).Write(m); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"matmul-integer", "dynamic-quantize-matmul"} {
		t.Run(format, func(t *testing.T) {
			q := filepath.Join(t.TempDir(), "q")
			stdout, stderr, code := runEmbfit(t, "quantize", "--model", m, "--out", q, "--format", format)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			want := "wrote " + filepath.Join(q, "model.onnx") + ": 12 MatMul/Gemm weights int8"
			if !strings.HasPrefix(stdout, want) || !strings.Contains(stdout, "carried over: config.json, tokenizer.json, tokenizer_config.json") {
				t.Errorf("stdout %q, want %q… and the carried files", stdout, want)
			}
			ents, _ := os.ReadDir(q)
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			if !slices.Equal(names, []string{"config.json", "model.onnx", "tokenizer.json", "tokenizer_config.json"}) {
				t.Errorf("Q holds %v", names)
			}
			input := filepath.Join(dir, "texts.jsonl")
			var b strings.Builder
			for i, s := range []string{"a dog barks", "the cat sat on the mat", "a small furry animal", "red and blue", "to move fast on foot", "a piece of cloth"} {
				b.WriteString(`{"text":"` + s + `","label":"` + []string{"x", "y"}[i%2] + `"}` + "\n")
			}
			os.WriteFile(input, []byte(b.String()), 0o644)
			npy := filepath.Join(t.TempDir(), "e.npy")
			if _, stderr, code := runEmbfit(t, "embed", "--model", q, "--input", input, "--out", npy); code != 0 {
				t.Fatalf("embed with Q: exit %d: %s", code, stderr)
			}
			if st, err := os.Stat(npy); err != nil || st.Size() != 128+6*32*4 {
				t.Errorf("embeddings: %v %v", st, err)
			}
			j := filepath.Join(t.TempDir(), "audit.json")
			if _, stderr, code := runEmbfit(t, "audit", "--model", m, "--model", q, "--input", input, "--json", j); code != 0 {
				t.Fatalf("audit M Q: exit %d: %s", code, stderr)
			}
			if r := readAuditJSON(t, j); len(r.Compared) != 1 || len(r.Comparison) == 0 {
				t.Errorf("audit compared %d models, %d metrics", len(r.Compared), len(r.Comparison))
			}
		})
	}
}

func TestQuantizeE2EErrors(t *testing.T) {
	dir := t.TempDir()
	tm, err := onnxtest.TokenModel{Dim: 8, Layers: 1}.Write(filepath.Join(dir, "m"))
	if err != nil {
		t.Fatal(err)
	}
	lookup, err := onnxtest.TokenModel{Dim: 8}.Write(filepath.Join(dir, "lookup"))
	if err != nil {
		t.Fatal(err)
	}
	exists := filepath.Join(dir, "exists")
	os.MkdirAll(exists, 0o755)
	os.WriteFile(filepath.Join(exists, "keep.txt"), []byte("mine"), 0o644)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no model", []string{"--out", filepath.Join(dir, "q1")}, "missing flag --model"},
		{"no out", []string{"--model", tm.Dir}, "missing flag --out"},
		{"missing model", []string{"--model", filepath.Join(dir, "nope"), "--out", filepath.Join(dir, "q2")}, filepath.Join(dir, "nope")},
		{"output exists", []string{"--model", tm.Dir, "--out", exists}, "--out " + exists + ": already exists (use --force to replace it)"},
		{"bad format", []string{"--model", tm.Dir, "--out", filepath.Join(dir, "q3"), "--format", "int4"}, `--format "int4": want matmul-integer or dynamic-quantize-matmul`},
		{"nothing to quantize", []string{"--model", lookup.Dir, "--out", filepath.Join(dir, "q4")}, "no MatMul or Gemm node with a float32 weight"},
		{"onto itself", []string{"--model", tm.Dir, "--out", tm.Dir, "--force"}, "the output is the model itself"},
		{"stray argument", []string{"--model", tm.Dir, "--out", filepath.Join(dir, "q5"), "extra"}, `unexpected argument "extra"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runEmbfit(t, append([]string{"quantize"}, tc.args...)...)
			if code != 2 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and one line with %q", code, stdout, stderr, tc.want)
			}
			if strings.Contains(stderr, "goroutine") {
				t.Errorf("stack trace: %s", stderr)
			}
		})
	}
	for _, q := range []string{"q1", "q2", "q3", "q4", "q5"} {
		if _, err := os.Stat(filepath.Join(dir, q)); err == nil {
			t.Errorf("failed run left %s", q)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(exists, "keep.txt")); string(b) != "mine" {
		t.Error("refused output was changed")
	}
	// --force replaces the folder; a file model gives a file.
	if _, stderr, code := runEmbfit(t, "quantize", "--model", tm.Dir, "--out", exists, "--force"); code != 0 {
		t.Fatalf("--force: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(exists, "keep.txt")); err == nil {
		t.Error("--force kept the old folder's files")
	}
	one := filepath.Join(dir, "one.onnx")
	if _, stderr, code := runEmbfit(t, "quantize", "--model", tm.Model, "--out", one); code != 0 {
		t.Fatalf("file model: exit %d: %s", code, stderr)
	}
	if st, err := os.Stat(one); err != nil || !st.Mode().IsRegular() {
		t.Errorf("file model gave %v %v", st, err)
	}
}
