// Package losses implements embfit's metric-learning losses with analytic
// gradients: contrastive, triplet, InfoNCE, center and circle.
//
// Losses work on plain row-major float32 matrices (gonum's blas32.General)
// and integer labels. Eval returns a loss's value on a Batch and writes
// ∂L/∂X for the raw rows; EvalFloat64 (Float64Loss, implemented by every
// loss here) is the same definition in float64.
//
// # Specs
//
// A loss is named by a spec NAME[:key=value,...], for example
// "triplet:margin=0.1,mining=semihard"; Parse builds it and Spec writes it
// back with every key spelled out. A training objective term may carry a
// weight, "W*SPEC" (ParseWeighted). Keys a spec leaves out take their
// defaults; every number must be finite and in its range, or Parse fails
// with an error naming the spec and the key:
//
//	loss         key          default       range / values
//	contrastive  margin       1             ≥ 0
//	             pos_margin   0             ≥ 0
//	             normalize    true          true, false
//	triplet      margin       0.2           finite
//	             distance     euclidean     euclidean, squared, cosine
//	             mining       all           all, easy, semihard, hard, batch-hard
//	             soft         false         true, false
//	             reduction    avg_nonzero   avg_nonzero, mean
//	             normalize    true          true, false
//	infonce      temperature  0.07          > 0
//	             symmetric    false         true, false
//	             normalize    true          true, false
//	center       alpha        0.5           in [0, 1]
//	             lambda       0.01          ≥ 0
//	             normalize    false         true, false
//	circle       m            0.4           finite
//	             gamma        80            > 0
//	             normalize    true          true, false
//	(weight)     W            1             > 0
//
// A loss's exported fields are its parameters, held nowhere else: each loss
// declares its keys once, in one table binding every key to a field with
// its default and range, and Parse, Spec and Params all read that table.
// Adding a loss is one new file (the type, its Eval and EvalFloat64, its
// table) plus its entry in the registry's list.
//
// # Definitions
//
// These definitions are normative: the code, its tests and the reference
// values in the tests follow them.
//
// Notation. The batch holds raw embeddings x_i (the N×D rows of X) and
// labels y_i. Unless a loss says otherwise it works on the unit rows
// u_i = x_i/‖x_i‖ (key normalize, on by default; a zero row stays zero),
// and its gradient is reported for the raw x_i, through the normalisation.
// s_ij = u_i·u_j is the similarity and d_ij = ‖u_i − u_j‖₂ the distance.
// (i, j) with i ≠ j is a positive pair when y_i = y_j and a negative pair
// otherwise. An anchor with no positive or no negative contributes
// nothing; a loss with nothing to average is 0 with a zero gradient, never
// NaN. Sums are accumulated in float64.
//
// Contrastive (Hadsell, Chopra and LeCun, 2006): the mean, over all
// unordered pairs i < j, of ½·max(0, d_ij − pos_margin)² for a positive
// pair and ½·max(0, margin − d_ij)² for a negative pair.
//
// Triplet (FaceNet): over the triplets (a, p, n) with y_a = y_p ≠ y_n and
// a ≠ p, ℓ = max(0, D_ap − D_an + margin), or softplus of the same
// argument when soft. D is d (euclidean), d² (squared) or 1 − s (cosine).
// With m = D_an − D_ap a triplet is easy when m > margin, semihard when
// 0 < m ≤ margin and hard when m ≤ 0; mining keeps all triplets, the
// triplets of one category, or (batch-hard) per anchor its farthest
// positive and its nearest negative. This is in-batch mining: a spec
// option of the loss, not a separate step. The reduction avg_nonzero
// averages over the kept triplets with ℓ > 0 (0 when there are none),
// mean over all kept triplets. CountTriplets counts the categories.
// The values match pytorch-metric-learning's TripletMarginLoss with
// TripletMarginMiner or BatchHardMiner.
//
// InfoNCE, temperature τ. Labelled form (NT-Xent, as pytorch-metric-
// learning's NTXentLoss): for each ordered positive pair (a, p),
// ℓ = −log(e^{s_ap/τ} / (e^{s_ap/τ} + Σ_{n: y_n≠y_a} e^{s_an/τ})), mean over
// the positive pairs. Pair form (Batch.Queries = Q > 0: query i and
// positive i, then explicit negatives shared by all queries): the
// candidates of query i are every positive of the batch, then every
// negative; ℓ_i is the cross-entropy of s(q_i, ·)/τ with target positive i,
// mean over i. Symmetric adds the positive→query direction (candidates the
// Q queries, target query i) and averages the two means, as
// sentence-transformers' MultipleNegativesSymmetricRankingLoss with scale
// 1/τ. Everything goes through log-sum-exp.
//
// Center (Wen et al., ECCV 2016), on the rows as given (normalize off by
// default): L_C = mean_i ½‖x_i − c_{y_i}‖². As a loss to evaluate, the
// centers are the batch's class means, held constant. Its training form
// (TrainingLoss) keeps the centers as state, updated after each batch by
// Δc_j = Σ_{i: y_i=j}(c_j − x_i) / (1 + |{i: y_i=j}|), c_j ← c_j − α·Δc_j,
// and minimises the softmax cross-entropy of a linear classifier on the
// embeddings plus λ·L_C.
//
// Circle (Sun et al., CVPR 2020), on cosine similarities: per anchor with
// at least one positive and one negative,
// ℓ = softplus(LSE_n γ·α_n·(s_n − m) + LSE_p −γ·α_p·(s_p − (1 − m))), with
// α_p = max(0, 1 + m − s_p) and α_n = max(0, s_n + m) held constant in the
// gradient; mean over those anchors (pytorch-metric-learning's CircleLoss).
//
// # Precision, memory and determinism
//
// Eval computes the Gram matrices with float32 BLAS (one GEMM entry point,
// OpenBLAS) and everything else in float64; EvalFloat64 runs the same code
// on float64 inputs with float64 GEMMs and reproduces float64 references
// to about 1e-15.
//
// The pairwise losses never build anything of size N³ or per triplet. A
// labelled float32 batch whose N×N float32 matrix fits in 256 MiB runs in
// the tile engine: the upper half of the similarity matrix in square tiles
// (edge 128 below 2048 rows, 256 from 2048 rows on), each pair evaluated
// once for both of its ends, then one symmetric backward product. Other
// batches, the float64 path and the pair form of InfoNCE run on row blocks
// of the similarity matrix (at most 256 MiB of block buffers). Work runs
// in parallel, but every reduction has a fixed order, so values and
// gradients are bit-identical whatever the number of threads.
package losses
