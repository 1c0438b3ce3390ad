package glove

import (
	"math"
	"reflect"
	"testing"

	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/graph"
	"github.com/embfit/embfit/onnx/tokenizer"
)

func smallVectors() *Vectors {
	v := &Vectors{Words: testWords, Dim: 3, Unk: []float32{0.5, 0.5, 0.5}, SourceWords: len(testWords)}
	for _, x := range testVecs {
		v.Data = append(v.Data, toFloat32(x)...)
	}
	return v
}

func TestTokenizerJSON(t *testing.T) {
	b, err := TokenizerJSON([]string{"the", ",", "quick", "brown", "fox", "café", "!"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Parse(b)
	if err != nil {
		t.Fatalf("embfit's tokenizer rejects the file: %v", err)
	}
	if tok.VocabSize() != 9 || tok.PadID() != PadID || tok.PadToken() != PadToken || tok.NumSpecialTokens() != 0 || tok.Token(UnkID) != UnkToken {
		t.Fatalf("vocab %d pad %d %q special %d unk %q", tok.VocabSize(), tok.PadID(), tok.PadToken(), tok.NumSpecialTokens(), tok.Token(UnkID))
	}
	tests := []struct {
		text string
		ids  []int64
	}{
		{"The quick brown fox", []int64{2, 4, 5, 6}},
		{"THE QUICK,  brown\tfox!", []int64{2, 4, 3, 5, 6, 8}},
		{"Café zebra", []int64{7, UnkID}}, // accents kept, unknown word → [UNK]
		{"so-called", []int64{UnkID, UnkID, UnkID}},
		{"", nil},
	}
	for _, tc := range tests {
		enc := tok.Encode(tc.text, 0)
		if len(enc.IDs) != len(tc.ids) || (len(tc.ids) > 0 && !reflect.DeepEqual(enc.IDs, tc.ids)) {
			t.Errorf("Encode(%q) = %v %q, want %v", tc.text, enc.IDs, enc.Tokens, tc.ids)
		}
	}
}

func TestModelThroughORT(t *testing.T) {
	v := smallVectors()
	m := Model(v)
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
	wantIn := []graph.ValueInfo{
		{Name: "input_ids", Type: graph.Int64, Dims: []graph.Dim{graph.Sym("batch"), graph.Sym("sequence")}},
		{Name: "attention_mask", Type: graph.Int64, Dims: []graph.Dim{graph.Sym("batch"), graph.Sym("sequence")}},
	}
	if !reflect.DeepEqual(m.Inputs(), wantIn) || m.Outputs()[0].String() != "last_hidden_state float32[batch,sequence,3]" {
		t.Fatalf("interface %v → %v", m.Inputs(), m.Outputs())
	}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	s, err := onnx.OpenSessionBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Two texts: "the quick fox" and "brown [UNK]" padded with [PAD].
	ids := []int64{2, 4, 6, 5, UnkID, PadID}
	mask := []int64{1, 1, 1, 1, 1, 0}
	out, err := s.Run(map[string]onnx.Tensor{
		"input_ids":      {Shape: []int64{2, 3}, Int64: ids},
		"attention_mask": {Shape: []int64{2, 3}, Int64: mask},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out[0].Shape, []int64{2, 3, 3}) {
		t.Fatalf("output shape %v", out[0].Shape)
	}
	for k, id := range ids {
		var want []float32
		switch {
		case mask[k] == 0:
			want = []float32{0, 0, 0}
		case id == UnkID:
			want = v.Unk
		default:
			want = v.Row(int(id) - 2)
		}
		if got := out[0].Float[3*k : 3*k+3]; !reflect.DeepEqual(got, want) {
			t.Errorf("token %d (id %d): %v, want %v", k, id, got, want)
		}
	}
	// A masked real word is zero too.
	out, err = s.Run(map[string]onnx.Tensor{
		"input_ids":      {Shape: []int64{1, 2}, Int64: []int64{2, 3}},
		"attention_mask": {Shape: []int64{1, 2}, Int64: []int64{1, 0}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{1, 0, 0, 0, 0, 0}; !reflect.DeepEqual(out[0].Float, want) {
		t.Errorf("masked word: %v, want %v", out[0].Float, want)
	}
	// Ids outside the table are an error, not garbage.
	if _, err := s.Run(map[string]onnx.Tensor{
		"input_ids":      {Shape: []int64{1, 1}, Int64: []int64{7}},
		"attention_mask": {Shape: []int64{1, 1}, Int64: []int64{1}},
	}); err == nil {
		t.Error("out-of-range id accepted")
	}
}

func meanOf(rows ...[]float32) []float64 {
	out := make([]float64, len(rows[0]))
	for _, r := range rows {
		for j, x := range r {
			out[j] += float64(x)
		}
	}
	for j := range out {
		out[j] /= float64(len(rows))
	}
	return out
}

func maxAbsDiff(a []float32, b []float64) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-b[i]))
	}
	return d
}
