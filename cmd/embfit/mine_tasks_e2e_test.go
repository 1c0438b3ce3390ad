package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/embfit/embfit/onnx/onnxtest"
)

// shardTestInputs writes a model and a tie-heavy pairs problem: texts of
// one to three words from a 20-word vocabulary, so many texts (and
// vectors) repeat.
func shardTestInputs(t *testing.T) (dir, model, pairs, corpus string) {
	t.Helper()
	dir = t.TempDir()
	w, err := onnxtest.TokenModel{Dim: 8, Layers: 1, Seed: 3}.Write(filepath.Join(dir, "model"))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	text := func() string {
		n := 1 + r.IntN(3)
		ws := make([]string, n)
		for i := range ws {
			ws[i] = onnxtest.DefaultWords[r.IntN(len(onnxtest.DefaultWords))]
		}
		return strings.Join(ws, " ")
	}
	var cb, pb bytes.Buffer
	var ctexts []string
	for i := range 70 {
		ctexts = append(ctexts, text())
		fmt.Fprintf(&cb, "{\"text\":%q,\"id\":%d}\n", ctexts[i], i)
	}
	for range 60 {
		fmt.Fprintf(&pb, "{\"anchor\":%q,\"positive\":%q}\n", text(), ctexts[r.IntN(len(ctexts))])
	}
	pairs, corpus = filepath.Join(dir, "pairs.jsonl"), filepath.Join(dir, "corpus.jsonl")
	embedWrite(t, pairs, pb.String())
	embedWrite(t, corpus, cb.String())
	return dir, w.Dir, pairs, corpus
}

func mustRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, errOut, code := runEmbfitIn(t, dir, nil, args...)
	if code != 0 {
		t.Fatalf("embfit %v: exit %d\n%s", args, code, errOut)
	}
	return out
}

func sameFiles(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Errorf("%s and %s differ (%d vs %d bytes)", a, b, len(x), len(y))
	}
}

func TestEmbedShardE2E(t *testing.T) {
	dir, model, _, corpus := shardTestInputs(t)
	mustRun(t, dir, "embed", "--model", model, "--input", corpus, "--batch-size", "4", "--out", "all.npy")
	for _, n := range []int{1, 3, 7} {
		var parts []string
		for i := range n {
			p := fmt.Sprintf("s%d-%d.npy", i, n)
			mustRun(t, dir, "embed", "--model", model, "--input", corpus, "--batch-size", "4", "--shard", fmt.Sprintf("%d/%d", i, n), "--out", p)
			parts = append(parts, p)
		}
		out := "cat" + strconv.Itoa(n) + ".npy"
		mustRun(t, dir, append([]string{"embed", "concat", "--out", out}, parts...)...)
		sameFiles(t, filepath.Join(dir, "all.npy"), filepath.Join(dir, out))
		sameFiles(t, filepath.Join(dir, "all.ids.jsonl"), filepath.Join(dir, "cat"+strconv.Itoa(n)+".ids.jsonl"))
	}
	for _, bad := range []struct{ shard, want string }{{"3/3", "--shard"}, {"x", "--shard"}, {"-1/2", "--shard"}} {
		_, errOut, code := runEmbfitIn(t, dir, nil, "embed", "--model", model, "--input", corpus, "--shard", bad.shard, "--out", "bad.npy")
		if code != 2 || !strings.Contains(errOut, bad.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("--shard %s: exit %d, %q", bad.shard, code, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.npy")); !os.IsNotExist(err) {
		t.Error("output written for a bad --shard")
	}
}

func TestMineTasksE2E(t *testing.T) {
	dir, model, pairs, corpus := shardTestInputs(t)
	mustRun(t, dir, "embed", "--model", model, "--input", pairs, "--field", "anchor", "--out", "q.npy")
	mustRun(t, dir, "embed", "--model", model, "--input", corpus, "--out", "c.npy")
	inputs := []string{"--pairs", pairs, "--corpus", corpus, "--query-embeddings", filepath.Join(dir, "q.npy"), "--corpus-embeddings", filepath.Join(dir, "c.npy")}
	for _, opts := range [][]string{
		{"--num-negatives", "3", "--range-max", "10"},
		{"--num-negatives", "4", "--range-min", "1", "--range-max", "30", "--max-score", "0.99", "--min-score", "-0.5",
			"--absolute-margin", "0.01", "--relative-margin", "0.02", "--sampling", "random", "--seed", "4", "--output-format", "n-tuple-scores"},
	} {
		single := t.TempDir()
		mustRun(t, single, append(append([]string{"mine"}, inputs...), append(opts, "--out", "neg.jsonl")...)...)
		for _, shards := range []int{1, 3, 7} {
			work := t.TempDir()
			args := append(append([]string{"mine", "plan"}, inputs...), opts...)
			out := mustRun(t, work, append(args, "--shards", strconv.Itoa(shards), "--task-queries", "17", "--out", "plan.json")...)
			var tasks int
			if _, err := fmt.Sscanf(out, "plan plan.json: %d tasks", &tasks); err != nil || tasks%shards != 0 || tasks/shards < 2 {
				t.Fatalf("plan: %q (%v)", out, err)
			}
			for i := tasks - 1; i >= 0; i-- { // separate processes, any order
				mustRun(t, work, "mine", "run", "--plan", "plan.json", "--task", strconv.Itoa(i))
			}
			mustRun(t, work, "mine", "run", "--plan", "plan.json", "--task", "0") // a retry
			mustRun(t, work, "mine", "merge", "--plan", "plan.json", "--out", "neg.jsonl")
			sameFiles(t, filepath.Join(single, "neg.jsonl"), filepath.Join(work, "neg.jsonl"))
			sameFiles(t, filepath.Join(single, "neg.jsonl.manifest.json"), filepath.Join(work, "neg.jsonl.manifest.json"))
		}
	}

	// Bad input: one line, exit 2, no output.
	work := t.TempDir()
	mustRun(t, work, append(append([]string{"mine", "plan"}, inputs...), "--shards", "2", "--out", "plan.json")...)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"mine", "run", "--plan", "plan.json", "--task", "2"}, "--task 2: the plan has tasks 0 to 1"},
		{[]string{"mine", "run", "--plan", "plan.json"}, "missing flag --task"},
		{[]string{"mine", "run", "--plan", "nope.json", "--task", "0"}, "--plan"},
		{[]string{"mine", "merge", "--plan", "plan.json", "--out", "neg.jsonl"}, "task 0 has no partial"},
		{[]string{"mine", "plan", "--labelled", corpus, "--query-embeddings", "q.npy", "--out", "p2.json"}, "pairs mode only"},
		{[]string{"mine", "plan", "--pairs", pairs, "--model", model, "--out", "p2.json"}, "precomputed embeddings"},
		{append(append([]string{"mine", "plan"}, inputs...), "--shards", "0", "--out", "p2.json"), "--shards 0"},
	} {
		_, errOut, code := runEmbfitIn(t, work, nil, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 || strings.Contains(errOut, "goroutine") {
			t.Errorf("%v: exit %d, %q; want %q", tc.args, code, errOut, tc.want)
		}
	}
	for _, f := range []string{"neg.jsonl", "neg.jsonl.manifest.json", "p2.json"} {
		if _, err := os.Stat(filepath.Join(work, f)); !os.IsNotExist(err) {
			t.Errorf("%s written despite an error", f)
		}
	}
	// Inputs changed after the plan: the task or the merge refuses.
	mustRun(t, work, "mine", "run", "--plan", "plan.json", "--task", "0")
	mustRun(t, work, "mine", "run", "--plan", "plan.json", "--task", "1")
	embedWrite(t, pairs, "{\"anchor\":\"the\",\"positive\":\"the\"}\n")
	_, errOut, code := runEmbfitIn(t, work, nil, "mine", "merge", "--plan", "plan.json", "--out", "neg.jsonl")
	if code != 2 || !strings.Contains(errOut, "changed since the plan") {
		t.Errorf("changed pairs: exit %d, %q", code, errOut)
	}
	embedWrite(t, filepath.Join(dir, "c.npy"), "\x93NUMPY")
	_, errOut, code = runEmbfitIn(t, work, nil, "mine", "run", "--plan", "plan.json", "--task", "0")
	if code != 2 || !strings.Contains(errOut, "c.npy") {
		t.Errorf("changed embeddings: exit %d, %q", code, errOut)
	}
}
