package embed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/atomicfile"
	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/internal/progress"
	"github.com/embfit/embfit/pipeline/dataio"
)

// Cache stores frozen-encoder embeddings on disk, keyed by the
// model's sha256, the pooling and the text, so that the encoder runs once
// per distinct text across runs.
//
// Layout: Dir/<sha256(model sha256, pooling)>/ holds shards, each a pair
// of files written atomically: NAME.keys (the 32-byte sha256 of each
// text, one after another) and NAME.npy (float32 [rows, D], same order).
// A run that encodes new texts adds one shard; existing shards are never
// rewritten, and a shard whose two files disagree is ignored.
type Cache struct {
	Dir         string
	ModelSHA256 string
	Pooling     string
	// Warn, when set, makes cache failures (an unreadable or unwritable
	// folder, a full disk) warnings: the texts are then encoded, and the
	// embeddings returned, without the cache. When nil they are errors.
	Warn func(msg string)
}

// KeyDir is the directory holding this model and pooling's shards.
func (c *Cache) KeyDir() string {
	h := sha256.Sum256([]byte(c.ModelSHA256 + "\x00" + c.Pooling))
	return filepath.Join(c.Dir, hex.EncodeToString(h[:16]))
}

// CacheStats says how an Embed call was served.
type CacheStats struct {
	Distinct int // distinct texts asked for
	Hits     int // found in the cache
	Encoded  int // run through the encoder
}

// Embed returns the embedding of every text (rows in the order of texts,
// duplicates included), encoding only the distinct texts the cache does
// not hold yet and storing them as a new shard. report, when non-nil,
// is called with the number of encoded texts so far and the total to
// encode.
func (c *Cache) Embed(ctx context.Context, enc Encoder, texts []string, report progress.Func) (blas32.General, CacheStats, error) {
	d := enc.Dim()
	var st CacheStats
	keys := make([][32]byte, len(texts))
	index := map[[32]byte]int{} // text key → row in distinct
	var distinct []string
	for i, t := range texts {
		keys[i] = sha256.Sum256([]byte(t))
		if _, ok := index[keys[i]]; !ok {
			index[keys[i]] = len(distinct)
			distinct = append(distinct, t)
		}
	}
	st.Distinct = len(distinct)
	rows := linalg.NewMatrix(len(distinct), d)
	found := make([]bool, len(distinct))
	useCache := c.Dir != ""
	if useCache {
		if err := c.load(d, index, rows, found); err != nil {
			if c.Warn == nil {
				return blas32.General{}, st, err
			}
			c.Warn(fmt.Sprintf("embedding cache %s: %v; continuing without the cache", c.Dir, err))
			clear(found)
			useCache = false
		}
	}
	var missing []int
	for i, ok := range found {
		if ok {
			st.Hits++
		} else {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		report.Report(StageEmbed, 0, len(missing))
		const block = 256
		batch := make([]string, 0, block)
		for b := 0; b < len(missing); b += block {
			e := min(b+block, len(missing))
			batch = batch[:0]
			for _, i := range missing[b:e] {
				batch = append(batch, distinct[i])
			}
			out := linalg.NewMatrix(e-b, d)
			if err := enc.Encode(ctx, out, batch); err != nil {
				return blas32.General{}, st, err
			}
			for k, i := range missing[b:e] {
				copy(linalg.Row(rows, i), linalg.Row(out, k))
			}
			report.Report(StageEmbed, e, len(missing))
		}
		st.Encoded = len(missing)
		if useCache {
			if err := c.store(d, distinct, missing, rows); err != nil {
				if c.Warn == nil {
					return blas32.General{}, st, err
				}
				c.Warn(fmt.Sprintf("embedding cache %s: %v; the embeddings were not cached", c.Dir, err))
			}
		}
	}
	out := linalg.NewMatrix(len(texts), d)
	for i := range texts {
		copy(linalg.Row(out, i), linalg.Row(rows, index[keys[i]]))
	}
	return out, st, nil
}

// load fills rows/found from every valid shard.
func (c *Cache) load(d int, index map[[32]byte]int, rows blas32.General, found []bool) error {
	names, err := filepath.Glob(filepath.Join(c.KeyDir(), "*.keys"))
	if err != nil {
		return err
	}
	slices.Sort(names)
	for _, kp := range names {
		kb, err := os.ReadFile(kp)
		if err != nil {
			return err
		}
		np := strings.TrimSuffix(kp, ".keys") + ".npy"
		m, err := dataio.ReadNPY(np)
		if err != nil || m.Cols != d || m.Rows*32 != len(kb) {
			continue // incomplete or foreign shard: ignore
		}
		for r := 0; r < m.Rows; r++ {
			var k [32]byte
			copy(k[:], kb[32*r:])
			if i, ok := index[k]; ok && !found[i] {
				copy(linalg.Row(rows, i), linalg.Row(m, r))
				found[i] = true
			}
		}
	}
	return nil
}

// store writes rows[missing] as a new shard named by the hash of its keys.
func (c *Cache) store(d int, distinct []string, missing []int, rows blas32.General) error {
	dir := c.KeyDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var kb []byte
	m := linalg.NewMatrix(len(missing), d)
	for k, i := range missing {
		h := sha256.Sum256([]byte(distinct[i]))
		kb = append(kb, h[:]...)
		copy(linalg.Row(m, k), linalg.Row(rows, i))
	}
	name := sha256.Sum256(kb)
	base := filepath.Join(dir, hex.EncodeToString(name[:12]))
	if err := dataio.WriteNPY(base+".npy", m); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(base+".keys", kb); err != nil {
		return fmt.Errorf("embedding cache %s: %w", dir, err)
	}
	return nil
}
