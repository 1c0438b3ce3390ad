package onnx_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/onnxtest"
)

// BenchmarkEmbed embeds 2048 texts of 3 to 60 words with generated
// models: "lookup" is a GloVe-like token table (D=100, no compute besides
// the lookup), "mlp4x384" adds four 384×384 MatMul+Tanh layers per token
// (a small transformer's order of FLOPs). It reports items/s and the
// share of wall time spent outside session.Run (tokenizing, padding,
// pooling, normalizing).
func BenchmarkEmbed(b *testing.B) {
	words := make([]string, 5000)
	for i := range words {
		words[i] = fmt.Sprintf("w%d", i)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	texts := make([]string, 2048)
	for i := range texts {
		n := 3 + rng.IntN(58)
		t := make([]string, n)
		for j := range t {
			t[j] = words[rng.IntN(len(words))]
		}
		texts[i] = strings.Join(t, " ")
	}
	for _, c := range []struct {
		name   string
		dim    int
		layers int
	}{{"lookup", 100, 0}, {"mlp4x384", 384, 4}} {
		b.Run(c.name, func(b *testing.B) {
			w, err := onnxtest.TokenModel{Words: words, Dim: c.dim, Layers: c.layers}.Write(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			enc, err := onnx.OpenEncoder(w.Dir, onnx.EncoderSettings{Normalize: true})
			if err != nil {
				b.Fatal(err)
			}
			defer enc.Close()
			dst := blas32.General{Rows: len(texts), Cols: c.dim, Stride: c.dim, Data: make([]float32, len(texts)*c.dim)}
			run0 := enc.RunTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := enc.Encode(context.Background(), dst, texts); err != nil {
					b.Fatal(err)
				}
			}
			el := b.Elapsed()
			run := enc.RunTime() - run0
			b.ReportMetric(float64(b.N*len(texts))/el.Seconds(), "items/s")
			b.ReportMetric(100*(1-run.Seconds()/el.Seconds()), "%outside-run")
		})
	}
}
