package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/mining"
	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/onnxtest"
	"github.com/embfit/embfit/pipeline/dataio"
	"github.com/embfit/embfit/pipeline/embed"
	"github.com/embfit/embfit/pipeline/job"
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
	must(t, dataio.WriteNPY(qe, q))
	must(t, dataio.WriteNPY(ce, c))
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

// mineSingle runs `embfit mine`'s job on the problem, writing out and its
// manifest, and returns their contents.
func mineSingle(t *testing.T, pairs, corpus, qe, ce string, s mining.Settings, format, out string) (jsonl, manifest []byte) {
	t.Helper()
	j := &job.MineJob{Pairs: pairs, Corpus: corpus, QueryEmbeddings: qe, CorpusEmbeddings: ce, Settings: s, Format: format, Out: out}
	_, err := j.Run(context.Background())
	must(t, err)
	jsonl, err = os.ReadFile(out)
	must(t, err)
	manifest, err = os.ReadFile(out + ".manifest.json")
	must(t, err)
	must(t, os.Remove(out))
	must(t, os.Remove(out+".manifest.json"))
	return jsonl, manifest
}

// sameOutput checks that out and its manifest hold jsonl and manifest.
func sameOutput(t *testing.T, out string, jsonl, manifest []byte) {
	t.Helper()
	got, err := os.ReadFile(out)
	must(t, err)
	if !bytes.Equal(got, jsonl) {
		t.Errorf("%s differs from embfit mine's output (%d vs %d bytes)", out, len(got), len(jsonl))
	}
	got, err = os.ReadFile(out + ".manifest.json")
	must(t, err)
	if !bytes.Equal(got, manifest) {
		t.Errorf("%s.manifest.json differs from embfit mine's:\n%s\nwant\n%s", out, got, manifest)
	}
}

var mineSettings = mining.Settings{NumNegatives: 4, RangeMin: 1, RangeMax: 25, MaxScore: ptr(0.95), MinScore: ptr(-0.6),
	AbsoluteMargin: ptr(0.02), RelativeMargin: ptr(0.05), Sampling: mining.SamplingRandom, Seed: 8}

func TestMinePrismEqualsMine(t *testing.T) {
	pairs, corpus, qe, ce := writeProblem(t, t.TempDir(), 80, 53, 5)
	// Outputs go to the same path (the manifest records it): the single
	// run's files are read and removed before each sharded run.
	out := filepath.Join(t.TempDir(), "neg.jsonl")
	wantJSONL, wantManifest := mineSingle(t, pairs, corpus, qe, ce, mineSettings, "n-tuple-scores", out)
	for _, shards := range []int{1, 3, 7} {
		for _, tq := range []int{9, 80} {
			t.Run(fmt.Sprintf("shards%d/tq%d", shards, tq), func(t *testing.T) {
				work := t.TempDir()
				p, err := shard.MakePlan(context.Background(), shard.PlanSettings{Pairs: pairs, Corpus: corpus, QueryEmbeddings: qe, CorpusEmbeddings: ce,
					Settings: mineSettings, Format: "n-tuple-scores", TaskQueries: tq, Shards: shards})
				must(t, err)
				must(t, p.Write(filepath.Join(work, "plan.json")))
				job := &mineJob{plan: filepath.Join(work, "plan.json"), out: out}
				must(t, job.check())
				runPrism(t, job.build)
				sameOutput(t, out, wantJSONL, wantManifest)
				os.Remove(out)
				os.Remove(out + ".manifest.json")
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
	_, err = embed.JSONL(context.Background(), enc, embed.FileSettings{Input: input, Out: filepath.Join(dir, "single.npy")})
	enc.Close()
	must(t, err)
	for _, n := range []int{1, 3, 7} {
		out := filepath.Join(dir, fmt.Sprintf("beam%d.npy", n))
		job := &embedJob{embedSettings: embedSettings{Model: w.Dir, BatchSize: 4, MaxLength: onnx.DefaultMaxLength}, input: input, out: out, shards: n}
		must(t, job.check())
		runPrism(t, job.build)
		sameFiles(t, filepath.Join(dir, "single.npy"), out)
		sameFiles(t, filepath.Join(dir, "single.ids.jsonl"), dataio.SidecarPath(out))
	}
}

func TestBootArgs(t *testing.T) {
	boot := []string{"--id='1-2'", "--provision_endpoint=localhost:1"}
	if !isBoot(boot) || isBoot([]string{"--worker", "--id=1"}) || isBoot([]string{"mine", "--plan", "p"}) {
		t.Fatal("isBoot")
	}
	for in, want := range map[string]string{"'1-2'": "1-2", `"x"`: "x", "plain": "plain", "'": "'", "'a\"": "'a\""} {
		if got := stripQuotes(in); got != want {
			t.Errorf("stripQuotes(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestPrismProcessSmoke runs `embfit-beam mine` as its own process
// against a standalone Prism job server (its own process too), whose
// PROCESS environment starts separate worker processes of the same
// binary.
func TestPrismProcessSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two binaries")
	}
	bin := t.TempDir()
	for _, b := range []struct{ out, pkg string }{{"prism", "github.com/apache/beam/sdks/v2/go/cmd/prism"}, {"embfit-beam", "."}} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, b.out), b.pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	l, err := net.Listen("tcp", "localhost:0")
	must(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	var prismLog bytes.Buffer
	server := exec.Command(filepath.Join(bin, "prism"), "--job_port", strconv.Itoa(port), "--serve_http=false", "--log_level", "warn")
	server.Dir = t.TempDir() // workers start there
	server.Stdout, server.Stderr = &prismLog, &prismLog
	must(t, server.Start())
	defer func() {
		server.Process.Kill()
		server.Wait()
	}()
	pairs, corpus, qe, ce := writeProblem(t, t.TempDir(), 60, 41, 4)
	out := filepath.Join(t.TempDir(), "neg.jsonl")
	wantJSONL, wantManifest := mineSingle(t, pairs, corpus, qe, ce, mineSettings, "triplet", out)
	work := t.TempDir()
	p, err := shard.MakePlan(context.Background(), shard.PlanSettings{Pairs: pairs, Corpus: corpus, QueryEmbeddings: qe, CorpusEmbeddings: ce,
		Settings: mineSettings, Format: "triplet", TaskQueries: 16, Shards: 3})
	must(t, err)
	must(t, p.Write(filepath.Join(work, "plan.json")))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	exe := filepath.Join(bin, "embfit-beam")
	var driverLog bytes.Buffer
	driver := exec.CommandContext(ctx, exe, "mine", "--plan", filepath.Join(work, "plan.json"), "--out", out,
		"--runner", "universal", "--endpoint", "localhost:"+strconv.Itoa(port),
		"--environment_type", "PROCESS", "--environment_config", `{"command":"`+exe+`"}`)
	driver.Dir = work
	driver.Stdout, driver.Stderr = &driverLog, &driverLog
	if err := driver.Run(); err != nil {
		t.Fatalf("embfit-beam mine: %v\n%s\nprism:\n%s", err, driverLog.String(), prismLog.String())
	}
	sameOutput(t, out, wantJSONL, wantManifest)
}
