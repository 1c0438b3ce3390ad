package onnx_test

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/onnxtest"
	"github.com/embfit/embfit/onnx/quantize"
)

// glossesFile is the WordNet test split `make setup` builds.
var glossesFile = filepath.Join("..", "data", "wordnet", "glosses.test.jsonl")

// wordnetGlosses returns the first n texts of glossesFile.
func wordnetGlosses(tb testing.TB, n int) []string {
	tb.Helper()
	f, err := os.Open(glossesFile)
	if err != nil {
		tb.Fatalf("%v (run `make setup`)", err)
	}
	defer f.Close()
	var texts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(texts) < n {
		var r struct{ Text string }
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			tb.Fatalf("%s: %v", glossesFile, err)
		}
		texts = append(texts, r.Text)
	}
	if len(texts) < n {
		tb.Fatalf("%s: %d glosses, want %d", glossesFile, len(texts), n)
	}
	return texts
}

// miniLM writes the MiniLM-L6-shaped transformer (bert-base-uncased
// tokenizer, seed 1) into a temporary folder and, when format is not
// empty, its int8 quantization into another; it returns both folders.
func miniLM(tb testing.TB, format quantize.Format) (fp32, int8 string) {
	tb.Helper()
	tok, err := onnxtest.ReferenceTokenizer("bert-base-uncased.json")
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	w, err := onnxtest.Transformer{Tokenizer: tok, Seed: 1}.Write(filepath.Join(dir, "fp32"))
	if err != nil {
		tb.Fatal(err)
	}
	if format == "" {
		return w.Dir, ""
	}
	q := filepath.Join(dir, "int8")
	if _, err := quantize.Files(w.Dir, q, false, quantize.Options{Format: format}); err != nil {
		tb.Fatal(err)
	}
	return w.Dir, q
}

func embedAll(tb testing.TB, model string, s onnx.EncoderSettings, texts []string) blas32.General {
	tb.Helper()
	enc, err := onnx.OpenEncoder(model, s)
	if err != nil {
		tb.Fatal(err)
	}
	defer enc.Close()
	dst := linalg.NewMatrix(len(texts), enc.Dim())
	if err := enc.Encode(context.Background(), dst, texts); err != nil {
		tb.Fatal(err)
	}
	return dst
}

// topK returns, for every row of the unit-norm embeddings e, the indices
// of its k nearest other rows by cosine (ties to the lower index).
func topK(e blas32.General, k int) [][]int {
	n := e.Rows
	gram := linalg.NewMatrix(n, n)
	linalg.MulT(gram, e, e)
	out := make([][]int, n)
	idx := make([]int, 0, n)
	for i := range n {
		row := linalg.Row(gram, i)
		idx = idx[:0]
		for j := range n {
			if j != i {
				idx = append(idx, j)
			}
		}
		slices.SortFunc(idx, func(a, b int) int {
			switch {
			case row[a] > row[b]:
				return -1
			case row[a] < row[b]:
				return 1
			}
			return a - b
		})
		out[i] = slices.Clone(idx[:k])
	}
	return out
}

// TestQuantizedMiniLMQuality embeds 2,000 WordNet test glosses with the
// MiniLM-shaped transformer and its int8 quantization (mean pooling, unit
// norm, max length 256) and checks what quantization costs: cosine
// between the two embeddings of each gloss ≥ 0.99, and the mean overlap
// of each gloss's 10 nearest neighbours under the two ≥ 0.9.
func TestQuantizedMiniLMQuality(t *testing.T) {
	if testing.Short() {
		t.Skip("embeds 2,000 texts twice with a 22M-parameter model")
	}
	const n, k = 2000, 10
	texts := wordnetGlosses(t, n)
	fp32, int8 := miniLM(t, quantize.FormatMatMulInteger)
	s := onnx.EncoderSettings{Pooling: onnx.PoolingMean, Normalize: true, MaxLength: 256, BatchSize: 32}
	a, b := embedAll(t, fp32, s, texts), embedAll(t, int8, s, texts)
	minCos, sum := math.Inf(1), 0.0
	for i := range n {
		c := float64(blas32.Dot(blas32.Vector{N: a.Cols, Inc: 1, Data: linalg.Row(a, i)}, blas32.Vector{N: b.Cols, Inc: 1, Data: linalg.Row(b, i)}))
		minCos = math.Min(minCos, c)
		sum += c
	}
	meanCos := sum / n
	na, nb := topK(a, k), topK(b, k)
	overlap := 0.0
	for i := range n {
		for _, j := range na[i] {
			if slices.Contains(nb[i], j) {
				overlap++
			}
		}
	}
	overlap /= n * k
	// The model must discriminate, or the neighbour check would be empty:
	// the fp32 embeddings of different glosses are not all alike.
	spread := 0.0
	for i := 1; i < n; i++ {
		spread += float64(blas32.Dot(blas32.Vector{N: a.Cols, Inc: 1, Data: linalg.Row(a, i)}, blas32.Vector{N: a.Cols, Inc: 1, Data: linalg.Row(a, i-1)}))
	}
	spread /= n - 1
	t.Logf("fp32 vs int8 on %d glosses: cosine min %.5f mean %.5f; top-%d overlap %.4f; mean cosine of consecutive fp32 glosses %.3f", n, minCos, meanCos, k, overlap, spread)
	if minCos < 0.99 {
		t.Errorf("min cosine %.5f < 0.99", minCos)
	}
	if overlap < 0.9 {
		t.Errorf("mean top-%d overlap %.4f < 0.9", k, overlap)
	}
	if spread > 0.95 {
		t.Errorf("fp32 embeddings of different glosses have mean cosine %.3f: too alike for neighbours to mean anything", spread)
	}
}
