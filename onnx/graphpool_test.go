package onnx_test

import (
	"context"
	"math"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/graph"
	"github.com/embfit/embfit/onnx/onnxtest"
)

// TestAppendPoolingMatchesEncoder: every pooling mode written into the
// graph (as merged models carry it) gives what the Encoder's own pooling
// gives, with left and with right padding.
func TestAppendPoolingMatchesEncoder(t *testing.T) {
	dir := t.TempDir()
	w, err := onnxtest.TokenModel{Template: "bert", Layers: 1, Seed: 3}.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{"the quick brown fox jumps", "cat", "red blue"}
	for _, mode := range []onnx.Pooling{onnx.PoolingMean, onnx.PoolingCLS, onnx.PoolingMax, onnx.PoolingMeanSqrtLen, onnx.PoolingWeightedMean, onnx.PoolingLastToken} {
		for _, side := range []string{"right", "left"} {
			enc, err := onnx.OpenEncoder(dir, onnx.EncoderSettings{Pooling: mode, PaddingSide: side})
			if err != nil {
				t.Fatal(err)
			}
			d := enc.Dim()
			want := blas32.General{Rows: len(texts), Cols: d, Stride: d, Data: make([]float32, len(texts)*d)}
			if err := enc.Encode(context.Background(), want, texts); err != nil {
				t.Fatal(err)
			}
			tok := enc.Tokenizer()
			enc.Close()

			m, err := graph.Load(w.Model)
			if err != nil {
				t.Fatal(err)
			}
			out, err := graph.AppendPooling(m, "last_hidden_state", 3, string(mode), "attention_mask")
			if err != nil {
				t.Fatal(err)
			}
			m.SetOutputs(graph.ValueInfo{Name: out, Type: graph.Float, Dims: []graph.Dim{graph.Sym("batch"), graph.Fixed(int64(d))}})
			b, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			s, err := onnx.OpenSessionBytes(b)
			if err != nil {
				t.Fatal(err)
			}
			// One padded batch of all texts.
			var ids [][]int64
			T := 0
			for _, x := range texts {
				e := tok.Encode(x, 0)
				ids = append(ids, e.IDs)
				T = max(T, len(e.IDs))
			}
			in := make([]int64, len(texts)*T)
			mask := make([]int64, len(texts)*T)
			for r, row := range ids {
				off := 0
				if side == "left" {
					off = T - len(row)
				}
				for k, id := range row {
					in[r*T+off+k], mask[r*T+off+k] = id, 1
				}
			}
			res, err := s.Run(map[string]onnx.Tensor{
				"input_ids":      {Shape: []int64{int64(len(texts)), int64(T)}, Int64: in},
				"attention_mask": {Shape: []int64{int64(len(texts)), int64(T)}, Int64: mask},
			})
			s.Close()
			if err != nil {
				t.Fatalf("%s %s: %v", mode, side, err)
			}
			for k, v := range res[0].Float {
				if math.Abs(float64(v-want.Data[k])) > 1e-5*math.Max(1, math.Abs(float64(v))) {
					t.Fatalf("%s, %s padding: graph pooling [%d] = %v, encoder %v", mode, side, k, v, want.Data[k])
				}
			}
		}
	}
}
