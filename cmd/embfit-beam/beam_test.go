package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/mining"
	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/onnxtest"
	"github.com/embfit/embfit/pipeline"
	"github.com/embfit/embfit/pipeline/shard"
)

func TestMain(m *testing.M) {
	beam.Init()
	os.Exit(m.Run())
}

func ptr(v float64) *float64 { return &v }

// writeProblem writes a tie-heavy pairs problem: small vocabulary,
// embeddings in {-1, 0, 1}, duplicate corpus rows and a zero query.
func writeProblem(t *testing.T, dir string, nPairs, nCorpus, d int) (pairs, corpus, qe, ce string) {
	t.Helper()
	r := rand.New(rand.NewPCG(21, 22))
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
	must(t, os.WriteFile(pairs, pb.Bytes(), 0o644))
	must(t, os.WriteFile(corpus, cb.Bytes(), 0o644))
	q, c := linalg.NewMatrix(nPairs, d), linalg.NewMatrix(nCorpus, d)
	for i := range q.Data {
		q.Data[i] = float32(r.IntN(3) - 1)
	}
	for i := range c.Data {
		c.Data[i] = float32(r.IntN(3) - 1)
	}
	copy(linalg.Row(c, 3), linalg.Row(c, 0))
	clear(linalg.Row(q, 1))
	qe, ce = filepath.Join(dir, "q.npy"), filepath.Join(dir, "c.npy")
	must(t, pipeline.WriteNPY(qe, q))
	must(t, pipeline.WriteNPY(ce, c))
	return pairs, corpus, qe, ce
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func sameFiles(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	must(t, err)
	y, err := os.ReadFile(b)
	must(t, err)
	if !bytes.Equal(x, y) {
		t.Errorf("%s and %s differ (%d vs %d bytes)", a, b, len(x), len(y))
	}
}

// runPrism runs a job on Prism in this process (loopback workers).
func runPrism(t *testing.T, build func(beam.Scope) error) {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	must(t, build(s))
	if _, err := prism.Execute(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

func TestMinePrismEqualsMine(t *testing.T) {
	pairs, corpus, qe, ce := writeProblem(t, t.TempDir(), 80, 53, 5)
	s := mining.Settings{NumNegatives: 4, RangeMin: 1, RangeMax: 25, MaxScore: ptr(0.95), MinScore: ptr(-0.6),
		AbsoluteMargin: ptr(0.02), RelativeMargin: ptr(0.05), Sampling: mining.SamplingRandom, Seed: 8}
	single := t.TempDir()
	t.Chdir(single)
	j := &pipeline.MineJob{Pairs: pairs, Corpus: corpus, QueryEmbeddings: qe, CorpusEmbeddings: ce, Settings: s, Format: mining.FormatNTupleScores, Out: "neg.jsonl"}
	if _, err := j.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, shards := range []int{1, 3, 7} {
		for _, tq := range []int{9, 80} {
			t.Run(fmt.Sprintf("shards%d/tq%d", shards, tq), func(t *testing.T) {
				work := t.TempDir()
				t.Chdir(work)
				p, err := shard.MakePlan(context.Background(), shard.PlanSettings{Pairs: pairs, Corpus: corpus, QueryEmbeddings: qe, CorpusEmbeddings: ce,
					Settings: s, Format: mining.FormatNTupleScores, TaskQueries: tq, Shards: shards})
				must(t, err)
				must(t, p.Write("plan.json"))
				job := &mineJob{plan: filepath.Join(work, "plan.json"), out: "neg.jsonl"}
				must(t, job.check())
				runPrism(t, job.build)
				sameFiles(t, filepath.Join(single, "neg.jsonl"), filepath.Join(work, "neg.jsonl"))
				sameFiles(t, filepath.Join(single, "neg.jsonl.manifest.json"), filepath.Join(work, "neg.jsonl.manifest.json"))
			})
		}
	}
}

func TestEmbedPrismEqualsEmbed(t *testing.T) {
	dir := t.TempDir()
	w, err := onnxtest.TokenModel{Dim: 8, Layers: 1, Seed: 5}.Write(filepath.Join(dir, "model"))
	must(t, err)
	var in bytes.Buffer
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 50 {
		fmt.Fprintf(&in, "{\"text\":\"%s %s\",\"id\":%d}\n", onnxtest.DefaultWords[r.IntN(20)], onnxtest.DefaultWords[r.IntN(20)], i)
	}
	input := filepath.Join(dir, "in.jsonl")
	must(t, os.WriteFile(input, in.Bytes(), 0o644))
	enc, err := onnx.OpenEncoder(w.Dir, onnx.EncoderSettings{BatchSize: 4})
	must(t, err)
	_, err = pipeline.EmbedJSONL(context.Background(), enc, pipeline.EmbedFileSettings{Input: input, Out: filepath.Join(dir, "single.npy")})
	enc.Close()
	must(t, err)
	for _, n := range []int{1, 3, 7} {
		out := filepath.Join(dir, fmt.Sprintf("beam%d.npy", n))
		job := &embedJob{embedSettings: embedSettings{Model: w.Dir, BatchSize: 4, MaxLength: onnx.DefaultMaxLength}, input: input, out: out, shards: n}
		must(t, job.check())
		runPrism(t, job.build)
		sameFiles(t, filepath.Join(dir, "single.npy"), out)
		sameFiles(t, filepath.Join(dir, "single.ids.jsonl"), pipeline.SidecarPath(out))
	}
}

func TestBootArgs(t *testing.T) {
	boot := []string{"--id='1-2'", "--provision_endpoint=localhost:1", "--logging_endpoint=localhost:2", "--artifact_endpoint=localhost:3", "--control_endpoint=localhost:4"}
	if !isBoot(boot) || isBoot([]string{"--worker", "--id=1"}) || isBoot([]string{"mine", "--plan", "p"}) {
		t.Fatal("isBoot")
	}
	got := fmt.Sprint(bootToWorker(boot))
	if want := "[--worker=true --id=1-2 --logging_endpoint=localhost:2 --control_endpoint=localhost:4]"; got != want {
		t.Fatalf("bootToWorker = %s, want %s", got, want)
	}
}
