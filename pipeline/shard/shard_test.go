package shard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/mining"
	"github.com/embfit/embfit/pipeline/dataio"
	"github.com/embfit/embfit/pipeline/job"
)

func ptr(v float64) *float64 { return &v }

// writeProblem writes a tie-heavy pairs problem: texts from a small
// vocabulary (repeated anchors, corpus texts equal to positives or
// anchors), integer embeddings in {-1, 0, 1} (many exactly tied scores,
// duplicate rows) and one all-zero query row.
func writeProblem(t *testing.T, dir string, nPairs, nCorpus, d int) (pairs, corpus, qe, ce string) {
	t.Helper()
	r := rand.New(rand.NewPCG(11, 12))
	var cb, pb bytes.Buffer
	texts := make([]string, nCorpus)
	for i := range texts {
		texts[i] = fmt.Sprintf("c%d", r.IntN(nCorpus*3/4))
		fmt.Fprintf(&cb, "{\"text\":%q}\n", texts[i])
	}
	for range nPairs {
		fmt.Fprintf(&pb, "{\"anchor\":\"c%d\",\"positive\":%q}\n", r.IntN(nCorpus), texts[r.IntN(nCorpus)])
	}
	pairs, corpus = filepath.Join(dir, "pairs.jsonl"), filepath.Join(dir, "corpus.jsonl")
	if err := os.WriteFile(pairs, pb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(corpus, cb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	q, c := linalg.NewMatrix(nPairs, d), linalg.NewMatrix(nCorpus, d)
	for _, m := range []struct {
		rows, cols int
		data       []float32
	}{{q.Rows, q.Cols, q.Data}, {c.Rows, c.Cols, c.Data}} {
		for i := range m.data {
			m.data[i] = float32(r.IntN(3) - 1)
		}
	}
	copy(linalg.Row(c, 5), linalg.Row(c, 0))
	copy(linalg.Row(c, nCorpus-1), linalg.Row(c, 0))
	clear(linalg.Row(q, 2))
	qe, ce = filepath.Join(dir, "q.npy"), filepath.Join(dir, "c.npy")
	if err := dataio.WriteNPY(qe, q); err != nil {
		t.Fatal(err)
	}
	if err := dataio.WriteNPY(ce, c); err != nil {
		t.Fatal(err)
	}
	return pairs, corpus, qe, ce
}

// readOut returns the output JSONL and its manifest.
func readOut(t *testing.T, path string) (string, string) {
	t.Helper()
	a, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path + ".manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	return string(a), string(b)
}

func TestPlanRunMergeEqualsMine(t *testing.T) {
	in := t.TempDir()
	pairs, corpus, qe, ce := writeProblem(t, in, 90, 61, 6)
	cases := []struct {
		name     string
		settings mining.Settings
		format   string
	}{
		{"defaults", mining.Settings{}, "triplet"},
		{"window", mining.Settings{NumNegatives: 4, RangeMin: 3, RangeMax: 11}, "n-tuple-scores"},
		{"scores-random", mining.Settings{NumNegatives: 3, RangeMax: 40, MaxScore: ptr(0.7), MinScore: ptr(-0.3), Sampling: mining.SamplingRandom, Seed: 5}, "labeled-pair"},
		{"margins", mining.Settings{NumNegatives: 2, RangeMin: 1, RangeMax: 20, AbsoluteMargin: ptr(0.1), RelativeMargin: ptr(0.2), QueryBlock: 7, CorpusBlock: 5}, "n-tuple"},
		{"include-positives", mining.Settings{NumNegatives: 6, RangeMax: 15, IncludePositives: true, MinScore: ptr(-0.2)}, "n-tuple-scores"},
		{"labeled-list", mining.Settings{NumNegatives: 3, RangeMin: 1, RangeMax: 9}, "labeled-list"},
		{"all-filters-random", mining.Settings{NumNegatives: 5, RangeMin: 2, RangeMax: 100, MaxScore: ptr(0.9), MinScore: ptr(-0.9), AbsoluteMargin: ptr(0.05), RelativeMargin: ptr(0.1), Sampling: mining.SamplingRandom, Seed: 77}, "triplet"},
	}
	for _, tc := range cases {
		single := t.TempDir()
		t.Chdir(single)
		j := &job.MineJob{Pairs: pairs, Corpus: corpus, QueryEmbeddings: qe, CorpusEmbeddings: ce, Settings: tc.settings, Format: tc.format, Out: "neg.jsonl"}
		if _, err := j.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		wantOut, wantMan := readOut(t, "neg.jsonl")
		if !strings.Contains(wantMan, `"dropped"`) {
			t.Fatal("no manifest")
		}
		for _, shards := range []int{1, 3, 7} {
			for _, tq := range []int{9, 31, 1000} {
				t.Run(fmt.Sprintf("%s/shards%d/tq%d", tc.name, shards, tq), func(t *testing.T) {
					dir := t.TempDir()
					t.Chdir(dir)
					p, err := MakePlan(context.Background(), PlanSettings{Pairs: pairs, Corpus: corpus, QueryEmbeddings: qe, CorpusEmbeddings: ce,
						Settings: tc.settings, Format: tc.format, TaskQueries: tq, Shards: shards})
					if err != nil {
						t.Fatal(err)
					}
					if err := p.Write("plan.json"); err != nil {
						t.Fatal(err)
					}
					p, err = ReadPlan("plan.json")
					if err != nil {
						t.Fatal(err)
					}
					inputs, err := OpenInputs(p)
					if err != nil {
						t.Fatal(err)
					}
					defer inputs.Close()
					// Tasks in reverse order, one twice (a retry).
					for i := len(p.Tasks) - 1; i >= 0; i-- {
						if err := inputs.RunTask(context.Background(), i); err != nil {
							t.Fatal(err)
						}
					}
					if err := inputs.RunTask(context.Background(), 0); err != nil {
						t.Fatal(err)
					}
					if _, err := Merge(context.Background(), p, "neg.jsonl"); err != nil {
						t.Fatal(err)
					}
					gotOut, gotMan := readOut(t, "neg.jsonl")
					if gotOut != wantOut {
						t.Errorf("JSONL differs from embfit mine's (%d vs %d bytes)", len(gotOut), len(wantOut))
					}
					if gotMan != wantMan {
						t.Errorf("manifest differs:\n%s\nwant\n%s", gotMan, wantMan)
					}
				})
			}
		}
	}
}

func TestMergeRejectsBadPartials(t *testing.T) {
	in := t.TempDir()
	pairs, corpus, qe, ce := writeProblem(t, in, 30, 20, 4)
	dir := t.TempDir()
	t.Chdir(dir)
	p, err := MakePlan(context.Background(), PlanSettings{Pairs: pairs, Corpus: corpus, QueryEmbeddings: qe, CorpusEmbeddings: ce, Format: "triplet", TaskQueries: 10, Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Write("plan.json"); err != nil {
		t.Fatal(err)
	}
	inputs, err := OpenInputs(p)
	if err != nil {
		t.Fatal(err)
	}
	defer inputs.Close()
	for i := range p.Tasks[1:] {
		if err := inputs.RunTask(context.Background(), i+1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Merge(context.Background(), p, "neg.jsonl"); err == nil || !strings.Contains(err.Error(), "task 0 has no partial") {
		t.Fatalf("missing partial: %v", err)
	}
	if err := inputs.RunTask(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	// Task 1's partial in task 0's place: the header does not match.
	b, _ := os.ReadFile(p.PartialPath(1))
	good, _ := os.ReadFile(p.PartialPath(0))
	os.WriteFile(p.PartialPath(0), b, 0o644)
	if _, err := Merge(context.Background(), p, "neg.jsonl"); err == nil || !strings.Contains(err.Error(), "another split") {
		t.Fatalf("swapped partial: %v", err)
	}
	// A flipped bit in a score: the checksum fails.
	bad := bytes.Clone(good)
	bad[len(bad)-10] ^= 1
	os.WriteFile(p.PartialPath(0), bad, 0o644)
	if _, err := Merge(context.Background(), p, "neg.jsonl"); err == nil {
		t.Fatal("corrupt partial accepted")
	}
	if _, err := os.Stat("neg.jsonl"); !os.IsNotExist(err) {
		t.Fatal("output written despite an error")
	}
	// Changed embeddings: the task refuses to run.
	os.WriteFile(p.PartialPath(0), good, 0o644)
	m, _ := dataio.ReadNPY(ce)
	m.Data[0] += 1
	dataio.WriteNPY(ce, m)
	fresh, err := OpenInputs(p) // inputs caches the shard it read
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if err := fresh.RunTask(context.Background(), 0); err == nil || !strings.Contains(err.Error(), "changed since the plan") {
		t.Fatalf("changed embeddings: %v", err)
	}
	// Changed texts: the merge refuses.
	os.WriteFile(pairs, []byte("{\"anchor\":\"c1\",\"positive\":\"c1\"}\n"), 0o644)
	if _, err := Merge(context.Background(), p, "neg.jsonl"); err == nil || !strings.Contains(err.Error(), "changed since the plan") {
		t.Fatalf("changed pairs: %v", err)
	}
	// A corrupt text-ids file: the task refuses.
	idsPath := filepath.Join(p.PartialsDir(), p.IDsFile)
	ids, _ := os.ReadFile(idsPath)
	ids[4*p.Corpus] ^= 1 // the text id of query 0
	os.WriteFile(idsPath, ids, 0o644)
	again, err := OpenInputs(p)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if err := again.RunTask(context.Background(), 0); err == nil || !strings.Contains(err.Error(), "text-ids.bin: the part of task 0 changed") {
		t.Fatalf("corrupt text ids: %v", err)
	}
}

func TestParseShardAndRows(t *testing.T) {
	for _, tc := range []struct {
		in   string
		i, n int
		ok   bool
	}{{"0/1", 0, 1, true}, {"2/3", 2, 3, true}, {"3/3", 0, 0, false}, {"-1/3", 0, 0, false}, {"1", 0, 0, false}, {"a/b", 0, 0, false}, {"1/0", 0, 0, false}, {" 1/2", 0, 0, false}} {
		i, n, err := ParseShard(tc.in)
		if (err == nil) != tc.ok || i != tc.i || n != tc.n {
			t.Errorf("ParseShard(%q) = %d, %d, %v", tc.in, i, n, err)
		}
	}
	for _, rows := range []int{0, 1, 7, 100} {
		for n := 1; n <= 9; n++ {
			next := 0
			for i := range n {
				lo, hi := Rows(rows, i, n)
				if lo != next || hi < lo || hi-lo > rows/n+1 {
					t.Fatalf("Rows(%d, %d, %d) = [%d,%d)", rows, i, n, lo, hi)
				}
				next = hi
			}
			if next != rows {
				t.Fatalf("shards of %d rows into %d end at %d", rows, n, next)
			}
		}
	}
}

func TestConcatEmbeddings(t *testing.T) {
	dir := t.TempDir()
	var parts []string
	all := linalg.NewMatrix(10, 3)
	for i := range all.Data {
		all.Data[i] = float32(i) / 7
	}
	var side bytes.Buffer
	for s := range 3 {
		lo, hi := Rows(10, s, 3)
		path := filepath.Join(dir, fmt.Sprintf("s%d.npy", s))
		if err := dataio.WriteNPY(path, linalg.Slice(all, lo, hi)); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		for r := lo; r < hi; r++ {
			line, _ := json.Marshal(map[string]int{"row": r, "line": r + 1})
			b.Write(append(line, '\n'))
		}
		side.Write(b.Bytes())
		os.WriteFile(dataio.SidecarPath(path), b.Bytes(), 0o644)
		parts = append(parts, path)
	}
	want := filepath.Join(dir, "want.npy")
	dataio.WriteNPY(want, all)
	out := filepath.Join(dir, "all.npy")
	if err := ConcatEmbeddings(out, parts); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(want)
	if !bytes.Equal(a, b) {
		t.Error("concatenated .npy differs from the single file")
	}
	if s, _ := os.ReadFile(dataio.SidecarPath(out)); !bytes.Equal(s, side.Bytes()) {
		t.Error("concatenated sidecar differs")
	}
	// Out of order: an error naming the shard, no output.
	out2 := filepath.Join(dir, "bad.npy")
	if err := ConcatEmbeddings(out2, []string{parts[1], parts[0], parts[2]}); err == nil || !strings.Contains(err.Error(), "s1.ids.jsonl:1") {
		t.Fatalf("misordered shards: %v", err)
	}
	if _, err := os.Stat(out2); !os.IsNotExist(err) {
		t.Error("output left behind")
	}
}
