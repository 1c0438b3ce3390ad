// Package shard splits embedding and hard-negative mining into tasks that
// run on many machines (or processes) and merge into exactly the output
// of one machine.
//
// Mining: MakePlan writes a plan (a JSON manifest of tasks, each a query
// block × a corpus shard, with the sha256 of every input and of the
// embedding rows each task reads); RunTask runs one task and writes its
// partial (per query, the exact top RangeMax candidates of its corpus
// shard with float64 scores, and the scores of the positives that lie in
// it); Merge streams the partials of each query block through a k-way
// merge and applies the rank window, filters, sampling and output format
// with the very code `embfit mine` uses, so the JSONL and the manifest
// are byte-identical to a single-machine run. Tasks write a temporary
// file and rename it, so a retried task is harmless.
//
// Embedding: Rows gives the deterministic row range of shard i of n, and
// ConcatEmbeddings joins shard outputs (.npy and sidecar) into the
// single-machine files.
package shard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/embfit/embfit/internal/atomicfile"
	"github.com/embfit/embfit/internal/digest"
	"github.com/embfit/embfit/internal/inputerr"
	"github.com/embfit/embfit/mining"
	"github.com/embfit/embfit/pipeline/dataio"
)

// PlanSettings are the inputs of MakePlan: those of `embfit mine` in
// pairs mode with precomputed embeddings, plus the task split.
type PlanSettings struct {
	// Pairs, Corpus, QueryEmbeddings and CorpusEmbeddings are as in
	// pipeline.MineJob (all four are required).
	Pairs, Corpus, QueryEmbeddings, CorpusEmbeddings string
	// Field names; empty means anchor, positive and text.
	AnchorField, PositiveField, TextField string
	// Settings are the mining settings and Format the output format.
	Settings mining.Settings
	Format   string
	// TaskQueries is the number of queries per task (default 65,536)
	// and Shards the number of corpus shards (default 1).
	TaskQueries, Shards int
	// Partials is the folder of the partials (default: the plan file's
	// name with ".partials" appended).
	Partials string
}

// Plan is a mining job split into tasks, as written by MakePlan.
type Plan struct {
	Version int    `json:"version"`
	Mode    string `json:"mode"`
	// Inputs are the manifest's inputs: pairs, corpus, query-embeddings,
	// corpus-embeddings, with rows and sha256.
	Inputs        []mining.InputFile `json:"inputs"`
	AnchorField   string             `json:"anchor_field"`
	PositiveField string             `json:"positive_field"`
	TextField     string             `json:"text_field"`
	Settings      mining.Settings    `json:"settings"`
	Format        string             `json:"format"`
	Queries       int                `json:"queries"`
	Corpus        int                `json:"corpus"`
	Dim           int                `json:"dim"`
	TaskQueries   int                `json:"task_queries"`
	Shards        int                `json:"shards"`
	// WorkDir is the working folder MakePlan ran in: relative input paths
	// (kept as given, for the manifest) are opened relative to it, so
	// tasks may run from any folder.
	WorkDir string `json:"work_dir"`
	// Partials is the partials' folder, relative to the plan file's; it
	// also holds the text-ids file (IDsFile, with Positives positives in
	// all and sha256 IDsSHA256).
	Partials  string `json:"partials"`
	IDsFile   string `json:"ids_file"`
	IDsSHA256 string `json:"ids_sha256"`
	Positives int    `json:"positives"`
	Tasks     []Task `json:"tasks"`

	dir string // the plan file's folder
	ids []byte // the text-ids file, until Write
}

// Task is one query block × corpus shard.
type Task struct {
	Index int `json:"index"`
	Block int `json:"block"`
	Shard int `json:"shard"`
	Q0    int `json:"q0"`
	Q1    int `json:"q1"`
	C0    int `json:"c0"`
	C1    int `json:"c1"`
	// QueryRowsSHA256 and CorpusRowsSHA256 are the sha256 of the raw
	// embedding rows the task reads (its queries' rows of the query
	// embeddings in order, its corpus rows); QueryIDsSHA256 and
	// CorpusIDsSHA256 those of the parts of the text-ids file it reads.
	QueryRowsSHA256  string `json:"query_rows_sha256"`
	CorpusRowsSHA256 string `json:"corpus_rows_sha256"`
	QueryIDsSHA256   string `json:"query_ids_sha256"`
	CorpusIDsSHA256  string `json:"corpus_ids_sha256"`
	// Partial is the partial's file name in the partials folder.
	Partial string `json:"partial"`
}

// Input roles, in the order of Plan.Inputs.
const (
	inPairs = iota
	inCorpus
	inQueryEmb
	inCorpusEmb
)

// Rows returns the row range [lo, hi) of shard i of n over rows rows: the
// contiguous split lo = rows·i/n, so shards differ in size by at most one
// and concatenate in order to all rows.
func Rows(rows, i, n int) (lo, hi int) {
	return int(int64(rows) * int64(i) / int64(n)), int(int64(rows) * int64(i+1) / int64(n))
}

// ParseShard parses "i/n" (0 ≤ i < n).
func ParseShard(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	if ok {
		_, err = fmt.Sscanf(a+" "+b, "%d %d", &i, &n)
	}
	if !ok || err != nil || n < 1 || i < 0 || i >= n || strings.ContainsAny(s, " +") {
		return 0, 0, inputerr.Settingf("shard", "%q: want i/n with 0 ≤ i < n, e.g. 0/4", s)
	}
	return i, n, nil
}

// texts is the text side of a pairs problem.
type texts struct {
	queryText, corpusText []string
	positives             [][]int
	firstPair             []int
	pairs                 int
}

func field(name, def string) string {
	if name == "" {
		return def
	}
	return name
}

// loadTexts reads the pairs and corpus as `embfit mine` does.
func loadTexts(pairs, corpus, anchorField, positiveField, textField string) (*texts, error) {
	anchors, positives, lines, err := dataio.ReadPairTexts(pairs, anchorField, positiveField)
	if err != nil {
		return nil, err
	}
	set := mining.GroupPairs(anchors, positives)
	t := &texts{queryText: set.Queries, firstPair: set.FirstPair, pairs: set.Pairs}
	if t.corpusText, err = dataio.ReadCorpusTexts(corpus, textField); err != nil {
		return nil, err
	}
	rows, missing := set.CorpusRows(t.corpusText)
	if missing >= 0 {
		return nil, inputerr.FileError(pairs, lines[missing], fmt.Errorf("positive %q is not in the corpus %s", positives[missing], corpus))
	}
	t.positives = rows
	return t, nil
}

// MakePlan checks the inputs, splits the job into tasks and computes the
// sha256 of every input and of each task's embedding rows (reading each
// embeddings file once, row range by row range).
func MakePlan(ctx context.Context, s PlanSettings) (*Plan, error) {
	s.Settings = s.Settings.WithDefaults()
	if err := s.Settings.Validate(); err != nil {
		return nil, err
	}
	if err := mining.CheckOutput(s.Format, s.Settings); err != nil {
		return nil, err
	}
	if s.TaskQueries == 0 {
		s.TaskQueries = 1 << 16
	}
	if s.Shards == 0 {
		s.Shards = 1
	}
	if s.TaskQueries < 0 || s.Shards < 0 {
		return nil, inputerr.Settingf("shards", "task_queries (%d) and shards (%d) must be positive", s.TaskQueries, s.Shards)
	}
	for _, f := range []struct{ name, v string }{{"pairs", s.Pairs}, {"corpus", s.Corpus}, {"query_embeddings", s.QueryEmbeddings}, {"corpus_embeddings", s.CorpusEmbeddings}} {
		if f.v == "" {
			return nil, inputerr.Settingf(f.name, "required for a mining plan")
		}
	}
	p := &Plan{Version: 1, Mode: "pairs", AnchorField: field(s.AnchorField, "anchor"), PositiveField: field(s.PositiveField, "positive"),
		TextField: field(s.TextField, "text"), Settings: s.Settings, Format: s.Format, TaskQueries: s.TaskQueries, Shards: s.Shards}
	t, err := loadTexts(s.Pairs, s.Corpus, p.AnchorField, p.PositiveField, p.TextField)
	if err != nil {
		return nil, err
	}
	qe, err := openNPY(s.QueryEmbeddings)
	if err != nil {
		return nil, err
	}
	defer qe.Close()
	ce, err := openNPY(s.CorpusEmbeddings)
	if err != nil {
		return nil, err
	}
	defer ce.Close()
	switch {
	case qe.rows != t.pairs:
		return nil, inputerr.FileError(s.QueryEmbeddings, 0, fmt.Errorf("%d rows but %s has %d JSON lines", qe.rows, s.Pairs, t.pairs))
	case ce.rows != len(t.corpusText):
		return nil, inputerr.FileError(s.CorpusEmbeddings, 0, fmt.Errorf("%d rows but %s has %d JSON lines", ce.rows, s.Corpus, len(t.corpusText)))
	case qe.cols != ce.cols:
		return nil, inputerr.FileError(s.CorpusEmbeddings, 0, fmt.Errorf("%d columns but the query embeddings %s have %d", ce.cols, s.QueryEmbeddings, qe.cols))
	case s.Shards > len(t.corpusText):
		return nil, inputerr.Settingf("shards", "%d shards for %d corpus rows", s.Shards, len(t.corpusText))
	}
	p.Queries, p.Corpus, p.Dim = len(t.queryText), len(t.corpusText), qe.cols
	p.Inputs = []mining.InputFile{
		{Role: "pairs", Path: s.Pairs, Rows: t.pairs},
		{Role: "corpus", Path: s.Corpus, Rows: len(t.corpusText)},
		{Role: "query-embeddings", Path: s.QueryEmbeddings, Rows: qe.rows},
		{Role: "corpus-embeddings", Path: s.CorpusEmbeddings, Rows: ce.rows},
	}
	for i := range p.Inputs {
		if p.Inputs[i].SHA256, err = digest.File(p.Inputs[i].Path); err != nil {
			return nil, err
		}
	}
	var l idsLayout
	p.ids, l = buildIDs(t)
	p.Positives = int(l.p)
	sum := sha256.Sum256(p.ids)
	p.IDsSHA256, p.IDsFile = hex.EncodeToString(sum[:]), "text-ids.bin"
	ids := &idsReader{name: "text ids", r: bytes.NewReader(p.ids), l: l}
	shardSums := make([]string, s.Shards)
	shardIDs := make([]string, s.Shards)
	for i := range shardSums {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c0, c1 := Rows(p.Corpus, i, s.Shards)
		if shardSums[i], err = ce.rowsSHA256(span(c0, c1)); err != nil {
			return nil, err
		}
		if shardIDs[i], err = ids.corpusTextSHA256(c0, c1); err != nil {
			return nil, err
		}
	}
	for b, q0 := 0, 0; q0 < p.Queries; b, q0 = b+1, q0+s.TaskQueries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		q1 := min(q0+s.TaskQueries, p.Queries)
		qs, err := qe.rowsSHA256(t.firstPair[q0:q1])
		if err != nil {
			return nil, err
		}
		qi, err := ids.queryBlockSHA256(q0, q1)
		if err != nil {
			return nil, err
		}
		for i := range s.Shards {
			c0, c1 := Rows(p.Corpus, i, s.Shards)
			n := len(p.Tasks)
			p.Tasks = append(p.Tasks, Task{Index: n, Block: b, Shard: i, Q0: q0, Q1: q1, C0: c0, C1: c1,
				QueryRowsSHA256: qs, CorpusRowsSHA256: shardSums[i], QueryIDsSHA256: qi, CorpusIDsSHA256: shardIDs[i],
				Partial: fmt.Sprintf("task-%06d.part", n)})
		}
	}
	p.Partials = s.Partials
	if p.WorkDir, err = os.Getwd(); err != nil {
		return nil, err
	}
	return p, nil
}

// Write creates the plan's partials folder (default path + ".partials",
// stored relative to the plan's folder), writes the text-ids file into
// it and the plan to path, all atomically. Only a plan made by MakePlan
// can be written.
func (p *Plan) Write(path string) error {
	dir := filepath.Dir(path)
	if p.Partials == "" {
		p.Partials = filepath.Base(path) + ".partials"
	} else if filepath.IsAbs(p.Partials) {
		if rel, err := filepath.Rel(dir, p.Partials); err == nil {
			p.Partials = rel
		}
	}
	p.dir = dir
	if p.ids == nil {
		return errors.New("plan: no text ids (plans come from MakePlan)")
	}
	if err := os.MkdirAll(p.PartialsDir(), 0o755); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(p.idsPath(), p.ids); err != nil {
		return err
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'))
}

// inputPath returns the path to open input k at.
func (p *Plan) inputPath(k int) string {
	path := p.Inputs[k].Path
	if filepath.IsAbs(path) || p.WorkDir == "" {
		return path
	}
	return filepath.Join(p.WorkDir, path)
}

// idsPath returns the text-ids file.
func (p *Plan) idsPath() string { return filepath.Join(p.PartialsDir(), p.IDsFile) }

// idsLayout returns the layout of the plan's text-ids file.
func (p *Plan) idsLayout() idsLayout {
	return idsLayout{q: int64(p.Queries), c: int64(p.Corpus), p: int64(p.Positives)}
}

// PartialsDir returns the partials' folder.
func (p *Plan) PartialsDir() string { return filepath.Join(p.dir, p.Partials) }

// PartialPath returns task i's partial file.
func (p *Plan) PartialPath(i int) string { return filepath.Join(p.PartialsDir(), p.Tasks[i].Partial) }

// ReadPlan reads a plan written by Plan.Write and checks its structure.
func ReadPlan(path string) (*Plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p := &Plan{}
	if err := json.Unmarshal(b, p); err != nil {
		return nil, inputerr.FileError(path, 0, fmt.Errorf("not a mining plan: %w", err))
	}
	p.dir = filepath.Dir(path)
	if err := p.check(); err != nil {
		return nil, inputerr.FileError(path, 0, err)
	}
	return p, nil
}

func (p *Plan) check() error {
	switch {
	case p.Version != 1:
		return fmt.Errorf("plan version %d not supported (want 1)", p.Version)
	case p.Mode != "pairs":
		return fmt.Errorf("mode %q not supported", p.Mode)
	case len(p.Inputs) != 4:
		return errors.New("want 4 inputs")
	case p.Shards < 1 || p.TaskQueries < 1 || len(p.Tasks) == 0:
		return errors.New("no tasks")
	case p.Partials == "" || strings.Contains(p.Partials, "\x00"):
		return errors.New("no partials folder")
	case p.IDsFile == "" || filepath.Base(p.IDsFile) != p.IDsFile || p.Positives < p.Queries:
		return errors.New("no text-ids file")
	}
	if err := p.Settings.Validate(); err != nil {
		return err
	}
	blocks := (p.Queries + p.TaskQueries - 1) / p.TaskQueries
	if len(p.Tasks) != blocks*p.Shards {
		return fmt.Errorf("%d tasks, want %d blocks × %d shards", len(p.Tasks), blocks, p.Shards)
	}
	for i, t := range p.Tasks {
		b, s := i/p.Shards, i%p.Shards
		q0 := b * p.TaskQueries
		c0, c1 := Rows(p.Corpus, s, p.Shards)
		if t.Index != i || t.Block != b || t.Shard != s || t.Q0 != q0 || t.Q1 != min(q0+p.TaskQueries, p.Queries) || t.C0 != c0 || t.C1 != c1 ||
			t.Partial == "" || filepath.Base(t.Partial) != t.Partial {
			return fmt.Errorf("task %d is inconsistent with the plan's split", i)
		}
	}
	return nil
}
