package shard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/atomicfile"
	"github.com/embfit/embfit/internal/digest"
	"github.com/embfit/embfit/internal/inputerr"
	"github.com/embfit/embfit/mining"
)

// Inputs are a plan's inputs opened for running its tasks: the
// embeddings and the text-ids file, read part by part (a task reads its
// query block's and its corpus shard's part of each, never every text).
// One Inputs may run many tasks, from several goroutines; it keeps the
// last corpus shard it read, so tasks of the same shard in one process
// read it once.
type Inputs struct {
	plan   *Plan
	ids    *idsReader
	idsF   *os.File
	qe, ce *npyFile

	mu    sync.Mutex
	shard int // index of the cached shard, -1 for none
	rows  blas32.General
	text  []int32
	err   error
}

// OpenInputs opens the plan's embeddings and text-ids file and checks
// their shapes against the plan.
func OpenInputs(p *Plan) (*Inputs, error) {
	in := &Inputs{plan: p, shard: -1}
	var err error
	if in.ids, in.idsF, err = openIDs(p.idsPath(), p.idsLayout()); err != nil {
		return nil, err
	}
	if in.qe, err = openNPY(p.inputPath(inQueryEmb)); err != nil {
		in.idsF.Close()
		return nil, err
	}
	if in.ce, err = openNPY(p.inputPath(inCorpusEmb)); err != nil {
		in.idsF.Close()
		in.qe.Close()
		return nil, err
	}
	if in.qe.cols != p.Dim || in.ce.cols != p.Dim || in.qe.rows != p.Inputs[inQueryEmb].Rows || in.ce.rows != p.Corpus {
		in.Close()
		return nil, fmt.Errorf("embeddings' shapes differ from the plan's")
	}
	return in, nil
}

// Close closes the files.
func (in *Inputs) Close() error {
	in.idsF.Close()
	in.qe.Close()
	return in.ce.Close()
}

// checkSum compares h's sum with want.
func checkSum(h hash.Hash, want, name string, task int) error {
	if sum := hex.EncodeToString(h.Sum(nil)); sum != want {
		return inputerr.FileError(name, 0, fmt.Errorf("the part of task %d changed since the plan was made (sha256 %s, plan has %s)", task, sum, want))
	}
	return nil
}

// readChecked reads rows of f, checks their sha256 against want and
// L2-normalizes them.
func readChecked(f *npyFile, rows []int, want string, task int) (blas32.General, error) {
	h := sha256.New()
	m, err := f.readRows(rows, h)
	if err != nil {
		return m, err
	}
	if err := checkSum(h, want, f.path, task); err != nil {
		return m, err
	}
	mining.NormalizeRows(m)
	return m, nil
}

// corpusShard returns the normalized rows and text ids of task t's corpus
// shard, reading them unless they are the cached shard.
func (in *Inputs) corpusShard(t Task) (blas32.General, []int32, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.shard != t.Shard {
		in.shard = t.Shard
		in.rows, in.err = readChecked(in.ce, span(t.C0, t.C1), t.CorpusRowsSHA256, t.Index)
		if in.err == nil {
			h := sha256.New()
			if in.text, in.err = in.ids.corpusText(t.C0, t.C1, h); in.err == nil {
				in.err = checkSum(h, t.CorpusIDsSHA256, in.ids.name, t.Index)
			}
		}
	}
	return in.rows, in.text, in.err
}

// RunTask runs task i of the plan and writes its partial (to a temporary
// name, renamed when complete: rerunning a task replaces its partial with
// identical bytes). Memory: the task's query rows and corpus shard (with
// their text ids), the search buffer and candidates for at most 65,536
// queries.
func (in *Inputs) RunTask(ctx context.Context, i int) error {
	p := in.plan
	if i < 0 || i >= len(p.Tasks) {
		return inputerr.Settingf("task", "%d: the plan has tasks 0 to %d", i, len(p.Tasks)-1)
	}
	t := p.Tasks[i]
	h := sha256.New()
	qb, err := in.ids.queryBlock(t.Q0, t.Q1, h)
	if err != nil {
		return err
	}
	if err := checkSum(h, t.QueryIDsSHA256, in.ids.name, i); err != nil {
		return err
	}
	queries, err := readChecked(in.qe, qb.rows, t.QueryRowsSHA256, i)
	if err != nil {
		return err
	}
	corpus, ctext, err := in.corpusShard(t)
	if err != nil {
		return err
	}
	path := p.PartialPath(i)
	f, err := atomicfile.Create(path, false)
	if err != nil {
		return err
	}
	defer f.Abort()
	pw, err := newPartialWriter(f, partialHeader(p, t))
	if err != nil {
		return inputerr.FileError(path, 0, err)
	}
	sh := mining.Shard{Queries: queries, Corpus: corpus, Q0: t.Q0, C0: t.C0,
		QueryText: qb.text, CorpusText: ctext, Positives: qb.positives, PositiveText: qb.positiveText}
	err = mining.SearchShard(ctx, sh, p.Settings, func(_ int, c *mining.Candidates) error { return pw.add(c) })
	if err != nil {
		return err
	}
	if err := pw.close(f); err != nil {
		return inputerr.FileError(path, 0, err)
	}
	return f.Commit()
}

// partialHeader is the header task t's partial must carry.
func partialHeader(p *Plan, t Task) PartialHeader {
	return PartialHeader{Task: t.Index, Q0: t.Q0, Q1: t.Q1, C0: t.C0, C1: t.C1, RangeMax: p.Settings.RangeMax,
		PairsSHA256: p.Inputs[inPairs].SHA256, CorpusSHA256: p.Inputs[inCorpus].SHA256,
		QueryRowsSHA256: t.QueryRowsSHA256, CorpusRowsSHA256: t.CorpusRowsSHA256,
		QueryIDsSHA256: t.QueryIDsSHA256, CorpusIDsSHA256: t.CorpusIDsSHA256}
}

// MergeResult is the outcome of Merge.
type MergeResult struct {
	Mined    *mining.Mined
	Manifest mining.Manifest
}

// Merge reads the plan's texts (checking that the pairs and corpus files
// still have the sha256 the plan recorded) and every task's partial,
// block by block, merges each query's
// candidates over the corpus shards, selects negatives exactly as
// `embfit mine` does and writes out and out.manifest.json (atomically;
// both or neither). Each partial's header must match its task in the plan
// (inputs' sha256 included) and its checksum must hold. Memory: the
// texts, the results (as for one machine) and one query's candidates per
// shard, whatever the number of tasks.
func Merge(ctx context.Context, p *Plan, out string) (*MergeResult, error) {
	for _, k := range []int{inPairs, inCorpus} {
		in := p.Inputs[k]
		sum, err := digest.File(p.inputPath(k))
		if err != nil {
			return nil, err
		}
		if sum != in.SHA256 {
			return nil, inputerr.FileError(in.Path, 0, fmt.Errorf("changed since the plan was made (sha256 %s, plan has %s)", sum, in.SHA256))
		}
	}
	t, err := loadTexts(p.inputPath(inPairs), p.inputPath(inCorpus), p.AnchorField, p.PositiveField, p.TextField)
	if err != nil {
		return nil, err
	}
	if len(t.queryText) != p.Queries || len(t.corpusText) != p.Corpus {
		return nil, fmt.Errorf("inputs have %d queries × %d corpus rows, the plan %d × %d", len(t.queryText), len(t.corpusText), p.Queries, p.Corpus)
	}
	m, err := mining.NewMerger(t.positives, p.Corpus, p.Settings)
	if err != nil {
		return nil, err
	}
	parts := make([]*mining.Candidates, p.Shards)
	for i := range parts {
		parts[i] = &mining.Candidates{}
	}
	for b := 0; b*p.Shards < len(p.Tasks); b++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := mergeBlock(p, m, p.Tasks[b*p.Shards:(b+1)*p.Shards], parts); err != nil {
			return nil, err
		}
	}
	mined, err := m.Mined()
	if err != nil {
		return nil, err
	}
	prob := &mining.Problem{QueryText: t.queryText, CorpusText: t.corpusText, Positives: t.positives}
	man := mining.Manifest{Command: "embfit mine", Mode: "pairs", Inputs: append([]mining.InputFile(nil), p.Inputs...)}
	man, err = mining.WriteOutputs(out, p.Format, false, prob, mined, man)
	if err != nil {
		return nil, err
	}
	return &MergeResult{Mined: mined, Manifest: man}, nil
}

func mergeBlock(p *Plan, m *mining.Merger, tasks []Task, parts []*mining.Candidates) error {
	readers := make([]*PartialReader, len(tasks))
	for s, t := range tasks {
		path := p.PartialPath(t.Index)
		f, err := os.Open(path)
		if os.IsNotExist(err) {
			return fmt.Errorf("task %d has no partial %s (not run yet?)", t.Index, path)
		}
		if err != nil {
			return err
		}
		defer f.Close()
		r, err := NewPartialReader(f, path)
		if err != nil {
			return err
		}
		if r.Header != partialHeader(p, t) {
			return inputerr.FileError(path, 0, fmt.Errorf("written for other inputs or another split than task %d of the plan (header %+v)", t.Index, r.Header))
		}
		readers[s] = r
	}
	for q := tasks[0].Q0; q < tasks[0].Q1; q++ {
		for s, r := range readers {
			if _, err := r.Next(parts[s]); err != nil {
				return err
			}
		}
		if err := m.Add(q, parts); err != nil {
			return err
		}
	}
	for _, r := range readers {
		if _, err := r.Next(parts[0]); err != io.EOF {
			return err
		}
	}
	return nil
}
