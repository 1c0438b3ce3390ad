package onnx_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/onnxtest"
	"github.com/embfit/embfit/onnx/tokenizer"
)

// mixedTexts have 1 to 9 known words, some unknown ones and uppercase,
// in no length order.
var mixedTexts = []string{
	"the quick brown fox jumps over the lazy dog",
	"cat",
	"Hello, world!",
	"the cat sat on the mat .",
	"a zebra",
	"red blue red blue",
	"dog",
	"over the lazy dog , the quick fox",
	"",
	"HELLO world",
}

// goPool computes, in plain Go from the token table, what the model +
// pooling should give for text: ids from the tokenizer, vectors looked
// up, then masked mean / cls / max over the real tokens.
func goPool(t *testing.T, w onnxtest.Written, tk *tokenizer.Tokenizer, text string, p onnx.Pooling, normalize bool) []float64 {
	ids := tk.Encode(text, 0).IDs
	d := w.Dim
	out := make([]float64, d)
	if len(ids) == 0 {
		ids = nil
	}
	for k, id := range ids {
		v := w.Table[int(id)*d : int(id+1)*d]
		for j := range out {
			switch {
			case p == onnx.PoolingMean:
				out[j] += float64(v[j]) / float64(len(ids))
			case p == onnx.PoolingCLS && k == 0:
				out[j] = float64(v[j])
			case p == onnx.PoolingMax && (k == 0 || float64(v[j]) > out[j]):
				out[j] = float64(v[j])
			}
		}
	}
	if len(ids) == 0 && p != onnx.PoolingMean {
		// an empty text still gets one (padding) position
		return make([]float64, d)
	}
	if normalize {
		var s float64
		for _, x := range out {
			s += x * x
		}
		for j := range out {
			out[j] /= math.Sqrt(s)
		}
	}
	return out
}

func TestEncodePooling(t *testing.T) {
	w, err := onnxtest.TokenModel{Dim: 8, Seed: 1}.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tk, err := tokenizer.Load(w.Tokenizer)
	if err != nil {
		t.Fatal(err)
	}
	texts := mixedTexts[:len(mixedTexts)-2] // no empty text: its mean is 0/0
	texts = append(texts, "HELLO world")
	tests := []struct {
		pooling   onnx.Pooling
		normalize bool
		batch     int
	}{
		{onnx.PoolingMean, false, 3},
		{onnx.PoolingMean, true, 4},
		{onnx.PoolingCLS, false, 2},
		{onnx.PoolingMax, false, 5},
		{onnx.PoolingMean, false, 64},
	}
	for _, tc := range tests {
		t.Run(string(tc.pooling), func(t *testing.T) {
			var calls, last int
			enc, err := onnx.OpenEncoder(w.Dir, onnx.EncoderSettings{
				Pooling: tc.pooling, Normalize: tc.normalize, BatchSize: tc.batch,
				Progress: func(done, total int) { calls++; last = done },
			})
			if err != nil {
				t.Fatal(err)
			}
			defer enc.Close()
			if enc.Dim() != w.Dim || !enc.IsText() {
				t.Fatalf("Dim %d IsText %v", enc.Dim(), enc.IsText())
			}
			dst := blas32.General{Rows: len(texts), Cols: w.Dim, Stride: w.Dim, Data: make([]float32, len(texts)*w.Dim)}
			if err := enc.Encode(context.Background(), dst, texts); err != nil {
				t.Fatal(err)
			}
			for i, text := range texts {
				want := goPool(t, w, tk, text, tc.pooling, tc.normalize)
				for j, x := range want {
					if got := dst.Data[i*w.Dim+j]; math.Abs(float64(got)-x) > 1e-6 {
						t.Fatalf("text %d %q dim %d: %v, want %v", i, text, j, got, x)
					}
				}
			}
			wantCalls := (len(texts) + tc.batch - 1) / tc.batch
			if calls != wantCalls || last != len(texts) {
				t.Errorf("progress called %d times, last %d; want %d, %d", calls, last, wantCalls, len(texts))
			}
		})
	}
}

// Results are the same whatever the batch size and thread count.
func TestEncodeDeterministic(t *testing.T) {
	w, err := onnxtest.TokenModel{Dim: 16, Layers: 2, Seed: 3}.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var ref []float32
	for _, s := range []onnx.EncoderSettings{{BatchSize: 1, Threads: 1}, {BatchSize: 3, Threads: 2}, {BatchSize: 64}} {
		enc, err := onnx.OpenEncoder(w.Model, s)
		if err != nil {
			t.Fatal(err)
		}
		dst := blas32.General{Rows: len(mixedTexts), Cols: 16, Stride: 16, Data: make([]float32, len(mixedTexts)*16)}
		if err := enc.Encode(context.Background(), dst, mixedTexts); err != nil {
			t.Fatal(err)
		}
		enc.Close()
		if ref == nil {
			ref = dst.Data
			continue
		}
		for i := range ref {
			if ref[i] != dst.Data[i] {
				t.Fatalf("settings %+v: value %d = %v, batch size 1 gave %v", s, i, dst.Data[i], ref[i])
			}
		}
	}
}

func TestEncoderOutputs(t *testing.T) {
	dir := t.TempDir()
	w, err := onnxtest.TokenModel{Dim: 4, SentenceEmbedding: true, TokenTypeIDs: true}.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	// sentence_embedding is preferred, and it is already pooled.
	enc, err := onnx.OpenEncoder(dir, onnx.EncoderSettings{})
	if err != nil {
		t.Fatal(err)
	}
	s := enc.Settings()
	if s.Output != "sentence_embedding" || s.Pooling != onnx.PoolingNone || s.BatchSize != 64 || s.MaxLength != 256 {
		t.Errorf("settings %+v", s)
	}
	a := blas32.General{Rows: 2, Cols: 4, Stride: 4, Data: make([]float32, 8)}
	if err := enc.Encode(context.Background(), a, []string{"the dog", "a quick brown fox"}); err != nil {
		t.Fatal(err)
	}
	enc.Close()
	// The same through last_hidden_state + mean pooling.
	enc, err = onnx.OpenEncoder(w.Model, onnx.EncoderSettings{Output: "last_hidden_state"})
	if err != nil {
		t.Fatal(err)
	}
	if enc.Settings().Pooling != onnx.PoolingMean {
		t.Errorf("auto pooling for [B,T,D]: %q", enc.Settings().Pooling)
	}
	b := blas32.General{Rows: 2, Cols: 4, Stride: 4, Data: make([]float32, 8)}
	if err := enc.Encode(context.Background(), b, []string{"the dog", "a quick brown fox"}); err != nil {
		t.Fatal(err)
	}
	enc.Close()
	for i := range a.Data {
		if math.Abs(float64(a.Data[i]-b.Data[i])) > 1e-6 {
			t.Fatalf("value %d: sentence_embedding %v, mean of last_hidden_state %v", i, a.Data[i], b.Data[i])
		}
	}
}

func TestEncodeFloats(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f.onnx")
	wts, err := onnxtest.FloatModel{In: 6, Out: 4, Seed: 2}.Write(p)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := onnx.OpenEncoder(p, onnx.EncoderSettings{BatchSize: 2, Normalize: true})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	if enc.IsText() || enc.Dim() != 4 {
		t.Fatalf("IsText %v Dim %d", enc.IsText(), enc.Dim())
	}
	x := blas32.General{Rows: 5, Cols: 6, Stride: 6, Data: make([]float32, 30)}
	for i := range x.Data {
		x.Data[i] = float32(i%7) - 3
	}
	dst := blas32.General{Rows: 5, Cols: 4, Stride: 4, Data: make([]float32, 20)}
	if err := enc.EncodeFloats(context.Background(), dst, x, nil); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		want := make([]float64, 4)
		var norm float64
		for j := range want {
			for k := 0; k < 6; k++ {
				want[j] += float64(x.Data[i*6+k]) * float64(wts[k*4+j])
			}
			norm += want[j] * want[j]
		}
		for j := range want {
			if got := float64(dst.Data[i*4+j]); math.Abs(got-want[j]/math.Sqrt(norm)) > 1e-6 {
				t.Fatalf("item %d dim %d: %v, want %v", i, j, got, want[j]/math.Sqrt(norm))
			}
		}
	}
	if err := enc.Encode(context.Background(), dst, []string{"x"}); err == nil {
		t.Error("Encode on a float model succeeded")
	}
}

func TestOpenEncoderErrors(t *testing.T) {
	dir := t.TempDir()
	w, err := onnxtest.TokenModel{}.Write(filepath.Join(dir, "tok"))
	if err != nil {
		t.Fatal(err)
	}
	noTok := filepath.Join(dir, "notok")
	os.MkdirAll(noTok, 0o755)
	b, _ := os.ReadFile(w.Model)
	os.WriteFile(filepath.Join(noTok, "model.onnx"), b, 0o644)
	garbage := filepath.Join(dir, "garbage.onnx")
	os.WriteFile(garbage, []byte("not a model"), 0o644)
	tests := []struct {
		name  string
		model string
		s     onnx.EncoderSettings
		want  string
	}{
		{"missing", filepath.Join(dir, "nope.onnx"), onnx.EncoderSettings{}, "nope.onnx: no such file"},
		{"empty dir", t.TempDir(), onnx.EncoderSettings{}, "neither model.onnx nor onnx/model.onnx"},
		{"no tokenizer", noTok, onnx.EncoderSettings{}, "without tokenizer.json"},
		{"garbage", garbage, onnx.EncoderSettings{}, "garbage.onnx: not an ONNX model"},
		{"bad output", w.Dir, onnx.EncoderSettings{Output: "pooled"}, `no output named "pooled"`},
		{"bad pooling", w.Dir, onnx.EncoderSettings{Pooling: "sum"}, `pooling: "sum"`},
		{"none on tokens", w.Dir, onnx.EncoderSettings{Pooling: onnx.PoolingNone}, "need a pooling (mean, cls"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := onnx.OpenEncoder(tc.model, tc.s)
			if err == nil {
				enc.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestUnbindableInput(t *testing.T) {
	p := filepath.Join(t.TempDir(), "two.onnx")
	// A model with two float inputs cannot be bound.
	m := twoInputModel()
	if err := m.Save(p); err != nil {
		t.Fatal(err)
	}
	_, err := onnx.OpenEncoder(p, onnx.EncoderSettings{})
	if err == nil || !strings.Contains(err.Error(), "cannot bind input") || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v", err)
	}
}

func TestMaxLengthClamp(t *testing.T) {
	dir := t.TempDir()
	w, err := onnxtest.TokenModel{}.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"model_max_length": 4}`), 0o644)
	enc, err := onnx.OpenEncoder(w.Dir, onnx.EncoderSettings{MaxLength: 512})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	if enc.Settings().MaxLength != 4 || len(enc.Warnings()) != 1 || !strings.Contains(enc.Warnings()[0], "limit 4") {
		t.Fatalf("max length %d warnings %q", enc.Settings().MaxLength, enc.Warnings())
	}
	// A 9-word text is cut to its first 4 tokens.
	tk, _ := tokenizer.Load(w.Tokenizer)
	a := blas32.General{Rows: 2, Cols: 8, Stride: 8, Data: make([]float32, 16)}
	if err := enc.Encode(context.Background(), a, []string{"the quick brown fox jumps over the lazy dog", "the quick brown fox"}); err != nil {
		t.Fatal(err)
	}
	_ = tk
	for j := 0; j < 8; j++ {
		if a.Data[j] != a.Data[8+j] {
			t.Fatalf("truncated text differs from its first 4 words at %d", j)
		}
	}
}

func TestEmbedCancel(t *testing.T) {
	w, err := onnxtest.TokenModel{}.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	enc, err := onnx.OpenEncoder(w.Dir, onnx.EncoderSettings{BatchSize: 1, Progress: func(done, total int) {
		if done == 2 {
			cancel()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	dst := blas32.General{Rows: len(mixedTexts), Cols: 8, Stride: 8, Data: make([]float32, len(mixedTexts)*8)}
	if err := enc.Encode(ctx, dst, mixedTexts); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
