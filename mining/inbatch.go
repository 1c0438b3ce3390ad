package mining

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/blas/blas32"
)

// In-batch miners work on an N×N distance matrix of a batch (for example
// from losses.Distances) and its labels. A triplet (a, p, n) is valid when
// a ≠ p, labels[a] == labels[p] and labels[n] != labels[a]; its margin
// value is m = d[a,n] − d[a,p] (computed in float64). Categories follow
// DESIGN.md: easy m > margin, semihard 0 < m ≤ margin, hard m ≤ 0.

// Category selects which valid triplets MineTriplets returns.
type Category int

const (
	// CategoryAll keeps every valid triplet.
	CategoryAll Category = iota
	// CategoryEasy keeps m > margin.
	CategoryEasy
	// CategorySemihard keeps 0 < m ≤ margin.
	CategorySemihard
	// CategoryHard keeps m ≤ 0.
	CategoryHard
)

var categoryNames = []string{"all", "easy", "semihard", "hard"}

// String returns the category's name: all, easy, semihard or hard.
func (c Category) String() string {
	if c >= 0 && int(c) < len(categoryNames) {
		return categoryNames[c]
	}
	return fmt.Sprintf("Category(%d)", int(c))
}

// ParseCategory maps "all", "easy", "semihard" or "hard" to a Category.
func ParseCategory(s string) (Category, error) {
	if i := slices.Index(categoryNames, s); i >= 0 {
		return Category(i), nil
	}
	return 0, fmt.Errorf("unknown triplet category %q (valid: all, easy, semihard, hard)", s)
}

// categorize returns the category of margin value m.
func categorize(m, margin float64) Category {
	switch {
	case m <= 0:
		return CategoryHard
	case m <= margin:
		return CategorySemihard
	}
	return CategoryEasy
}

// Triplets are mined triplets as parallel slices of batch row indices.
type Triplets struct {
	Anchors, Positives, Negatives []int32
}

// Len returns the number of triplets.
func (t *Triplets) Len() int { return len(t.Anchors) }

func (t *Triplets) reset() {
	t.Anchors, t.Positives, t.Negatives = t.Anchors[:0], t.Positives[:0], t.Negatives[:0]
}

func (t *Triplets) add(a, p, n int) {
	t.Anchors = append(t.Anchors, int32(a))
	t.Positives = append(t.Positives, int32(p))
	t.Negatives = append(t.Negatives, int32(n))
}

// CategoryCounts counts valid triplets per category.
type CategoryCounts struct {
	Easy, Semihard, Hard, Total int64
}

func (c *CategoryCounts) add(cat Category) {
	switch cat {
	case CategoryEasy:
		c.Easy++
	case CategorySemihard:
		c.Semihard++
	case CategoryHard:
		c.Hard++
	}
	c.Total++
}

// TripletMiner selects triplets of one category. The zero value keeps all
// triplets with margin 0.
type TripletMiner struct {
	// Margin separates easy from semihard triplets (the triplet loss's
	// default is 0.2).
	Margin float64
	// Category is the kind of triplet kept.
	Category Category
	// MaxTriplets, when > 0, caps the result at a uniform sample of that
	// many of the selected triplets (reservoir sampling seeded by Seed),
	// kept in enumeration order.
	MaxTriplets int
	Seed        uint64
}

func checkBatch(dist blas32.General, labels []int) {
	if dist.Rows != dist.Cols || dist.Rows != len(labels) {
		panic(fmt.Sprintf("mining: distance matrix %d×%d for %d labels", dist.Rows, dist.Cols, len(labels)))
	}
}

// Mine fills dst (reusing its storage) with the valid triplets of the
// batch in m.Category, enumerated by anchor, then positive, then negative
// (ascending rows), and returns the counts of every valid triplet by
// category (before the category filter and the MaxTriplets cap). dist is
// N×N, labels has N entries.
func (m TripletMiner) Mine(dst *Triplets, dist blas32.General, labels []int) CategoryCounts {
	checkBatch(dist, labels)
	dst.reset()
	var counts CategoryCounts
	var rng *rand.Rand
	if m.MaxTriplets > 0 {
		rng = rand.New(rand.NewPCG(m.Seed, 0x7472697))
	}
	var pos []int
	var neg []int
	seen := 0
	for a := range labels {
		pos, neg = pos[:0], neg[:0]
		for j, l := range labels {
			switch {
			case j == a:
			case l == labels[a]:
				pos = append(pos, j)
			default:
				neg = append(neg, j)
			}
		}
		row := dist.Data[a*dist.Stride : a*dist.Stride+dist.Cols]
		for _, p := range pos {
			dap := float64(row[p])
			for _, n := range neg {
				cat := categorize(float64(row[n])-dap, m.Margin)
				counts.add(cat)
				if m.Category != CategoryAll && cat != m.Category {
					continue
				}
				seen++
				if m.MaxTriplets <= 0 || dst.Len() < m.MaxTriplets {
					dst.add(a, p, n)
				} else if j := rng.IntN(seen); j < m.MaxTriplets {
					dst.Anchors[j], dst.Positives[j], dst.Negatives[j] = int32(a), int32(p), int32(n)
				}
			}
		}
	}
	if m.MaxTriplets > 0 && seen > m.MaxTriplets {
		sortTriplets(dst)
	}
	return counts
}

// sortTriplets restores enumeration order (a, then p, then n).
func sortTriplets(t *Triplets) {
	idx := make([]int, t.Len())
	for i := range idx {
		idx[i] = i
	}
	key := func(i int) [3]int32 { return [3]int32{t.Anchors[i], t.Positives[i], t.Negatives[i]} }
	slices.SortFunc(idx, func(i, j int) int {
		a, b := key(i), key(j)
		for k := range a {
			if a[k] != b[k] {
				return int(a[k] - b[k])
			}
		}
		return 0
	})
	a, p, n := slices.Clone(t.Anchors), slices.Clone(t.Positives), slices.Clone(t.Negatives)
	for k, i := range idx {
		t.Anchors[k], t.Positives[k], t.Negatives[k] = a[i], p[i], n[i]
	}
}

// BatchHard fills dst with one triplet per anchor that has a positive and
// a negative: its farthest positive and its nearest negative (ties go to
// the lower row), in anchor order. It returns the category counts of
// those triplets for margin.
func BatchHard(dst *Triplets, dist blas32.General, labels []int, margin float64) CategoryCounts {
	checkBatch(dist, labels)
	dst.reset()
	var counts CategoryCounts
	for a := range labels {
		row := dist.Data[a*dist.Stride : a*dist.Stride+dist.Cols]
		p, n := -1, -1
		for j, l := range labels {
			switch {
			case j == a:
			case l == labels[a]:
				if p < 0 || row[j] > row[p] {
					p = j
				}
			default:
				if n < 0 || row[j] < row[n] {
					n = j
				}
			}
		}
		if p < 0 || n < 0 {
			continue
		}
		dst.add(a, p, n)
		counts.add(categorize(float64(row[n])-float64(row[p]), margin))
	}
	return counts
}

// Pairs are mined pairs as parallel slices of batch rows, i < j.
type Pairs struct {
	PosA, PosB []int32 // positive pairs (same label)
	NegA, NegB []int32 // negative pairs (different labels)
}

// PairCounts counts the batch's pairs and those mined.
type PairCounts struct {
	Positive, PositiveMined int64
	Negative, NegativeMined int64
}

// PairMiner keeps the pairs that violate their margin, like
// pytorch-metric-learning's PairMarginMiner: positive pairs with
// d > PosMargin and negative pairs with d < NegMargin. The zero value keeps
// every positive pair at a non-zero distance and no negative pair.
type PairMiner struct {
	PosMargin, NegMargin float64
}

// Mine fills dst with the mined unordered pairs (i < j, ascending i then
// j) of the batch and returns the counts. dist is N×N, labels has N entries.
func (m PairMiner) Mine(dst *Pairs, dist blas32.General, labels []int) PairCounts {
	checkBatch(dist, labels)
	dst.PosA, dst.PosB, dst.NegA, dst.NegB = dst.PosA[:0], dst.PosB[:0], dst.NegA[:0], dst.NegB[:0]
	var c PairCounts
	for i := range labels {
		row := dist.Data[i*dist.Stride : i*dist.Stride+dist.Cols]
		for j := i + 1; j < len(labels); j++ {
			d := float64(row[j])
			if labels[i] == labels[j] {
				c.Positive++
				if d > m.PosMargin {
					c.PositiveMined++
					dst.PosA, dst.PosB = append(dst.PosA, int32(i)), append(dst.PosB, int32(j))
				}
			} else {
				c.Negative++
				if d < m.NegMargin {
					c.NegativeMined++
					dst.NegA, dst.NegB = append(dst.NegA, int32(i)), append(dst.NegB, int32(j))
				}
			}
		}
	}
	return c
}
