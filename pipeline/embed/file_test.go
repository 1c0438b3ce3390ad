package embed

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/onnxtest"
	"github.com/embfit/embfit/pipeline/dataio"
)

func TestEmbedJSONL(t *testing.T) {
	dir := t.TempDir()
	w, err := onnxtest.TokenModel{Dim: 4}.Write(filepath.Join(dir, "m"))
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "in.jsonl")
	os.WriteFile(in, []byte(`{"body":"the dog","key":"k1","cls":"x"}`+"\n"+`{"body":"a cat","key":"k2"}`+"\n"), 0o644)
	enc, err := onnx.OpenEncoder(w.Dir, onnx.EncoderSettings{})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	out := filepath.Join(dir, "e.npy")
	res, err := JSONL(context.Background(), enc, FileSettings{Input: in, Field: "body", IDField: "key", LabelField: "cls", Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Items != 2 || res.Dim != 4 || res.IDsOut != filepath.Join(dir, "e.ids.jsonl") || res.RunTime <= 0 || res.RunTime > res.Elapsed {
		t.Fatalf("result %+v", res)
	}
	side, _ := os.ReadFile(res.IDsOut)
	if string(side) != `{"row":0,"line":1,"id":"k1","label":"x"}`+"\n"+`{"row":1,"line":2,"id":"k2"}`+"\n" {
		t.Fatalf("sidecar %s", side)
	}
	m, err := dataio.ReadNPY(out)
	if err != nil || m.Rows != 2 || m.Cols != 4 {
		t.Fatalf("npy %dx%d %v", m.Rows, m.Cols, err)
	}
}

func TestEmbedJSONLCancelLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	w, err := onnxtest.TokenModel{Dim: 4}.Write(filepath.Join(dir, "m"))
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "in.jsonl")
	os.WriteFile(in, []byte(strings.Repeat(`{"text":"the quick brown fox"}`+"\n", 50)), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	enc, err := onnx.OpenEncoder(w.Dir, onnx.EncoderSettings{BatchSize: 5, Progress: func(done, total int) {
		if done >= 10 {
			cancel()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	out := filepath.Join(dir, "out", "e.npy")
	os.Mkdir(filepath.Dir(out), 0o755)
	_, err = JSONL(ctx, enc, FileSettings{Input: in, Out: out})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 0 {
		t.Fatalf("left behind %v", entries)
	}
}
