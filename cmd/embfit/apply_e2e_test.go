package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/pipeline/dataio"
	"github.com/embfit/embfit/pipeline/head"
	"github.com/embfit/embfit/pipeline/job"
)

// writeWorldEmbeddings embeds every text of w's data with its encoder and
// writes them as a user with vectors from elsewhere would: X.npy and
// X.ids.jsonl with {"row","text"}.
func writeWorldEmbeddings(t *testing.T, w *textWorld) string {
	t.Helper()
	seen := map[string]bool{}
	var texts []string
	for _, f := range []string{w.train, w.dev, w.test} {
		err := dataio.ReadJSONL(f, func(r dataio.Record) error {
			for _, k := range []string{"anchor", "positive"} {
				s, err := r.String(k)
				if err != nil {
					return err
				}
				if !seen[s] {
					seen[s] = true
					texts = append(texts, s)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	enc, err := onnx.OpenEncoder(w.dir, onnx.EncoderSettings{})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	emb := linalg.NewMatrix(len(texts), enc.Dim())
	if err := enc.Encode(context.Background(), emb, texts); err != nil {
		t.Fatal(err)
	}
	npy := filepath.Join(t.TempDir(), "X.npy")
	if err := dataio.WriteNPY(npy, emb); err != nil {
		t.Fatal(err)
	}
	var side strings.Builder
	for i, s := range texts {
		b, _ := json.Marshal(map[string]any{"row": i, "text": s})
		side.Write(append(b, '\n'))
	}
	if err := os.WriteFile(dataio.SidecarPath(npy), []byte(side.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return npy
}

func TestTrainOnEmbeddingsThenApply(t *testing.T) {
	w := newTextWorld(t, 400)
	npy := writeWorldEmbeddings(t, w)
	for _, kind := range []string{"linear", "mlp"} {
		t.Run(kind, func(t *testing.T) {
			run := filepath.Join(t.TempDir(), "run")
			stdout, stderr, code := runTrainBin(t, nil, "train", "--embeddings", npy, "--train", w.train, "--dev", w.dev, "--test", w.test,
				"--out", run, "--head", kind, "--epochs", "4", "--batch-size", "32", "--mine-negatives", "2", "--lr", "0.01", "--seed", "3")
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
			}
			if _, err := os.Stat(filepath.Join(run, "head.onnx")); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(run, "merged.onnx")); !os.IsNotExist(err) {
				t.Errorf("merged.onnx written without an encoder (%v)", err)
			}
			var tm testMetrics
			if err := json.Unmarshal([]byte(readFile(t, filepath.Join(run, "test_metrics.json"))), &tm); err != nil {
				t.Fatal(err)
			}
			if tm.After.MAPAtR < tm.Before.MAPAtR+0.05 {
				t.Errorf("test MAP@R %.3f → %.3f: no improvement", tm.Before.MAPAtR, tm.After.MAPAtR)
			}

			out := filepath.Join(t.TempDir(), "Y.npy")
			if so, se, code := runTrainBin(t, nil, "apply", "--head", filepath.Join(run, "head.onnx"), "--embeddings", npy, "--out", out, "--batch-size", "100"); code != 0 {
				t.Fatalf("apply: exit %d\n%s%s", code, so, se)
			}
			y, err := dataio.ReadNPY(out)
			if err != nil {
				t.Fatal(err)
			}
			x, _ := dataio.ReadNPY(npy)
			// head.onnx run directly in ONNX Runtime on all rows at once.
			sess, err := onnx.OpenSession(filepath.Join(run, "head.onnx"))
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			ort, err := sess.Run(map[string]onnx.Tensor{head.InputName: {Shape: []int64{int64(x.Rows), int64(x.Cols)}, Float: x.Data}})
			if err != nil {
				t.Fatal(err)
			}
			if d := maxDiff(y.Data, ort[0].Float); d > 1e-6 {
				t.Errorf("apply vs head.onnx in ONNX Runtime: max |diff| %g", d)
			}
			// And the trained head in Go (float32 GELU for the MLP).
			_, hd, err := job.LoadRunHead(run)
			if err != nil {
				t.Fatal(err)
			}
			want := linalg.NewMatrix(x.Rows, hd.Settings().Out)
			head.Apply(hd, want, x)
			if d := maxDiff(y.Data, want.Data); d > 1e-5 {
				t.Errorf("apply vs the Go head: max |diff| %g", d)
			}
			if readFile(t, dataio.SidecarPath(out)) != readFile(t, dataio.SidecarPath(npy)) {
				t.Error("apply did not copy the sidecar")
			}
		})
	}
	// With an encoder too, merged.onnx is written.
	run := filepath.Join(t.TempDir(), "run")
	if so, se, code := runTrainBin(t, nil, "train", "--embeddings", npy, "--model", w.dir, "--train", w.train, "--out", run, "--epochs", "1"); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, so, se)
	}
	if _, err := os.Stat(filepath.Join(run, "merged.onnx")); err != nil {
		t.Errorf("with --model: %v", err)
	}
}

func TestApplyAndEmbeddingsBadInput(t *testing.T) {
	w := newTextWorld(t, 50)
	npy := writeWorldEmbeddings(t, w)
	run := filepath.Join(t.TempDir(), "run")
	if so, se, code := runTrainBin(t, nil, "train", "--embeddings", npy, "--train", w.train, "--out", run, "--epochs", "1"); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, so, se)
	}
	narrow := filepath.Join(t.TempDir(), "narrow.npy")
	if err := dataio.WriteNPY(narrow, linalg.NewMatrix(3, 5)); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other.jsonl")
	writeJSONL(t, other, []map[string]string{{"anchor": "nowhere", "positive": "w2 w3"}})
	badSide := filepath.Join(t.TempDir(), "bad.ids.jsonl")
	if err := os.WriteFile(badSide, []byte(`{"row":0,"text":"a"}`+"\n"+`{"row":0,"text":"b"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "Y.npy")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"apply without head", []string{"apply", "--embeddings", npy, "--out", out}, "--head is required"},
		{"apply wrong width", []string{"apply", "--head", filepath.Join(run, "head.onnx"), "--embeddings", narrow, "--out", out}, "does not take rows of width 5"},
		{"apply onto input", []string{"apply", "--head", filepath.Join(run, "head.onnx"), "--embeddings", npy, "--out", npy}, "would overwrite --embeddings"},
		{"text without a row", []string{"train", "--embeddings", npy, "--train", other, "--out", filepath.Join(t.TempDir(), "r")}, `"nowhere": text has no row`},
		{"bad sidecar", []string{"train", "--embeddings", npy, "--embeddings-sidecar", badSide, "--train", w.train, "--out", filepath.Join(t.TempDir(), "r")}, "bad.ids.jsonl:2: row: row 0 named twice"},
		{"no model, no embeddings", []string{"train", "--train", w.train, "--out", filepath.Join(t.TempDir(), "r")}, "--model is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runTrainBin(t, nil, tc.args...)
			// Progress lines may precede it; the error is one "embfit:" line.
			if code != 2 || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "embfit: ") != 1 || strings.Contains(stderr, "goroutine") {
				t.Errorf("exit %d, stderr %q (stdout %q), want exit 2 and one line with %q", code, stderr, stdout, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("apply left an output behind")
			}
		})
	}
}
