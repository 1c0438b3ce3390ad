package train

import (
	"github.com/embfit/embfit/internal/inputerr"
	"math/rand/v2"
	"slices"
)

// MPerClassSampler draws batches of P classes × K items from labelled
// rows, like pytorch-metric-learning's MPerClassSampler: each batch holds
// P distinct classes and exactly K rows of each, so every row has K−1
// positives and (P−1)·K negatives in its batch. A class with fewer than K
// rows contributes all of them plus rows drawn again with replacement.
// Classes with a single row cannot give positives and are never drawn.
type MPerClassSampler struct {
	p, k    int
	classes [][]int // row indices per usable class, in label order
	rows    int     // rows in usable classes
}

// NewMPerClassSampler groups rows by labels. p is the number of classes
// per batch and k the number of rows per class.
func NewMPerClassSampler(labels []int, p, k int) (*MPerClassSampler, error) {
	if p < 2 || k < 2 {
		return nil, inputerr.Settingf("batch_size", "m-per-class sampler: need at least 2 classes × 2 items per batch, got %d×%d", p, k)
	}
	byLabel := map[int][]int{}
	for i, y := range labels {
		byLabel[y] = append(byLabel[y], i)
	}
	keys := make([]int, 0, len(byLabel))
	for y, rows := range byLabel {
		if len(rows) >= 2 {
			keys = append(keys, y)
		}
	}
	slices.Sort(keys)
	s := &MPerClassSampler{p: p, k: k}
	for _, y := range keys {
		s.classes = append(s.classes, byLabel[y])
		s.rows += len(byLabel[y])
	}
	if len(s.classes) < p {
		return nil, inputerr.Settingf("batch_size", "m-per-class sampler: %d classes with at least 2 items, need %d per batch (%d×%d)", len(s.classes), p, p, k)
	}
	return s, nil
}

// BatchSize is P·K.
func (s *MPerClassSampler) BatchSize() int { return s.p * s.k }

// BatchesPerEpoch is ⌈rows/(P·K)⌉ over the rows of usable classes.
func (s *MPerClassSampler) BatchesPerEpoch() int {
	return (s.rows + s.p*s.k - 1) / (s.p * s.k)
}

// Epoch returns the batches (row indices) of one epoch drawn from rng.
// Within an epoch a class's rows are visited in a shuffled cycle, so every
// row is used about equally often; classes are picked with probability
// proportional to their size.
func (s *MPerClassSampler) Epoch(rng *rand.Rand) [][]int {
	// Shuffled per-class queues, consumed cyclically.
	queues := make([][]int, len(s.classes))
	pos := make([]int, len(s.classes))
	for c, rows := range s.classes {
		queues[c] = slices.Clone(rows)
		rng.Shuffle(len(queues[c]), func(i, j int) { queues[c][i], queues[c][j] = queues[c][j], queues[c][i] })
	}
	// Cumulative class sizes for size-proportional picks.
	cum := make([]int, len(s.classes))
	total := 0
	for c, rows := range s.classes {
		total += len(rows)
		cum[c] = total
	}
	n := s.BatchesPerEpoch()
	batches := make([][]int, 0, n)
	picked := make([]bool, len(s.classes))
	for b := 0; b < n; b++ {
		batch := make([]int, 0, s.p*s.k)
		chosen := make([]int, 0, s.p)
		for len(chosen) < s.p {
			r := rng.IntN(total)
			c, _ := slices.BinarySearch(cum, r+1)
			if picked[c] {
				continue
			}
			picked[c] = true
			chosen = append(chosen, c)
		}
		for _, c := range chosen {
			picked[c] = false
			q := queues[c]
			if len(q) >= s.k {
				if pos[c]+s.k > len(q) {
					// Start a new cycle: the rows not yet used in this
					// one first, then the used ones reshuffled.
					used := q[:pos[c]]
					rng.Shuffle(len(used), func(i, j int) { used[i], used[j] = used[j], used[i] })
					q = append(slices.Clone(q[pos[c]:]), used...)
					queues[c], pos[c] = q, 0
				}
				batch = append(batch, q[pos[c]:pos[c]+s.k]...)
				pos[c] += s.k
				continue
			}
			batch = append(batch, q...)
			for range s.k - len(q) {
				batch = append(batch, q[rng.IntN(len(q))])
			}
		}
		batches = append(batches, batch)
	}
	return batches
}

// PairRow is one pair-data example as indices into a table of distinct
// texts: the anchor (query), its positive, and optional mined negatives.
type PairRow struct {
	Anchor, Positive int
	Negatives        []int
}

// PairBatch is a batch of pair rows as text indices: Anchors[i] ↔
// Positives[i], and Negatives shared as extra candidates by every anchor.
// No text occurs twice in a batch.
type PairBatch struct {
	Rows      []int // indices into the PairRow slice
	Anchors   []int
	Positives []int
	Negatives []int
}

// PairBatches shuffles rows with rng and packs them into batches of at
// most size rows in which no text (anchor, positive or negative) occurs
// twice: a row whose anchor or positive is already in the current batch
// waits for a later batch (a duplicate would be a false in-batch
// negative), and a mined negative already present is dropped from that
// batch. Batches with fewer than 2 rows are not returned. maxNeg limits
// the mined negatives used per row (≤ 0: all).
func PairBatches(rows []PairRow, size, maxNeg int, rng *rand.Rand) []PairBatch {
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	var batches []PairBatch
	seen := map[int]bool{}
	pending := order
	for len(pending) > 0 {
		var b PairBatch
		clear(seen)
		rest := pending[:0:0]
		for k, r := range pending {
			if len(b.Rows) == size {
				rest = append(rest, pending[k:]...)
				break
			}
			row := rows[r]
			if seen[row.Anchor] || seen[row.Positive] || row.Anchor == row.Positive {
				if row.Anchor != row.Positive {
					rest = append(rest, r)
				}
				continue
			}
			seen[row.Anchor], seen[row.Positive] = true, true
			b.Rows = append(b.Rows, r)
			b.Anchors = append(b.Anchors, row.Anchor)
			b.Positives = append(b.Positives, row.Positive)
		}
		// Negatives after all anchors/positives are known.
		for _, r := range b.Rows {
			negs := rows[r].Negatives
			if maxNeg > 0 && len(negs) > maxNeg {
				negs = negs[:maxNeg]
			}
			for _, t := range negs {
				if !seen[t] {
					seen[t] = true
					b.Negatives = append(b.Negatives, t)
				}
			}
		}
		if len(b.Rows) >= 2 {
			batches = append(batches, b)
		}
		pending = rest // the first pending row is always taken or dropped, so this shrinks
	}
	return batches
}
