package embed

import (
	"context"
	"hash/fnv"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/digest"
	"github.com/embfit/embfit/internal/linalg"
)

// countingEncoder embeds a text as values derived from its FNV hash and
// counts how many texts it was asked to encode.
type countingEncoder struct {
	d     int
	calls map[string]int
}

func (e *countingEncoder) Dim() int { return e.d }

func (e *countingEncoder) Encode(_ context.Context, dst blas32.General, texts []string) error {
	for i, t := range texts {
		e.calls[t]++
		h := fnv.New64a()
		h.Write([]byte(t))
		v := h.Sum64()
		for k, row := 0, linalg.Row(dst, i); k < e.d; k++ {
			row[k] = float32((v>>(k*8))&0xff) / 255
		}
	}
	return nil
}

func TestEmbeddingCacheEncodesEachTextOnce(t *testing.T) {
	dir := t.TempDir()
	enc := &countingEncoder{d: 4, calls: map[string]int{}}
	c := &Cache{Dir: dir, ModelSHA256: "abc", Pooling: "mean"}
	first, st, err := c.Embed(context.Background(), enc, []string{"a", "b", "a", "c"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st != (CacheStats{Distinct: 3, Hits: 0, Encoded: 3}) {
		t.Errorf("first run stats %+v", st)
	}
	if !reflect.DeepEqual(linalg.Row(first, 0), linalg.Row(first, 2)) {
		t.Error("duplicate texts got different rows")
	}
	// A second run with one new text encodes only that one.
	second, st, err := c.Embed(context.Background(), enc, []string{"c", "d", "b"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st != (CacheStats{Distinct: 3, Hits: 2, Encoded: 1}) {
		t.Errorf("second run stats %+v", st)
	}
	for _, text := range []string{"a", "b", "c", "d"} {
		if enc.calls[text] != 1 {
			t.Errorf("%q encoded %d times", text, enc.calls[text])
		}
	}
	if !reflect.DeepEqual(linalg.Row(second, 0), linalg.Row(first, 3)) || !reflect.DeepEqual(linalg.Row(second, 2), linalg.Row(first, 1)) {
		t.Error("cached rows differ from the encoded ones")
	}
	// Another pooling or model is another key.
	other := &Cache{Dir: dir, ModelSHA256: "abc", Pooling: "cls"}
	if _, st, _ := other.Embed(context.Background(), enc, []string{"a"}, nil); st.Encoded != 1 {
		t.Errorf("other pooling served from cache: %+v", st)
	}
	// A broken shard (keys without rows) is ignored, not trusted.
	shards, _ := filepath.Glob(filepath.Join(c.KeyDir(), "*.npy"))
	if len(shards) != 2 {
		t.Fatalf("%d shards, want 2", len(shards))
	}
	os.Remove(shards[0])
	_, st, err = c.Embed(context.Background(), enc, []string{"a", "b", "c", "d"}, nil)
	if err != nil || st.Hits+st.Encoded != 4 || st.Encoded == 0 {
		t.Errorf("after removing a shard: %+v, %v", st, err)
	}
}

func TestFileSHA256(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" // FIPS 180-2 "abc"
	if got, err := digest.File(p); err != nil || got != want {
		t.Errorf("FileSHA256 = %s, %v; want %s", got, err, want)
	}
	if _, err := digest.File(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("no error for a missing file")
	}
}
