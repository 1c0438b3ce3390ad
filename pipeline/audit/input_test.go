package audit

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/embfit/embfit/internal/linalg"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadInput(t *testing.T) {
	tests := []struct {
		name, content string
		cols          Columns
		form          string
		texts         []string
		labels        []int
		classes       []string
		queries       int
		err           string
	}{
		{name: "labelled", content: `{"text":"a dog","label":"animal"}
{"text":"a cat","label":"animal"}
{"text":"an oak","label":7}
`, form: "labelled", texts: []string{"a dog", "a cat", "an oak"}, labels: []int{0, 0, 1}, classes: []string{"animal", "7"}},
		{name: "pairs", content: `{"anchor":"dog","positive":"a barking animal","label":"x"}
{"anchor":"oak","positive":"a tree"}
`, form: "pairs", texts: []string{"dog", "oak", "a barking animal", "a tree"}, queries: 2},
		{name: "custom columns", content: `{"q":"dog","d":"a barking animal"}
{"q":"oak","d":"a tree"}
`, cols: Columns{Anchor: "q", Positive: "d"}, form: "pairs", texts: []string{"dog", "oak", "a barking animal", "a tree"}, queries: 2},
		{name: "missing label later", content: `{"text":"a","label":"x"}
{"text":"b"}
`, err: ":2: missing field \"label\""},
		{name: "missing positive later", content: `{"anchor":"a","positive":"x"}
{"anchor":"b"}
`, err: ":2: missing field \"positive\""},
		{name: "neither form", content: `{"foo":1}
`, err: ":1: need fields \"text\" and \"label\""},
		{name: "not json", content: "hello\n", err: ":1:"},
		{name: "one row", content: `{"text":"a","label":"x"}
`, err: "need at least 2 rows"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, "in.jsonl", tc.content)
			in, err := ReadInput(p, tc.cols)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "in.jsonl") {
					t.Fatalf("error %v, want one naming the file and containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if in.Form != tc.form || strings.Join(in.Texts, "|") != strings.Join(tc.texts, "|") || in.Queries != tc.queries {
				t.Errorf("got %+v", in)
			}
			if tc.labels != nil && (len(in.Labels) != len(tc.labels) || strings.Join(in.ClassNames, "|") != strings.Join(tc.classes, "|")) {
				t.Errorf("labels %v %v", in.Labels, in.ClassNames)
			}
		})
	}
}

func TestWritePerSample(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 1))
	x, labels := clustered(rng, 12, 4, 3, 0.3)
	texts := make([]string, 12)
	for i := range texts {
		texts[i] = "t" + string(rune('a'+i))
	}
	d := Data{X: x, Labels: labels, Texts: texts, ClassNames: []string{"x", "y", "z"}}
	rep, err := Run(context.Background(), d, Settings{Losses: []string{"triplet", "center"}, PerSample: true})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "per.jsonl")
	if err := WritePerSample(p, d, rep); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 12 {
		t.Fatalf("%d lines", len(lines))
	}
	if !strings.HasPrefix(lines[0], `{"row":0,"label":"x","text":"ta","grad_norm":{"triplet":`) {
		t.Errorf("line 0 = %s", lines[0])
	}
	var row struct {
		Row       int                `json:"row"`
		GradNorm  map[string]float64 `json:"grad_norm"`
		Retrieval struct {
			R           int     `json:"r"`
			AP          float64 `json:"ap_at_r"`
			TopNegative struct {
				Row  int    `json:"row"`
				Text string `json:"text"`
			} `json:"top_negative"`
		} `json:"retrieval"`
	}
	if err := json.Unmarshal([]byte(lines[5]), &row); err != nil {
		t.Fatal(err)
	}
	if row.Row != 5 || len(row.GradNorm) != 2 || row.Retrieval.R != 3 || labels[row.Retrieval.TopNegative.Row] == labels[5] ||
		row.Retrieval.TopNegative.Text != texts[row.Retrieval.TopNegative.Row] {
		t.Errorf("row 5 = %+v", row)
	}
	// Two models: each row twice, tagged with the model.
	rep.Model = "m1"
	rep2 := *rep
	rep2.Model = "m2"
	if err := WritePerSample(p, d, rep, &rep2); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(p)
	if n := strings.Count(string(b), "\n"); n != 24 || !strings.Contains(string(b), `{"row":0,"model":"m2"`) {
		t.Errorf("two-model per-sample: %d lines", n)
	}
	// Pairs: positives rows have no retrieval; top negatives name rows of X.
	q := 6
	px := linalg.NewMatrix(2*q, 4)
	copy(px.Data, x.Data[:2*q*4])
	pt := texts[:2*q]
	pd := Data{X: px, Queries: q, Texts: pt}
	prep, err := Run(context.Background(), pd, Settings{Losses: []string{"infonce"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := WritePerSample(p, pd, prep); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(p)
	lines = strings.Split(strings.TrimSpace(string(b)), "\n")
	if strings.Contains(lines[q], "retrieval") || !strings.Contains(lines[0], "retrieval") || strings.Contains(lines[0], "label") {
		t.Errorf("pair per-sample lines:\n%s\n%s", lines[0], lines[q])
	}
	var pr struct {
		Retrieval struct {
			TopNegative struct {
				Row int `json:"row"`
			} `json:"top_negative"`
		} `json:"retrieval"`
	}
	json.Unmarshal([]byte(lines[0]), &pr)
	if r := pr.Retrieval.TopNegative.Row; r < q || r == q {
		t.Errorf("pair top negative row %d: want a positive row other than %d", r, q)
	}
}
