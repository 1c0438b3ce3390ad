package layering

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/embfit/embfit/"

// layers lists, for each package (or folder, ending in "/"), the module
// packages it may depend on, directly or not: prefixes relative to the
// module; a package may always depend on itself and its own sub-packages
// when its key ends in "/". The first matching key wins, so more specific
// keys come first.
var layers = []struct {
	pkg     string
	allowed []string
}{
	{"internal/", []string{"internal/"}},
	{"losses", []string{"internal/"}},
	{"mining", []string{"internal/"}},
	{"onnx/", []string{"internal/", "onnx"}},
	{"onnx", []string{"internal/", "onnx/"}},
	{"models/", []string{"internal/", "models/", "onnx/graph", "onnx/onnxpb"}},
	{"pipeline/dataio", []string{"internal/", "mining"}},
	{"pipeline/retrieval", []string{"internal/"}},
	{"pipeline/head", []string{"internal/", "onnx/graph", "onnx/onnxpb"}},
	{"pipeline/embed", []string{"internal/", "mining", "onnx", "pipeline/dataio"}},
	{"pipeline/train", []string{"internal/", "losses", "onnx/graph", "onnx/onnxpb", "pipeline/head", "pipeline/retrieval"}},
	{"pipeline/audit", []string{"internal/", "losses", "mining", "pipeline/dataio", "pipeline/retrieval"}},
	{"pipeline/shard", []string{"internal/", "mining", "pipeline/dataio"}},
	{"pipeline/job", []string{"internal/", "losses", "mining", "onnx", "pipeline/"}},
	{"cmd/", []string{""}},
}

// allowed reports whether package pkg may depend on dep (both relative to
// the module).
func allowed(pkg, dep string) (ok, known bool) {
	if dep == pkg || strings.HasPrefix(dep, pkg+"/") {
		return true, true
	}
	for _, l := range layers {
		if !(pkg == l.pkg || strings.HasSuffix(l.pkg, "/") && strings.HasPrefix(pkg, l.pkg)) {
			continue
		}
		for _, a := range l.allowed {
			if dep == a || strings.HasPrefix(dep, a) && (a == "" || strings.HasSuffix(a, "/") || strings.HasPrefix(dep, a+"/")) {
				return true, true
			}
		}
		return false, true
	}
	return false, false
}

func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], module) {
			continue
		}
		pkg := strings.TrimPrefix(f[0], module)
		for _, d := range f[1:] {
			dep, ok := strings.CutPrefix(d, module)
			if !ok {
				continue
			}
			ok, known := allowed(pkg, dep)
			if !known {
				t.Errorf("package %s has no layer: add it to layers", pkg)
				break
			}
			if !ok {
				t.Errorf("%s must not depend on %s", pkg, dep)
			}
		}
		checked++
	}
	if checked < 20 {
		t.Fatalf("checked only %d packages of the module", checked)
	}
}

func TestAllowed(t *testing.T) {
	for _, c := range []struct {
		pkg, dep string
		ok       bool
	}{
		{"losses", "internal/linalg", true},
		{"losses", "onnx", false},
		{"mining", "pipeline/dataio", false},
		{"onnx", "onnx/tokenizer", true},
		{"onnx/graph", "onnx/onnxpb", true},
		{"onnx/tokenizer", "pipeline/embed", false},
		{"models/glove", "onnx/graph", true},
		{"models/glove", "onnx", false},
		{"pipeline/dataio", "pipeline/train", false},
		{"pipeline/head", "pipeline/audit", false},
		{"pipeline/embed", "pipeline/train", false},
		{"pipeline/train", "pipeline/head", true},
		{"pipeline/audit", "pipeline/job", false},
		{"pipeline/job", "pipeline/train", true},
		{"cmd/embfit", "pipeline/job", true},
	} {
		if ok, _ := allowed(c.pkg, c.dep); ok != c.ok {
			t.Errorf("allowed(%s, %s) = %v, want %v", c.pkg, c.dep, ok, c.ok)
		}
	}
}
