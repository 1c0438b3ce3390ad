package mining

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/embfit/embfit/internal/linalg"
)

// mineSharded runs p as queryBlock × shards tasks through SearchShard and
// merges them with a Merger.
func mineSharded(t *testing.T, p Problem, s Settings, queryBlock, shards int) *Mined {
	t.Helper()
	nq, nc := p.Queries.Rows, p.Corpus.Rows
	qText, cText := InternTexts(p.QueryText, p.CorpusText)
	posText := make([][]int32, nq)
	for q, ps := range p.Positives {
		for _, c := range ps {
			posText[q] = append(posText[q], cText[c])
		}
	}
	m, err := NewMerger(p.Positives, nc, s)
	if err != nil {
		t.Fatal(err)
	}
	for q0 := 0; q0 < nq; q0 += queryBlock {
		q1 := min(q0+queryBlock, nq)
		parts := make([][]*Candidates, q1-q0)
		for i := range shards {
			c0, c1 := nc*i/shards, nc*(i+1)/shards
			if c1 == c0 {
				continue
			}
			sh := Shard{Queries: linalg.Slice(p.Queries, q0, q1), Corpus: linalg.Slice(p.Corpus, c0, c1), Q0: q0, C0: c0,
				QueryText: qText[q0:q1], CorpusText: cText[c0:c1], Positives: p.Positives[q0:q1], PositiveText: posText[q0:q1]}
			err := SearchShard(context.Background(), sh, s, func(q int, c *Candidates) error {
				cp := &Candidates{Zero: c.Zero, Positives: append([]PositiveScore(nil), c.Positives...), Hits: append([]Hit(nil), c.Hits...)}
				parts[q-q0] = append(parts[q-q0], cp)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		for q := q0; q < q1; q++ {
			if err := m.Add(q, parts[q-q0]); err != nil {
				t.Fatal(err)
			}
		}
	}
	mined, err := m.Mined()
	if err != nil {
		t.Fatal(err)
	}
	return mined
}

func TestSearchShardMergeEqualsMine(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	p := randomProblem(r, 57, 83, 5, false)
	// Duplicate rows and an all-zero query: ties and skips.
	copy(linalg.Row(p.Corpus, 1), linalg.Row(p.Corpus, 0))
	copy(linalg.Row(p.Corpus, 50), linalg.Row(p.Corpus, 0))
	clear(linalg.Row(p.Queries, 3))
	NormalizeRows(p.Queries)
	NormalizeRows(p.Corpus)
	settings := []Settings{
		{},
		{NumNegatives: 5, RangeMin: 2, RangeMax: 9},
		{NumNegatives: 4, RangeMax: 30, MaxScore: ptr(0.8), MinScore: ptr(-0.5), Sampling: SamplingRandom, Seed: 3},
		{NumNegatives: 2, RangeMin: 1, RangeMax: 12, AbsoluteMargin: ptr(0.05), RelativeMargin: ptr(0.1)},
		{NumNegatives: 3, RangeMax: 200, Sampling: SamplingRandom, Seed: 9, QueryBlock: 4, CorpusBlock: 7},
		{NumNegatives: 4, RangeMax: 10, IncludePositives: true, MaxScore: ptr(0.9)},
	}
	for si, s := range settings {
		want, err := Mine(context.Background(), p, s, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, shards := range []int{1, 3, 7} {
			for _, qb := range []int{1, 10, 57} {
				t.Run(fmt.Sprintf("s%d/shards%d/qb%d", si, shards, qb), func(t *testing.T) {
					got := mineSharded(t, p, s, qb, shards)
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("merged run differs from Mine:\ncounts %+v\nwant   %+v", got.Counts, want.Counts)
					}
				})
			}
		}
	}
}

func TestMergerErrors(t *testing.T) {
	m, err := NewMerger([][]int{{0, 1}}, 4, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Add(1, nil); err == nil {
		t.Error("out-of-order query accepted")
	}
	if err := m.Add(0, []*Candidates{{Positives: []PositiveScore{{Slot: 0, Score: 1}}}}); err == nil {
		t.Error("a missing positive (shard) accepted")
	}
	m, _ = NewMerger([][]int{{0}}, 4, Settings{})
	if err := m.Add(0, []*Candidates{{Positives: []PositiveScore{{Slot: 0}}}, {Positives: []PositiveScore{{Slot: 0}}}}); err == nil {
		t.Error("a positive scored twice accepted")
	}
	m, _ = NewMerger([][]int{{0}, {1}}, 4, Settings{})
	if _, err := m.Mined(); err == nil {
		t.Error("incomplete merge accepted")
	}
}
