package onnxtest_test

import (
	"math"
	"testing"

	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/onnxtest"
	"github.com/embfit/embfit/onnx/tokenizer"
)

// TestTransformerMatchesGo runs the generated transformer in ONNX Runtime
// on a padded batch and compares every position's last_hidden_state with
// the plain Go computation of the same network.
func TestTransformerMatchesGo(t *testing.T) {
	tokPath, err := onnxtest.ReferenceTokenizer("bert-base-uncased.json")
	if err != nil {
		t.Fatal(err)
	}
	tk, err := tokenizer.Load(tokPath)
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{
		"brown fox jumps over the lazy dog",
		"a",
		"the continuum of experience in which events pass from the future through the present to the past",
	}
	tests := []struct {
		name string
		tr   onnxtest.Transformer
	}{
		{"small", onnxtest.Transformer{Layers: 2, Hidden: 64, Heads: 4, FF: 128, Tokenizer: tokPath, Seed: 3}},
		{"minilm", onnxtest.Transformer{Tokenizer: tokPath, Seed: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := tc.tr.Write(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if w.Weights.Vocab != 30522 {
				t.Errorf("vocab %d, want bert-base-uncased's 30522", w.Weights.Vocab)
			}
			encs := make([]tokenizer.Encoding, len(texts))
			seq := 0
			for i, s := range texts {
				encs[i] = tk.Encode(s, 0)
				seq = max(seq, len(encs[i].IDs))
			}
			b := len(texts)
			ids, mask, types := make([]int64, b*seq), make([]int64, b*seq), make([]int64, b*seq)
			for i, e := range encs {
				copy(ids[i*seq:], e.IDs)
				copy(types[i*seq:], e.TypeIDs)
				for j := range e.IDs {
					mask[i*seq+j] = 1
				}
			}
			s, err := onnx.OpenSession(w.Model, "last_hidden_state")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			shape := []int64{int64(b), int64(seq)}
			out, err := s.Run(map[string]onnx.Tensor{
				"input_ids":      {Shape: shape, Int64: ids},
				"attention_mask": {Shape: shape, Int64: mask},
				"token_type_ids": {Shape: shape, Int64: types},
			})
			if err != nil {
				t.Fatal(err)
			}
			h := w.Weights.Hidden
			if got := out[0].Shape; len(got) != 3 || got[0] != int64(b) || got[1] != int64(seq) || got[2] != int64(h) {
				t.Fatalf("output shape %v", got)
			}
			for i := range b {
				r := i * seq
				want := w.Weights.Forward(ids[r:r+seq], mask[r:r+seq], types[r:r+seq])
				got := out[0].Float[r*h : (r+seq)*h]
				worst, spread := 0.0, 0.0
				for k := range want {
					worst = math.Max(worst, math.Abs(float64(got[k])-want[k]))
					spread = math.Max(spread, math.Abs(want[k]))
				}
				t.Logf("text %d (%d tokens): max abs diff %.2g, max abs activation %.3g", i, len(encs[i].IDs), worst, spread)
				if worst > 1e-4 {
					t.Errorf("text %d: max |ORT - Go| = %.3g, want ≤ 1e-4", i, worst)
				}
				if spread < 0.5 || spread > 50 {
					t.Errorf("text %d: max |activation| = %.3g, want unit order", i, spread)
				}
			}
			// Different texts give different mean-pooled vectors.
			mean := func(i int) []float64 {
				v := make([]float64, h)
				n := len(encs[i].IDs)
				for p := range n {
					for j := range h {
						v[j] += float64(out[0].Float[(i*seq+p)*h+j]) / float64(n)
					}
				}
				return v
			}
			if c := cosine(mean(0), mean(2)); c > 0.99 {
				t.Errorf("cosine of two unrelated texts = %.4f: embeddings do not depend on the text", c)
			}
		})
	}
}

func cosine(a, b []float64) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += a[i] * b[i]
		aa += a[i] * a[i]
		bb += b[i] * b[i]
	}
	return ab / math.Sqrt(aa*bb)
}
