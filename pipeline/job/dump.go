package job

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/embfit/embfit/internal/atomicfile"
	"github.com/embfit/embfit/pipeline/dataio"
	"github.com/embfit/embfit/pipeline/head"
	"github.com/embfit/embfit/pipeline/train"
)

// benchDump is the job description written by WriteDump: everything
// an independent implementation needs to run exactly the training a
// Trainer runs (same rows, same batches, same initial head).
type benchDump struct {
	Settings   train.Settings `json:"settings"`
	Losses     []string       `json:"losses"`
	Rows       int            `json:"rows"`
	Dim        int            `json:"dim"`
	TotalSteps int            `json:"total_steps"`
	Params     []string       `json:"params"`
	// Pairs are the training rows: anchor, positive, then mined negatives
	// (row indices into emb.npy).
	Pairs [][]int `json:"pairs"`
	// Epochs[e][b] is batch b of epoch e: anchors, positives, negatives
	// (row indices into emb.npy).
	Epochs [][][3][]int `json:"epochs"`
	// Dev is the pairs dev set: queries and corpus as rows of emb.npy,
	// positives and self as indices into corpus.
	Dev *benchDumpDev `json:"dev,omitempty"`
}

type benchDumpDev struct {
	Queries   []int   `json:"queries"`
	Corpus    []int   `json:"corpus"`
	Positives [][]int `json:"positives"`
	Self      []int   `json:"self"`
}

// WriteDump writes t's training job into dir for a reference
// implementation to replay (a developer tool behind the benchmarks in
// scripts/bench/): emb.npy (the frozen embeddings), param_K.npy (the
// head's initial parameters in Params order) and job.json (settings, the
// batches of every epoch as the trainer draws them, the dev set). Only
// pair data with a pairs dev set (or none) can be dumped.
func WriteDump(dir string, t *train.Trainer) error {
	s, err := t.Settings.WithDefaults()
	if err != nil {
		return err
	}
	if t.Data.Pairs == nil {
		return fmt.Errorf("train dump: only pair data can be dumped")
	}
	if t.Dev != nil && t.Dev.Labels != nil {
		return fmt.Errorf("train dump: only a pairs dev set can be dumped")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	hd, err := head.New(s.Head, s.Seed)
	if err != nil {
		return err
	}
	d := benchDump{Settings: s, Rows: t.Data.Emb.Rows, Dim: t.Data.Emb.Cols}
	for _, wl := range t.Losses {
		d.Losses = append(d.Losses, wl.Spec)
	}
	for k, p := range hd.Params() {
		name := fmt.Sprintf("param_%d.npy", k)
		if err := dataio.WriteNPY(filepath.Join(dir, name), p); err != nil {
			return err
		}
		d.Params = append(d.Params, name)
	}
	for _, p := range t.Data.Pairs {
		d.Pairs = append(d.Pairs, append([]int{p.Anchor, p.Positive}, p.Negatives...))
	}
	for e := range s.Epochs {
		var bs [][3][]int
		for _, b := range train.PairEpochBatches(t.Data.Pairs, s, e) {
			bs = append(bs, [3][]int{b.Anchors, b.Positives, nonNil(b.Negatives)})
			d.TotalSteps++
		}
		d.Epochs = append(d.Epochs, bs)
	}
	if t.Dev != nil {
		d.Dev = &benchDumpDev{Queries: t.Dev.Queries, Corpus: t.Dev.Corpus, Positives: t.Dev.Positives, Self: t.Dev.Self}
	}
	if err := dataio.WriteNPY(filepath.Join(dir, "emb.npy"), t.Data.Emb); err != nil {
		return err
	}
	var b strings.Builder
	if err := json.NewEncoder(&b).Encode(d); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "job.json"), []byte(b.String()))
}

func nonNil(v []int) []int {
	if v == nil {
		return []int{}
	}
	return v
}
