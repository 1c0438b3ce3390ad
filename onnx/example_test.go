package onnx_test

import (
	"context"
	"fmt"
	"os"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/onnxtest"
)

// Embed texts with a model folder (model.onnx + tokenizer.json), mean
// pooling and L2 normalization.
func ExampleOpenEncoder() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	onnxtest.TokenModel{Dim: 4}.Write(dir) // stands in for a real export

	enc, err := onnx.OpenEncoder(dir, onnx.EncoderSettings{Pooling: onnx.PoolingMean, Normalize: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer enc.Close()
	texts := []string{"the quick brown fox", "hello world"}
	dst := blas32.General{Rows: len(texts), Cols: enc.Dim(), Stride: enc.Dim(), Data: make([]float32, len(texts)*enc.Dim())}
	if err := enc.Encode(context.Background(), dst, texts); err != nil {
		fmt.Println(err)
		return
	}
	s := enc.Settings()
	fmt.Println(enc.Dim(), s.Output, s.Pooling, s.BatchSize, s.MaxLength)
	// Output: 4 last_hidden_state mean 64 256
}
