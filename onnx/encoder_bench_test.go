package onnx_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/procstat"
	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/onnxtest"
	"github.com/embfit/embfit/onnx/quantize"
)

// BenchmarkEmbed embeds 2048 texts of 3 to 60 words with generated
// models: "lookup" is a GloVe-like token table (D=100, no compute besides
// the lookup), "mlp4x384" adds four 384×384 MatMul+Tanh layers per token
// (a small transformer's order of FLOPs). Then "minilm" embeds 2,000
// WordNet test glosses with the MiniLM-L6-shaped transformer (bert-base-
// uncased tokenizer, mean pooling, unit norm, max length 256) in float32
// and after int8 quantization in both formats, so their texts/s compare
// in one run. It reports items/s and the share of wall time spent outside
// session.Run (tokenizing, padding, pooling, normalizing).
func BenchmarkEmbed(b *testing.B) {
	b.Run("minilm", benchMiniLM)
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

func benchMiniLM(b *testing.B) {
	texts := wordnetGlosses(b, 2000)
	fp32, int8 := miniLM(b, quantize.FormatMatMulInteger)
	contrib := filepath.Join(b.TempDir(), "contrib")
	if _, err := quantize.Files(fp32, contrib, false, quantize.Options{Format: quantize.FormatDynamicQuantizeMatMul}); err != nil {
		b.Fatal(err)
	}
	s := onnx.EncoderSettings{Pooling: onnx.PoolingMean, Normalize: true, MaxLength: 256}
	for _, c := range []struct {
		name, model string
	}{{"fp32", fp32}, {"int8", int8}, {"int8-contrib", contrib}} {
		b.Run(c.name, func(b *testing.B) { benchTexts(b, c.model, s, texts) })
	}
	b.Run("interleaved", func(b *testing.B) { benchInterleaved(b, fp32, int8, s, texts) })
}

// benchInterleaved embeds texts in chunks of 200, each chunk with the
// float32 model and then with the int8 one, so that load from other
// processes falls on both alike; it reports both texts/s and int8's
// speed-up over float32 in wall time and in CPU time.
func benchInterleaved(b *testing.B, fp32, int8 string, s onnx.EncoderSettings, texts []string) {
	var encs [2]*onnx.Encoder
	for i, m := range []string{fp32, int8} {
		e, err := onnx.OpenEncoder(m, s)
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close()
		encs[i] = e
	}
	const chunk = 200
	dst := blas32.General{Rows: chunk, Cols: encs[0].Dim(), Stride: encs[0].Dim(), Data: make([]float32, chunk*encs[0].Dim())}
	var wall, cpu [2]time.Duration
	b.ResetTimer()
	for range b.N {
		for start := 0; start < len(texts); start += chunk {
			part := texts[start:min(start+chunk, len(texts))]
			d := dst
			d.Rows = len(part)
			for i, e := range encs {
				t0, c0 := time.Now(), procstat.CPUTime()
				if err := e.Encode(context.Background(), d, part); err != nil {
					b.Fatal(err)
				}
				wall[i] += time.Since(t0)
				cpu[i] += procstat.CPUTime() - c0
			}
		}
	}
	n := float64(b.N * len(texts))
	b.ReportMetric(n/wall[0].Seconds(), "fp32-texts/s")
	b.ReportMetric(n/wall[1].Seconds(), "int8-texts/s")
	b.ReportMetric(wall[0].Seconds()/wall[1].Seconds(), "speedup")
	b.ReportMetric(cpu[0].Seconds()/cpu[1].Seconds(), "cpu-speedup")
}

// benchTexts embeds texts with model b.N times and reports texts/s.
func benchTexts(b *testing.B, model string, s onnx.EncoderSettings, texts []string) {
	enc, err := onnx.OpenEncoder(model, s)
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	dst := blas32.General{Rows: len(texts), Cols: enc.Dim(), Stride: enc.Dim(), Data: make([]float32, len(texts)*enc.Dim())}
	run0, cpu0 := enc.RunTime(), procstat.CPUTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := enc.Encode(context.Background(), dst, texts); err != nil {
			b.Fatal(err)
		}
	}
	el, cpu := b.Elapsed(), procstat.CPUTime()-cpu0
	run := enc.RunTime() - run0
	b.ReportMetric(float64(b.N*len(texts))/el.Seconds(), "texts/s")
	b.ReportMetric(float64(b.N*len(texts))/cpu.Seconds(), "texts/cpu-s")
	b.ReportMetric(100*(1-run.Seconds()/el.Seconds()), "%outside-run")
}
