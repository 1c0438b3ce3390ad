package embed

import (
	"context"
	"fmt"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/internal/tensorjson"
	"github.com/embfit/embfit/onnx"
)

// TensorTexts is an Encoder over a tensor model whose "texts" are tensors
// in their tensorjson.Canonical form (as dataio.ReadDataset gives them
// with DataFields.TensorShape), so that text-keyed jobs (the embedding
// cache, de-duplication, training) serve tensor models unchanged.
type TensorTexts struct {
	Enc *onnx.Encoder // a tensor model with a fixed item shape
}

var _ Encoder = TensorTexts{}

// Dim is the embedding width.
func (t TensorTexts) Dim() int { return t.Enc.Dim() }

// Encode parses each text as a flat tensor of the model's item shape and
// embeds them into dst.
func (t TensorTexts) Encode(ctx context.Context, dst blas32.General, texts []string) error {
	n := int(tensorjson.Count(t.Enc.ItemShape()))
	x := linalg.NewMatrix(len(texts), n)
	for i, s := range texts {
		if err := tensorjson.ParseCanonical(s, linalg.Row(x, i)); err != nil {
			return fmt.Errorf("item %d: %w", i, err)
		}
	}
	return t.Enc.EncodeFloats(ctx, dst, x, nil)
}
