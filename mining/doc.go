// Package mining finds training examples in embeddings: in-batch miners
// that pick triplets and pairs for the losses (categories as defined in
// DESIGN.md, "Definitions"), an exact blocked top-k search over a corpus,
// and hard-negative mining with rank-window and score filters and its JSONL
// output formats (DESIGN.md, "Hard-negative mining (corpus)").
//
// mining works on plain row-major float32 matrices (gonum's blas32.General)
// and never imports onnx/ or pipeline/: callers embed and read files, then
// pass matrices, texts and settings.
//
// The corpus search (TopK, Mine) is exact and deterministic: float32 GEMMs
// of query blocks × corpus blocks (through internal/linalg, i.e. OpenBLAS)
// propose candidates, which are re-scored with float64 dot products; a
// bound on the float32 rounding error proves that nothing outside the
// candidates belongs in the top k, or triggers a second, thresholded pass
// for that query. Scores, ranks and outputs therefore do not depend on
// block sizes, worker counts or BLAS threads. Memory is one
// QueryBlock×CorpusBlock float32 buffer (32 MiB by default) plus
// queries × (k + k/4 + 4) hits of 16 bytes, never queries × corpus.
package mining

import (
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/rows"
)

// NormalizeRows scales every row of m to unit L2 norm in place (norm
// accumulated in float64). An all-zero row is left as it is. It returns
// the number of zero rows.
func NormalizeRows(m blas32.General) int {
	zero := 0
	for i := range m.Rows {
		r := m.Data[i*m.Stride : i*m.Stride+m.Cols]
		if rows.NormalizeVec(r, r) == 0 {
			zero++
		}
	}
	return zero
}
