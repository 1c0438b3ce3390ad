// Package mining finds hard negatives for training in a corpus of
// embeddings: an exact blocked top-k search (TopK) and hard-negative
// mining (Mine) with a rank window and score filters, written in one of
// several JSONL output formats (Formats) with a manifest (WriteOutputs).
//
// Mining inside a training batch is not here: it is an option of the
// triplet loss (package losses, spec "triplet:mining=semihard" and the
// other categories), fused with the loss's evaluation, and
// losses.CountTriplets counts a batch's triplet categories.
//
// Hard-negative mining, for each query (a text with one or more positives,
// or a labelled item): score the corpus by dot product (cosine similarity
// on L2-normalized rows, see NormalizeRows), leave out the query's
// positives and any row whose text equals the query's or a positive's,
// keep the candidates at ranks [range_min, range_max) that pass every
// filter, and take num_negatives of them, the best or a seeded random
// sample. The filters drop a candidate scoring above max_score or below
// min_score, or above s_pos − absolute_margin, or above
// s_pos − relative_margin·|s_pos|, where s_pos is the query's smallest
// positive score (for a labelled item, over the items of its label with
// another text). Adding an output format is one new file holding
// its writer plus its entry in the format list.
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
