package pipeline

import (
	"context"
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

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

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
				if want := "--pairs: " + path + tc.wantErr; err == nil || err.Error() != want {
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
				if want := "--corpus: " + path + tc.wantErr; err == nil || !strings.HasPrefix(err.Error(), want) {
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
				if want := "--labelled: " + path + tc.wantErr; err == nil || err.Error() != want {
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
		{"row count", ok, mining.InputFile{Path: "q.jsonl", Rows: 4}, fmt.Sprintf("--query-embeddings %s: 3 rows but q.jsonl has 4 JSON lines", ok)},
		{"NaN", nan, in, fmt.Sprintf("--query-embeddings %s: row 1 holds a non-finite value", nan)},
		{"Inf", inf, in, fmt.Sprintf("--query-embeddings %s: row 1 holds a non-finite value", inf)},
		{"missing file", filepath.Join(dir, "none.npy"), in, "--query-embeddings: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ReadRowEmbeddings(tc.path, "--query-embeddings", tc.in)
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

func TestGatherRows(t *testing.T) {
	m := linalg.NewMatrix(3, 2)
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
func TestMineJobLoadEmbeddings(t *testing.T) {
	dir := t.TempDir()
	pairs := writeTemp(t, "pairs.jsonl", `{"anchor":"q1","positive":"c2"}`+"\n"+`{"anchor":"q2","positive":"c1"}`+"\n"+`{"anchor":"q1","positive":"c3"}`+"\n")
	corpus := writeTemp(t, "corpus.jsonl", `{"text":"c1"}`+"\n"+`{"text":"c2"}`+"\n"+`{"text":"c3"}`+"\n")
	q := linalg.NewMatrix(3, 2)
	copy(q.Data, []float32{3, 4, 0, 2, 9, 9})
	c := linalg.NewMatrix(3, 2)
	copy(c.Data, []float32{1, 0, 0, 0, 0, 5})
	qp, cp := filepath.Join(dir, "q.npy"), filepath.Join(dir, "c.npy")
	if err := WriteNPY(qp, q); err != nil {
		t.Fatal(err)
	}
	if err := WriteNPY(cp, c); err != nil {
		t.Fatal(err)
	}
	var warnings []string
	j := &MineJob{Pairs: pairs, Corpus: corpus, QueryEmbeddings: qp, CorpusEmbeddings: cp, Warn: func(m string) { warnings = append(warnings, m) }}
	p, man, err := j.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.QueryText, []string{"q1", "q2"}) || !reflect.DeepEqual(p.Positives, [][]int{{1, 2}, {0}}) {
		t.Errorf("queries %q positives %v", p.QueryText, p.Positives)
	}
	// Queries are the first pair row of each anchor, normalized.
	if want := []float32{0.6, 0.8, 0, 1}; !reflect.DeepEqual(p.Queries.Data, want) {
		t.Errorf("queries %v, want %v", p.Queries.Data, want)
	}
	if want := []float32{1, 0, 0, 0, 0, 1}; !reflect.DeepEqual(p.Corpus.Data, want) {
		t.Errorf("corpus %v, want %v", p.Corpus.Data, want)
	}
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], "1 all-zero embeddings") {
		t.Errorf("warnings %q", warnings)
	}
	var roles []string
	for _, in := range man.Inputs {
		roles = append(roles, in.Role)
		if len(in.SHA256) != 64 {
			t.Errorf("input %s: sha256 %q", in.Role, in.SHA256)
		}
	}
	if want := []string{"pairs", "corpus", "query-embeddings", "corpus-embeddings"}; man.Mode != "pairs" || !reflect.DeepEqual(roles, want) {
		t.Errorf("manifest mode %q roles %v", man.Mode, roles)
	}

	// A positive missing from the corpus names its pairs line.
	j.Pairs = writeTemp(t, "bad.jsonl", `{"anchor":"q1","positive":"c2"}`+"\n"+`{"anchor":"q2","positive":"nope"}`+"\n"+`{"anchor":"q3","positive":"c3"}`+"\n")
	_, _, err = j.Load(context.Background())
	if want := fmt.Sprintf("%s:2: positive \"nope\" is not in the corpus %s", j.Pairs, corpus); err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

// TestMineJobLoadLabelled gathers the first record of each distinct item.
func TestMineJobLoadLabelled(t *testing.T) {
	items := writeTemp(t, "items.jsonl", `{"text":"a","label":"x"}`+"\n"+`{"text":"a","label":"x"}`+"\n"+`{"text":"b","label":"y"}`+"\n")
	m := linalg.NewMatrix(3, 2)
	copy(m.Data, []float32{1, 0, 7, 7, 0, 2})
	qp := filepath.Join(t.TempDir(), "q.npy")
	if err := WriteNPY(qp, m); err != nil {
		t.Fatal(err)
	}
	p, man, err := (&MineJob{Labelled: items, QueryEmbeddings: qp}).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{1, 0, 0, 1}; !reflect.DeepEqual(p.Queries.Data, want) || &p.Corpus.Data[0] != &p.Queries.Data[0] {
		t.Errorf("queries %v (want %v), corpus must be the queries", p.Queries.Data, want)
	}
	if man.Mode != "labelled" || !reflect.DeepEqual(p.QueryLabels, []int{0, 1}) || man.Inputs[0].Rows != 3 {
		t.Errorf("mode %q labels %v inputs %+v", man.Mode, p.QueryLabels, man.Inputs)
	}
}

func ExampleMineJob_Load() {
	dir, _ := os.MkdirTemp("", "minejob")
	defer os.RemoveAll(dir)
	items := filepath.Join(dir, "items.jsonl")
	os.WriteFile(items, []byte(`{"text":"cat","label":"animal"}`+"\n"+`{"text":"dog","label":"animal"}`+"\n"+`{"text":"car","label":"vehicle"}`+"\n"), 0o644)
	emb := linalg.NewMatrix(3, 2)
	copy(emb.Data, []float32{1, 0, 0.8, 0.6, 0.6, 0.8})
	WriteNPY(filepath.Join(dir, "items.npy"), emb)

	job := &MineJob{Labelled: items, QueryEmbeddings: filepath.Join(dir, "items.npy")}
	p, man, err := job.Load(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(man.Mode, p.QueryText, p.QueryLabels)
	// Output: labelled [cat dog car] [0 0 1]
}
