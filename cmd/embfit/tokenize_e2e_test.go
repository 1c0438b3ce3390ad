package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// familyTokenizer returns a reference tokenizer.json that make setup
// fetched (scripts/setup-tokenizers.sh); see onnx/tokenizer.
func familyTokenizer(t *testing.T, name string) string {
	t.Helper()
	var p string
	switch name {
	case "llama3", "bert":
		out, err := exec.Command("go", "env", "GOMODCACHE").Output()
		if err != nil {
			t.Fatal(err)
		}
		file := map[string]string{"llama3": "Meta-Llama-3-8B-Instruct.json", "bert": "bert-base-uncased.json"}[name]
		p = filepath.Join(strings.TrimSpace(string(out)), "github.com/daulet/tokenizers@v1.24.0/test/data", file)
	default:
		p = filepath.Join("..", "..", ".cache", "tokenizers", name, "tokenizer.json")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%v: run `make setup` first", err)
	}
	return p
}

func TestTokenizeFamiliesE2E(t *testing.T) {
	const text = "Hello wörld 👍🏽"
	tests := []struct {
		name    string
		ids     []int64 // from Hugging Face's JavaScript tokenizers
		decoded string
	}{
		{"bert", []int64{101, 7592, 2088, 100, 102}, "hello world"},
		{"llama3", []int64{128000, 9906, 289, 9603, 509, 62904, 235, 9468, 237, 121}, text},
		{"qwen3", []int64{9707, 289, 9416, 507, 61804, 235, 145375}, text},
		{"wordnet-unigram", []int64{1, 376, 86, 168, 116, 0, 30, 47, 20, 11, 0, 2}, "Hello w<unk>rld <unk>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runEmbfit(t, "tokenize", "--json", "--tokenizer", familyTokenizer(t, tc.name), text)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var got struct {
				IDs     []int64  `json:"ids"`
				Tokens  []string `json:"tokens"`
				Offsets [][2]int `json:"offsets"`
				TypeIDs []int64  `json:"type_ids"`
				Decoded string   `json:"decoded"`
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if !slices.Equal(got.IDs, tc.ids) {
				t.Errorf("ids %v, want %v", got.IDs, tc.ids)
			}
			if len(got.Tokens) != len(got.IDs) || len(got.Offsets) != len(got.IDs) || len(got.TypeIDs) != len(got.IDs) {
				t.Errorf("lengths: %d ids, %d tokens, %d offsets, %d type ids", len(got.IDs), len(got.Tokens), len(got.Offsets), len(got.TypeIDs))
			}
			if want := tc.decoded; got.Decoded != want {
				t.Errorf("decoded %q, want %q", got.Decoded, want)
			}
			for _, o := range got.Offsets {
				if o[0] < 0 || o[1] < o[0] || o[1] > len(text) {
					t.Errorf("offset %v outside the %d-byte text", o, len(text))
				}
			}
			// Text output has the same ids, and offsets.
			out, _, code = runEmbfit(t, "tokenize", "--tokenizer", familyTokenizer(t, tc.name), text)
			if code != 0 || !strings.Contains(out, "offsets:        ") || !strings.Contains(out, "ids:            "+joinInts(got.IDs)+"\n") {
				t.Errorf("text output: %s", out)
			}
		})
	}
	// A pair: type ids mark the second text.
	out, errOut, code := runEmbfit(t, "tokenize", "--json", "--tokenizer", familyTokenizer(t, "bert"), "--pair", "lazy dog", "brown fox")
	var got struct {
		IDs     []int64 `json:"ids"`
		TypeIDs []int64 `json:"type_ids"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil {
		t.Fatalf("pair: exit %d %s %s", code, out, errOut)
	}
	if !slices.Equal(got.IDs, []int64{101, 2829, 4419, 102, 13971, 3899, 102}) || !slices.Equal(got.TypeIDs, []int64{0, 0, 0, 0, 1, 1, 1}) {
		t.Errorf("pair: ids %v type ids %v", got.IDs, got.TypeIDs)
	}
}

func TestTokenizeBadFileE2E(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tokenizer.json")
	if err := os.WriteFile(p, []byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1},"merges":["a c"]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runEmbfit(t, "tokenize", "--tokenizer", p, "ab")
	want := "embfit: --tokenizer " + p + `: model.merges[0]: token "c" is not in the vocabulary`
	if code != 2 || out != "" || strings.TrimSpace(errOut) != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want %q", code, out, errOut, want)
	}
}
