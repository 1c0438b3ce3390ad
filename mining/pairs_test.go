package mining

import (
	"reflect"
	"testing"
)

func TestGroupPairs(t *testing.T) {
	anchors := []string{"a", "b", "a", "c", "a", "b"}
	positives := []string{"x", "y", "z", "x", "x", "w"}
	s := GroupPairs(anchors, positives)
	want := PairSet{
		Queries:      []string{"a", "b", "c"},
		FirstPair:    []int{0, 1, 3},
		Positives:    [][]string{{"x", "z"}, {"y", "w"}, {"x"}},
		PositivePair: [][]int{{0, 2}, {1, 5}, {3}},
		Pairs:        6,
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("got %+v\nwant %+v", s, want)
	}
	if got := s.DefaultCorpus(); !reflect.DeepEqual(got, []string{"x", "z", "y", "w"}) {
		t.Fatalf("default corpus %v", got)
	}
	for _, tc := range []struct {
		corpus  []string
		rows    [][]int
		missing int
	}{
		{[]string{"w", "x", "y", "z", "x"}, [][]int{{1, 3}, {2, 0}, {1}}, -1},
		{[]string{"x", "y", "w"}, nil, 2}, // z (pair 2) missing
		{[]string{"x", "z", "y"}, nil, 5}, // w (pair 5) missing
		{[]string{"q"}, nil, 0},
	} {
		rows, missing := s.CorpusRows(tc.corpus)
		if !reflect.DeepEqual(rows, tc.rows) || missing != tc.missing {
			t.Errorf("corpus %v: rows %v missing %d, want %v %d", tc.corpus, rows, missing, tc.rows, tc.missing)
		}
	}
}
