package embed

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/embfit/embfit/internal/inputerr"
	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/pipeline/dataio"
)

func writeTable(t testing.TB, dir, sidecar string, rows int) (string, string) {
	t.Helper()
	emb := linalg.NewMatrix(rows, 2)
	for i := range emb.Data {
		emb.Data[i] = float32(i)
	}
	npy, side := filepath.Join(dir, "e.npy"), filepath.Join(dir, "e.ids.jsonl")
	if err := dataio.WriteNPY(npy, emb); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(side, []byte(sidecar), 0o644); err != nil {
		t.Fatal(err)
	}
	return npy, side
}

func TestReadTable(t *testing.T) {
	for _, tc := range []struct {
		name, sidecar string
		rows          int
		want          string // error substring; "" = success
	}{
		{"in order", `{"text":"a"}` + "\n" + `{"text":"b","label":"x"}` + "\n", 2, ""},
		{"explicit rows", `{"row":1,"text":"b"}` + "\n" + `{"row":0,"text":"a"}` + "\n", 2, ""},
		{"missing text", `{"row":0}` + "\n", 1, `e.ids.jsonl:1: missing field "text"`},
		{"row outside", `{"row":5,"text":"a"}` + "\n", 1, "e.ids.jsonl:1: row: row 5 outside the 1 rows"},
		{"row twice", `{"row":0,"text":"a"}` + "\n" + `{"row":0,"text":"b"}` + "\n", 2, "e.ids.jsonl:2: row: row 0 named twice"},
		{"too few", `{"text":"a"}` + "\n", 2, "names 1 rows"},
		{"bad row", `{"row":"x","text":"a"}` + "\n", 1, "row: must be an integer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			npy, side := writeTable(t, t.TempDir(), tc.sidecar, tc.rows)
			tab, err := ReadTable(npy, side, "text")
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want %q", err, tc.want)
				}
				if _, ok := inputerr.As(err); !ok && tc.name != "too few" {
					t.Errorf("error %v is not an inputerr.Error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			dst := linalg.NewMatrix(2, 2)
			if err := tab.Encode(context.Background(), dst, []string{"b", "a"}); err != nil {
				t.Fatal(err)
			}
			if got := dst.Data; got[0] != 2 || got[1] != 3 || got[2] != 0 || got[3] != 1 {
				t.Errorf("Encode(b, a) = %v, want [2 3 0 1]", got)
			}
			if err := tab.Encode(context.Background(), linalg.NewMatrix(1, 2), []string{"zzz"}); !errors.Is(err, ErrNotInTable) {
				t.Errorf("unknown text: %v, want ErrNotInTable", err)
			}
		})
	}
}

func TestNewTableDuplicateTexts(t *testing.T) {
	emb := linalg.NewMatrix(3, 1)
	emb.Data[0], emb.Data[1], emb.Data[2] = 1, 1, 2
	if _, err := NewTable(emb, []string{"a", "a", "b"}, "x"); err != nil {
		t.Errorf("identical duplicate rows: %v", err)
	}
	if _, err := NewTable(emb, []string{"a", "b", "a"}, "x"); err == nil {
		t.Error("a text with two different vectors is accepted")
	}
}

// FuzzReadTable feeds arbitrary sidecars: ReadTable returns a table or an
// error, never panics.
func FuzzReadTable(f *testing.F) {
	f.Add(`{"text":"a"}` + "\n" + `{"text":"b"}`)
	f.Add(`{"row":1,"text":"a"}` + "\n" + `{"row":0,"text":"b"}`)
	f.Add(`{"row":-1,"text":"a"}`)
	f.Add(`[1,2]`)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, sidecar string) {
		npy, side := writeTable(t, dir, sidecar, 2)
		tab, err := ReadTable(npy, side, "text")
		if err == nil && tab.Len() != 2 {
			t.Fatalf("table of %d rows from a 2-row matrix", tab.Len())
		}
	})
}
