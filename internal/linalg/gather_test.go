package linalg

import (
	"reflect"
	"testing"
)

func TestGatherRows(t *testing.T) {
	m := NewMatrix(3, 2)
	for i := range m.Data {
		m.Data[i] = float32(i)
	}
	tests := []struct {
		name string
		rows []int
		want []float32
		same bool // the result shares m's storage
	}{
		{"identity", []int{0, 1, 2}, m.Data, true},
		{"subset", []int{2, 0}, []float32{4, 5, 0, 1}, false},
		{"prefix is not identity", []int{0, 1}, []float32{0, 1, 2, 3}, false},
		{"repeat", []int{1, 1, 1, 1}, []float32{2, 3, 2, 3, 2, 3, 2, 3}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := GatherRows(m, tc.rows)
			if got.Rows != len(tc.rows) || got.Cols != 2 || !reflect.DeepEqual(got.Data[:got.Rows*got.Stride], tc.want) {
				t.Fatalf("got %+v, want data %v", got, tc.want)
			}
			if same := &got.Data[0] == &m.Data[0]; same != tc.same {
				t.Errorf("shares storage = %v, want %v", same, tc.same)
			}
		})
	}
}

// TestMineJobLoadEmbeddings loads a pairs problem from precomputed
// embeddings and checks positives, normalization, manifest and errors.
