package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/atomicfile"
	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/mining"
	"github.com/embfit/embfit/onnx"
)

// MineJob is one hard-negative mining job (`embfit mine`): where its
// inputs are, how to embed them and how to mine. Exactly one of Pairs and
// Labelled is set, and either Model (embed the texts) or
// QueryEmbeddings (with CorpusEmbeddings in pairs mode) — the command
// checks these combinations. Error messages name the inputs by their
// command-line flags (--pairs, --corpus, --labelled, --model,
// --query-embeddings, --corpus-embeddings).
type MineJob struct {
	// Pairs is a JSONL file of {AnchorField, PositiveField} lines;
	// repeated anchors form one query with several positives.
	Pairs string
	// Labelled is a JSONL file of {TextField, LabelField} lines; the
	// corpus is its distinct (text, label) items.
	Labelled string
	// Corpus is a JSONL file of {TextField} lines (pairs mode); empty
	// means the distinct positives of Pairs.
	Corpus string
	// Model is the ONNX encoder (.onnx file or model folder) that embeds
	// the texts with the Encoder settings.
	Model   string
	Encoder onnx.EncoderSettings
	// QueryEmbeddings is a float32 .npy with one row per line of Pairs
	// or Labelled; CorpusEmbeddings one row per line of Corpus.
	QueryEmbeddings, CorpusEmbeddings string
	// Field names; empty means anchor, positive, text and label.
	AnchorField, PositiveField, TextField, LabelField string
	// Settings are the mining settings; Format the output format
	// (mining.CheckFormat) and Out the output JSONL (the manifest goes
	// to Out.manifest.json). Used by Run only.
	Settings mining.Settings
	Format   string
	Out      string
	// Stdout receives the JSONL when Out is "-" (no manifest is written
	// then).
	Stdout io.Writer

	// Warn, when set, receives warnings (one message each, no newline).
	Warn func(msg string)
	// NewProgress, when set, is called before each long stage with the
	// stage's name ("embed queries", "embed corpus", "search") and
	// total item count; the returned reporter receives the progress
	// and is finished when the stage ends.
	NewProgress func(stage string, total int) ProgressReporter
}

// ProgressReporter receives the progress of one stage of a job;
// *progress.Reporter is one.
type ProgressReporter interface {
	// Set records that done items are finished.
	Set(done int)
	// Finish ends the stage and returns its duration.
	Finish() time.Duration
}

// MineResult is the outcome of MineJob.Run.
type MineResult struct {
	Problem  *mining.Problem
	Mined    *mining.Mined
	Manifest mining.Manifest
	// Load covers reading and embedding the inputs, Search the exact
	// search.
	Load, Search time.Duration
}

func (j *MineJob) warn(format string, args ...any) {
	if j.Warn != nil {
		j.Warn(fmt.Sprintf(format, args...))
	}
}

// field returns name, or def when name is empty.
func field(name, def string) string {
	if name == "" {
		return def
	}
	return name
}

// Run loads the problem, mines it with j.Settings and writes j.Out and
// its manifest atomically (existing files are replaced).
func (j *MineJob) Run(ctx context.Context) (*MineResult, error) {
	start := time.Now()
	if j.Out == "-" && j.Stdout == nil {
		return nil, errors.New("--out -: no standard output to write to")
	}
	if j.Out != "-" {
		// Fail on an unwritable output before the work, not after it.
		if err := atomicfile.Check(j.Out); err != nil {
			return nil, err
		}
		if !atomicfile.IsDirect(j.Out) { // no manifest beside a device or pipe
			if err := atomicfile.Check(j.Out + ".manifest.json"); err != nil {
				return nil, err
			}
		}
	}
	p, man, err := j.Load(ctx)
	if err != nil {
		return nil, err
	}
	res := &MineResult{Problem: p, Load: time.Since(start)}
	var bar ProgressReporter
	if j.NewProgress != nil {
		bar = j.NewProgress("search", p.Queries.Rows*p.Corpus.Rows)
	}
	searchStart := time.Now()
	m, err := mining.Mine(ctx, *p, j.Settings, func(done, _ int64) {
		if bar != nil {
			bar.Set(int(done))
		}
	})
	res.Search = time.Since(searchStart)
	if bar != nil {
		res.Search = bar.Finish()
	}
	if err != nil {
		return nil, err
	}
	res.Mined = m
	if j.Out == "-" {
		f := atomicfile.NewDirect(j.Stdout, "<stdout>")
		info, err := mining.WriteJSONL(f, j.Format, p, m)
		if err == nil {
			err = f.Commit()
		}
		if err != nil {
			return nil, fmt.Errorf("standard output: %w", err)
		}
		info.Path = "-"
		man.Settings, man.Output, man.Counts = m.Settings, info, m.Counts
		res.Manifest = man
		return res, nil
	}
	if res.Manifest, err = mining.WriteOutputs(j.Out, j.Format, false, p, m, man); err != nil {
		return nil, err
	}
	return res, nil
}

// Load reads the inputs, embeds them (Model) or loads their embeddings,
// L2-normalizes the rows and returns the mining problem and a manifest
// with command, mode, inputs (with their sha256) and model filled in.
func (j *MineJob) Load(ctx context.Context) (*mining.Problem, mining.Manifest, error) {
	man := mining.Manifest{Command: "embfit mine", Mode: "pairs"}
	p := &mining.Problem{}
	textField := field(j.TextField, "text")
	var queryRows []int // row of each query in its embeddings (embeddings mode)
	if j.Labelled != "" {
		man.Mode = "labelled"
		texts, labels, rows, n, err := ReadLabelledItems(j.Labelled, textField, field(j.LabelField, "label"))
		if err != nil {
			return nil, man, err
		}
		p.QueryText, p.CorpusText = texts, texts
		p.QueryLabels, p.CorpusLabels = labels, labels
		queryRows = rows
		man.Inputs = append(man.Inputs, mining.InputFile{Role: "labelled", Path: j.Labelled, Rows: n})
	} else {
		anchors, positives, lines, err := ReadPairTexts(j.Pairs, field(j.AnchorField, "anchor"), field(j.PositiveField, "positive"))
		if err != nil {
			return nil, man, err
		}
		set := mining.GroupPairs(anchors, positives)
		man.Inputs = append(man.Inputs, mining.InputFile{Role: "pairs", Path: j.Pairs, Rows: set.Pairs})
		p.QueryText = set.Queries
		queryRows = set.FirstPair
		if j.Corpus != "" {
			p.CorpusText, err = ReadCorpusTexts(j.Corpus, textField)
			if err != nil {
				return nil, man, err
			}
			man.Inputs = append(man.Inputs, mining.InputFile{Role: "corpus", Path: j.Corpus, Rows: len(p.CorpusText)})
		} else {
			p.CorpusText = set.DefaultCorpus()
		}
		rows, missing := set.CorpusRows(p.CorpusText)
		if missing >= 0 {
			return nil, man, fmt.Errorf("%s:%d: positive %q is not in the corpus %s", j.Pairs, lines[missing], previewText(positives[missing]), j.Corpus)
		}
		p.Positives = rows
	}

	if j.Model != "" {
		if err := j.embed(ctx, p, &man); err != nil {
			return nil, man, err
		}
	} else {
		q, err := ReadRowEmbeddings(j.QueryEmbeddings, "--query-embeddings", man.Inputs[0])
		if err != nil {
			return nil, man, err
		}
		man.Inputs = append(man.Inputs, mining.InputFile{Role: "query-embeddings", Path: j.QueryEmbeddings, Rows: q.Rows})
		p.Queries = GatherRows(q, queryRows)
		if p.QueryLabels != nil {
			p.Corpus = p.Queries
		} else {
			cm, err := ReadRowEmbeddings(j.CorpusEmbeddings, "--corpus-embeddings", man.Inputs[1])
			if err != nil {
				return nil, man, err
			}
			man.Inputs = append(man.Inputs, mining.InputFile{Role: "corpus-embeddings", Path: j.CorpusEmbeddings, Rows: cm.Rows})
			p.Corpus = cm
		}
		if p.Queries.Cols != p.Corpus.Cols {
			return nil, man, fmt.Errorf("--query-embeddings %s has %d columns but --corpus-embeddings %s has %d", j.QueryEmbeddings, p.Queries.Cols, j.CorpusEmbeddings, p.Corpus.Cols)
		}
	}
	for i := range man.Inputs {
		if man.Inputs[i].SHA256 != "" {
			continue
		}
		sum, err := FileSHA256(man.Inputs[i].Path)
		if err != nil {
			return nil, man, err
		}
		man.Inputs[i].SHA256 = sum
	}
	zero := mining.NormalizeRows(p.Queries)
	if p.QueryLabels == nil {
		zero += mining.NormalizeRows(p.Corpus)
	}
	if zero > 0 {
		j.warn("%d all-zero embeddings (such queries are skipped; such corpus rows score 0)", zero)
	}
	return p, man, nil
}

// embed embeds the query and corpus texts with j.Model.
func (j *MineJob) embed(ctx context.Context, p *mining.Problem, man *mining.Manifest) error {
	tm, err := OpenTextModel(j.Model, TextModelSettings{Encoder: j.Encoder, Alternative: "--query-embeddings", Warn: j.Warn, NewProgress: j.NewProgress})
	if err != nil {
		return err
	}
	defer tm.Close()
	files := tm.Encoder().Files()
	sum, err := FileSHA256(files.Model)
	if err != nil {
		return err
	}
	man.ModelSHA256 = sum
	man.Inputs = append(man.Inputs, mining.InputFile{Role: "model", Path: files.Model, SHA256: sum})
	if files.Tokenizer != "" {
		man.Inputs = append(man.Inputs, mining.InputFile{Role: "tokenizer", Path: files.Tokenizer})
	}
	if p.Queries, err = tm.Embed(ctx, "embed queries", p.QueryText); err != nil {
		return err
	}
	if p.QueryLabels != nil {
		p.Corpus = p.Queries
		return nil
	}
	p.Corpus, err = tm.Embed(ctx, "embed corpus", p.CorpusText)
	return err
}

// ReadPairTexts reads the anchor and positive of every line of a pairs
// file; lines[i] is the file line of pair i. Empty or blank texts are
// errors naming the file and line.
func ReadPairTexts(path, anchorField, positiveField string) (anchors, positives []string, lines []int, err error) {
	err = ReadJSONL(path, func(r Record) error {
		a, err := r.String(anchorField)
		if err != nil {
			return err
		}
		p, err := r.String(positiveField)
		if err != nil {
			return err
		}
		if strings.TrimSpace(a) == "" {
			return r.Errorf("empty %q", anchorField)
		}
		if strings.TrimSpace(p) == "" {
			return r.Errorf("empty %q", positiveField)
		}
		anchors, positives, lines = append(anchors, a), append(positives, p), append(lines, r.Line)
		return nil
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--pairs: %w", err)
	}
	return anchors, positives, lines, nil
}

// ReadCorpusTexts reads the text field of every line of a corpus file.
func ReadCorpusTexts(path, field string) ([]string, error) {
	var texts []string
	err := ReadJSONL(path, func(r Record) error {
		t, err := r.String(field)
		if err != nil {
			return err
		}
		if strings.TrimSpace(t) == "" {
			return r.Errorf("empty %q", field)
		}
		texts = append(texts, t)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("--corpus: %w", err)
	}
	return texts, nil
}

// ReadLabelledItems reads labelled items, keeping the first of each
// distinct (text, label): texts and dense label ids (in order of first
// appearance), rows[i] the file record (0-based) of item i, and n the
// number of records.
func ReadLabelledItems(path, textField, labelField string) (texts []string, labels, rows []int, n int, err error) {
	ids := make(map[string]int)
	seen := make(map[[2]string]bool)
	err = ReadJSONL(path, func(r Record) error {
		t, err := r.String(textField)
		if err != nil {
			return err
		}
		if strings.TrimSpace(t) == "" {
			return r.Errorf("empty %q", textField)
		}
		l, ok, err := r.Scalar(labelField)
		if err != nil {
			return err
		}
		if !ok {
			return r.Errorf("missing field %q", labelField)
		}
		rec := n
		n++
		if seen[[2]string{t, l}] {
			return nil
		}
		seen[[2]string{t, l}] = true
		id, ok := ids[l]
		if !ok {
			id = len(ids)
			ids[l] = id
		}
		texts, labels, rows = append(texts, t), append(labels, id), append(rows, rec)
		return nil
	})
	if err != nil {
		return nil, nil, nil, 0, fmt.Errorf("--labelled: %w", err)
	}
	return texts, labels, rows, n, nil
}

// ReadRowEmbeddings reads a float32 .npy whose rows must match the
// in.Rows lines of in.Path and hold finite values only; errors start
// with flag.
func ReadRowEmbeddings(path, flag string, in mining.InputFile) (blas32.General, error) {
	m, err := ReadNPY(path)
	if err != nil {
		return m, fmt.Errorf("%s: %w", flag, err)
	}
	if m.Rows != in.Rows {
		return m, fmt.Errorf("%s %s: %d rows but %s has %d JSON lines", flag, path, m.Rows, in.Path, in.Rows)
	}
	for i := range m.Rows {
		for _, v := range linalg.Row(m, i) {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return m, fmt.Errorf("%s %s: row %d holds a non-finite value", flag, path, i)
			}
		}
	}
	return m, nil
}

// GatherRows returns the rows of m listed in rows, in that order, as a
// new matrix (m itself when rows is 0..m.Rows-1). Every row index must
// be in [0, m.Rows).
func GatherRows(m blas32.General, rows []int) blas32.General {
	identity := len(rows) == m.Rows
	for i, r := range rows {
		identity = identity && r == i
	}
	if identity {
		return m
	}
	out := linalg.NewMatrix(len(rows), m.Cols)
	for i, r := range rows {
		copy(linalg.Row(out, i), linalg.Row(m, r))
	}
	return out
}

// previewText returns s cut to 60 runes for error messages.
func previewText(s string) string {
	if r := []rune(s); len(r) > 60 {
		return string(r[:60]) + "…"
	}
	return s
}
