// Package embed turns a job's items into embedding rows: one Encoder
// interface (an ONNX encoder is one), an on-disk cache that runs the
// encoder once per distinct text across runs, a Model that opens an ONNX
// text encoder with progress and warnings, and JSONL, which embeds a JSONL
// file into an .npy and its sidecar.
package embed

import (
	"context"

	"gonum.org/v1/gonum/blas/blas32"
)

// Encoder turns texts into embedding rows (the frozen encoder).
// *onnx.Encoder is one.
type Encoder interface {
	// Dim is the embedding width D.
	Dim() int
	// Encode writes the embedding of texts[i] into row i of dst
	// (len(texts)×D, caller-owned).
	Encode(ctx context.Context, dst blas32.General, texts []string) error
}

// StageEmbed is the progress stage of Cache.Embed, counted in texts.
const StageEmbed = "embed"
