package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/pipeline/dataio"
	"github.com/embfit/embfit/pipeline/head"
	"github.com/embfit/embfit/pipeline/train"
)

func TestTrainMatryoshkaEndToEnd(t *testing.T) {
	w := newTextWorld(t, 400)
	run := filepath.Join(t.TempDir(), "run")
	stdout, stderr, code := runTrainBin(t, nil, "train", "--model", w.dir, "--train", w.train, "--dev", w.dev, "--test", w.test,
		"--out", run, "--head", "mlp", "--epochs", "3", "--batch-size", "32", "--lr", "0.01", "--seed", "3", "--cache-dir", "none",
		"--matryoshka", "4,8,16", "--matryoshka-weights", "1,1,2")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, f := range []string{"head.onnx", "merged.onnx", "head-4.onnx", "merged-4.onnx", "head-8.onnx", "merged-8.onnx"} {
		if _, err := os.Stat(filepath.Join(run, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	if !strings.Contains(stdout, "width 4 ") || !strings.Contains(stdout, "width 16 ") {
		t.Errorf("summary lacks the per-width rows:\n%s", stdout)
	}
	var tm struct {
		AfterWidths []train.WidthMetrics `json:"after_widths"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(run, "test_metrics.json"))), &tm); err != nil {
		t.Fatal(err)
	}
	if len(tm.AfterWidths) != 3 || tm.AfterWidths[0].Width != 4 {
		t.Errorf("test_metrics.json after_widths %+v", tm.AfterWidths)
	}
	var em train.EpochMetrics
	lines := strings.Split(strings.TrimSpace(readFile(t, filepath.Join(run, "metrics.jsonl"))), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &em); err != nil || len(em.DevWidths) != 3 {
		t.Errorf("metrics.jsonl last line: %v, %d widths", err, len(em.DevWidths))
	}

	// export --dim writes head-D.onnx: the first D columns of head.onnx.
	os.Remove(filepath.Join(run, "head-8.onnx"))
	if so, se, code := runTrainBin(t, nil, "export", "--run", run, "--dim", "8"); code != 0 {
		t.Fatalf("export --dim: exit %d\n%s%s", code, so, se)
	}
	x, err := dataio.ReadNPY(writeWorldEmbeddings(t, w))
	if err != nil {
		t.Fatal(err)
	}
	runHead := func(name string) []float32 {
		sess, err := onnx.OpenSession(filepath.Join(run, name))
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		out, err := sess.Run(map[string]onnx.Tensor{head.InputName: {Shape: []int64{int64(x.Rows), int64(x.Cols)}, Float: x.Data}})
		if err != nil {
			t.Fatal(err)
		}
		return out[0].Float
	}
	full, cut := runHead("head.onnx"), runHead("head-8.onnx")
	if len(cut) != x.Rows*8 {
		t.Fatalf("head-8.onnx gives %d values for %d rows", len(cut), x.Rows)
	}
	for i := range x.Rows {
		for k := range 8 {
			if cut[i*8+k] != full[i*16+k] {
				t.Fatalf("row %d column %d: head-8 %v, head %v", i, k, cut[i*8+k], full[i*16+k])
			}
		}
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"export", "--run", run, "--dim", "99"}, "--dim: width 99 outside 1…16"},
		{[]string{"train", "--model", w.dir, "--train", w.train, "--out", filepath.Join(t.TempDir(), "r"), "--matryoshka", "8,4"}, "--matryoshka: widths [8 4] must ascend"},
		{[]string{"train", "--model", w.dir, "--train", w.train, "--out", filepath.Join(t.TempDir(), "r"), "--matryoshka", "4,x"}, `--matryoshka: "4,x" is not a list`},
		{[]string{"train", "--model", w.dir, "--train", w.train, "--out", filepath.Join(t.TempDir(), "r"), "--matryoshka", "4,8", "--matryoshka-weights", "1"}, "--matryoshka-weights: 1 weights for 2 widths"},
	} {
		_, stderr, code := runTrainBin(t, nil, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "goroutine") {
			t.Errorf("%v: exit %d, stderr %q, want exit 2 with %q", tc.args, code, stderr, tc.want)
		}
	}
}
