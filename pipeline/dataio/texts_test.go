package dataio

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/mining"
)

func TestReadPairTexts(t *testing.T) {
	tests := []struct {
		name, input string
		anchors     []string
		lines       []int
		wantErr     string // suffix after the file name
	}{
		{"ok", `{"anchor":"a","positive":"p"}` + "\n\n" + `{"anchor":"b","positive":"q"}`, []string{"a", "b"}, []int{1, 3}, ""},
		{"missing positive", `{"anchor":"a","positive":"p"}` + "\n" + `{"anchor":"b"}`, nil, nil, `:2: missing field "positive"`},
		{"blank anchor", `{"anchor":" ","positive":"p"}`, nil, nil, `:1: empty "anchor"`},
		{"empty positive", `{"anchor":"a","positive":""}`, nil, nil, `:1: empty "positive"`},
		{"not a string", `{"anchor":1,"positive":"p"}`, nil, nil, `:1: field "anchor" is not a string: "1"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, "pairs.jsonl", tc.input)
			anchors, _, lines, err := ReadPairTexts(path, "anchor", "positive")
			if tc.wantErr != "" {
				if want := path + tc.wantErr; err == nil || err.Error() != want {
					t.Fatalf("err = %v, want %s", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(anchors, tc.anchors) || !reflect.DeepEqual(lines, tc.lines) {
				t.Errorf("anchors %q lines %v, want %q %v", anchors, lines, tc.anchors, tc.lines)
			}
		})
	}
}

func TestReadCorpusTexts(t *testing.T) {
	tests := []struct {
		name, input string
		want        []string
		wantErr     string
	}{
		{"ok", `{"text":"a"}` + "\n" + `{"text":"b","x":1}`, []string{"a", "b"}, ""},
		{"missing", `{"text":"a"}` + "\n" + `{"body":"b"}`, nil, `:2: missing field "text"`},
		{"blank", `{"text":"\t"}`, nil, `:1: empty "text"`},
		{"not JSON", `{"text":"a"}` + "\n" + `oops`, nil, `:2: not JSON`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, "corpus.jsonl", tc.input)
			got, err := ReadCorpusTexts(path, "text")
			if tc.wantErr != "" {
				if want := path + tc.wantErr; err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Fatalf("err = %v, want prefix %s", err, want)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestReadLabelledItems(t *testing.T) {
	tests := []struct {
		name, input  string
		texts        []string
		labels, rows []int
		n            int
		wantErr      string
	}{
		{"dedup and numeric labels",
			`{"text":"a","label":"x"}` + "\n" + `{"text":"b","label":2}` + "\n" + `{"text":"a","label":"x"}` + "\n" + `{"text":"a","label":2}`,
			[]string{"a", "b", "a"}, []int{0, 1, 1}, []int{0, 1, 3}, 4, ""},
		{"missing label", `{"text":"a","label":"x"}` + "\n" + `{"text":"b"}`, nil, nil, nil, 0, `:2: missing field "label"`},
		{"null label", `{"text":"a","label":null}`, nil, nil, nil, 0, `:1: missing field "label"`},
		{"object label", `{"text":"a","label":{}}`, nil, nil, nil, 0, `:1: field "label" must be a string or number, got "{}"`},
		{"blank text", `{"text":"","label":"x"}`, nil, nil, nil, 0, `:1: empty "text"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, "items.jsonl", tc.input)
			texts, labels, rows, n, err := ReadLabelledItems(path, "text", "label")
			if tc.wantErr != "" {
				if want := path + tc.wantErr; err == nil || err.Error() != want {
					t.Fatalf("err = %v, want %s", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(texts, tc.texts) || !reflect.DeepEqual(labels, tc.labels) || !reflect.DeepEqual(rows, tc.rows) || n != tc.n {
				t.Errorf("got %q %v %v %d, want %q %v %v %d", texts, labels, rows, n, tc.texts, tc.labels, tc.rows, tc.n)
			}
		})
	}
}

func TestReadRowEmbeddings(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, rows int, bad float32) string {
		m := linalg.NewMatrix(rows, 2)
		for i := range m.Data {
			m.Data[i] = float32(i)
		}
		if bad != 0 {
			m.Data[3] = bad
		}
		p := filepath.Join(dir, name)
		if err := WriteNPY(p, m); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ok, nan, inf := write("ok.npy", 3, 0), write("nan.npy", 3, float32(math.NaN())), write("inf.npy", 3, float32(math.Inf(-1)))
	in := mining.InputFile{Path: "q.jsonl", Rows: 3}
	tests := []struct {
		name, path string
		in         mining.InputFile
		wantErr    string
	}{
		{"ok", ok, in, ""},
		{"row count", ok, mining.InputFile{Path: "q.jsonl", Rows: 4}, fmt.Sprintf("%s: 3 rows but q.jsonl has 4 JSON lines", ok)},
		{"NaN", nan, in, fmt.Sprintf("%s: row 1 holds a non-finite value", nan)},
		{"Inf", inf, in, fmt.Sprintf("%s: row 1 holds a non-finite value", inf)},
		{"missing file", filepath.Join(dir, "none.npy"), in, "open " + filepath.Join(dir, "none.npy")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ReadRowEmbeddings(tc.path, tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want prefix %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || m.Rows != 3 || m.Cols != 2 || m.Data[5] != 5 {
				t.Fatalf("got %+v, %v", m, err)
			}
		})
	}
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
