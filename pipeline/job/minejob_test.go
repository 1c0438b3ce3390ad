package job

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/pipeline/dataio"
)

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMineJobLoadEmbeddings(t *testing.T) {
	dir := t.TempDir()
	pairs := writeTemp(t, "pairs.jsonl", `{"anchor":"q1","positive":"c2"}`+"\n"+`{"anchor":"q2","positive":"c1"}`+"\n"+`{"anchor":"q1","positive":"c3"}`+"\n")
	corpus := writeTemp(t, "corpus.jsonl", `{"text":"c1"}`+"\n"+`{"text":"c2"}`+"\n"+`{"text":"c3"}`+"\n")
	q := linalg.NewMatrix(3, 2)
	copy(q.Data, []float32{3, 4, 0, 2, 9, 9})
	c := linalg.NewMatrix(3, 2)
	copy(c.Data, []float32{1, 0, 0, 0, 0, 5})
	qp, cp := filepath.Join(dir, "q.npy"), filepath.Join(dir, "c.npy")
	if err := dataio.WriteNPY(qp, q); err != nil {
		t.Fatal(err)
	}
	if err := dataio.WriteNPY(cp, c); err != nil {
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
	if err := dataio.WriteNPY(qp, m); err != nil {
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
	dataio.WriteNPY(filepath.Join(dir, "items.npy"), emb)

	job := &MineJob{Labelled: items, QueryEmbeddings: filepath.Join(dir, "items.npy")}
	p, man, err := job.Load(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(man.Mode, p.QueryText, p.QueryLabels)
	// Output: labelled [cat dog car] [0 0 1]
}
