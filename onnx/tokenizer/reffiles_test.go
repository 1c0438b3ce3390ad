package tokenizer

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// repoRoot is the folder holding go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test folder")
		}
		dir = parent
	}
}

// refFiles maps the reference tokenizer names of testdata/ref to where
// `make setup` (scripts/setup-tokenizers.sh) puts them.
func refPath(t testing.TB, name string) string {
	t.Helper()
	root := repoRoot(t)
	var p string
	switch name {
	case "llama3", "cohere", "labse", "bert-base-uncased", "all-minilm-l6-v2":
		file := map[string]string{
			"llama3": "Meta-Llama-3-8B-Instruct.json", "cohere": "cohere-tokenizer.json",
			"labse": "sentence-transformers-labse.json", "bert-base-uncased": "bert-base-uncased.json",
			"all-minilm-l6-v2": "all-minilm-l6-v2.json",
		}[name]
		out, err := exec.Command("go", "env", "GOMODCACHE").Output()
		if err != nil {
			t.Fatalf("go env GOMODCACHE: %v", err)
		}
		p = filepath.Join(strings.TrimSpace(string(out)), "github.com", "daulet", "tokenizers@v1.24.0", "test", "data", file)
	default:
		p = filepath.Join(root, ".cache", "tokenizers", name, "tokenizer.json")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("reference tokenizer %s missing (%v): run `make setup` first (scripts/setup-tokenizers.sh fetches it)", name, err)
	}
	return p
}

// refFile is refPath by the daulet module's file name.
func refFile(t testing.TB, file string) string {
	return refPath(t, strings.TrimSuffix(file, ".json"))
}

func writeFile(p, s string) error { return os.WriteFile(p, []byte(s), 0o644) }
