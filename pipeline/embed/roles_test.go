package embed

import (
	"context"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
)

// lenEncoder embeds a text as [len(text), offset].
type lenEncoder struct{ offset float32 }

func (lenEncoder) Dim() int { return 2 }
func (e lenEncoder) Encode(_ context.Context, dst blas32.General, texts []string) error {
	for i, t := range texts {
		linalg.Row(dst, i)[0], linalg.Row(dst, i)[1] = float32(len(t)), e.offset
	}
	return nil
}

func TestRoles(t *testing.T) {
	r := Roles{Query: lenEncoder{1}, Corpus: lenEncoder{2}}
	texts := []string{QueryTag + "abc", CorpusTag + "de", "f", QueryTag + ""}
	dst := linalg.NewMatrix(len(texts), 2)
	if err := r.Encode(context.Background(), dst, texts); err != nil {
		t.Fatal(err)
	}
	want := []float32{3, 1, 2, 2, 1, 2, 0, 1}
	for k, v := range want {
		if dst.Data[k] != v {
			t.Fatalf("rows %v, want %v", dst.Data, want)
		}
	}
	for _, tc := range [][2]string{{QueryTag + "x", "x"}, {CorpusTag + "y", "y"}, {"z", "z"}} {
		if got := Untag(tc[0]); got != tc[1] {
			t.Errorf("Untag(%q) = %q", tc[0], got)
		}
	}
}
