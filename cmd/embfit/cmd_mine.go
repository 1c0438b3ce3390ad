package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/internal/progress"
	"github.com/embfit/embfit/mining"
	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/pipeline"
)

func mineCommand() *cli.Command {
	return &cli.Command{
		Name:  "mine",
		Usage: "mine hard negatives from a corpus (exact search, no false negatives)",
		Description: "Input, one of:\n" +
			"  --pairs P.jsonl: {\"anchor\":…,\"positive\":…} lines; repeated anchors form one query with several positives.\n" +
			"  --labelled L.jsonl: {\"text\":…,\"label\":…} lines; an item's positives are the other items of its label,\n" +
			"      and no item of its label is ever a negative. The corpus is the items.\n" +
			"Corpus: --corpus C.jsonl ({\"text\":…} lines); default: the distinct positives of the pairs.\n" +
			"Embeddings: --model M embeds the texts (ONNX model or model folder), or --query-embeddings Q.npy\n" +
			"(one row per line of the pairs/labelled file) and --corpus-embeddings C.npy (one row per line of\n" +
			"--corpus) reuse embeddings made by `embfit embed`; positives are matched to corpus lines by text.\n" +
			"\n" +
			"Score = cosine similarity. For each query the corpus is ranked, skipping its positives, any text equal\n" +
			"to a positive or to the query, and (labelled) its label; the candidates at ranks [--range-min,\n" +
			"--range-max) that pass --max-score, --min-score, --absolute-margin a (drop s_neg > s_pos − a) and\n" +
			"--relative-margin r (drop s_neg > s_pos − r·|s_pos|), with s_pos the query's lowest positive score,\n" +
			"are sampled (--sampling top|random, --seed). Scores are exact float64 cosines: outputs are identical\n" +
			"for a seed whatever the thread count. Queries with an all-zero embedding (no known token) are skipped.\n" +
			"\n" +
			"Output (--out, JSONL), --output-format:\n" +
			"  triplet         {anchor, positive, negative}, one line per query × positive × negative\n" +
			"  n-tuple         {anchor, positive, negative_1..negative_N}; queries short of N negatives are left out\n" +
			"  n-tuple-scores  n-tuple plus \"scores\": [s(anchor,positive), s(anchor,negative_1), ...]\n" +
			"  labeled-pair    {text1, text2, label}: 1 for each positive, 0 for each negative\n" +
			"In labelled mode each item's output positive is one item of its label chosen with --seed.\n" +
			"OUT.manifest.json records the model sha256, inputs, every setting, counts, score statistics, the\n" +
			"candidates each filter dropped and the queries short of negatives.\n" +
			"\n" +
			"The search is exact: blocks of --query-block queries × --corpus-block corpus rows through BLAS GEMM,\n" +
			"so besides the embeddings it needs query-block × corpus-block × 4 bytes (default 1024 × 8192: 32 MiB)\n" +
			"plus candidates for at most 65,536 queries at a time (× 1.25·range-max × 16 bytes: 66 MiB at the\n" +
			"default range-max), never queries × corpus.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "pairs", Usage: "pairs `FILE` (JSONL)"},
			&cli.StringFlag{Name: "labelled", Usage: "labelled items `FILE` (JSONL)"},
			&cli.StringFlag{Name: "corpus", Usage: "corpus `FILE` (JSONL); default: the distinct positives"},
			&cli.StringFlag{Name: "model", Usage: "ONNX encoder `M` (.onnx file or model folder) to embed texts"},
			&cli.StringFlag{Name: "query-embeddings", Usage: "`Q.npy`: one row per line of --pairs/--labelled (instead of --model)"},
			&cli.StringFlag{Name: "corpus-embeddings", Usage: "`C.npy`: one row per line of --corpus (with --query-embeddings)"},
			&cli.StringFlag{Name: "anchor-field", Value: "anchor", Usage: "pairs field holding the query"},
			&cli.StringFlag{Name: "positive-field", Value: "positive", Usage: "pairs field holding the positive"},
			&cli.StringFlag{Name: "text-field", Value: "text", Usage: "corpus / labelled field holding the text"},
			&cli.StringFlag{Name: "label-field", Value: "label", Usage: "labelled field holding the label"},
			&cli.IntFlag{Name: "num-negatives", Value: 3, Usage: "negatives per query"},
			&cli.IntFlag{Name: "range-min", Value: 0, Usage: "first rank considered (0 = the best non-positive)"},
			&cli.IntFlag{Name: "range-max", Value: 50, Usage: "ranks considered are [range-min, range-max)"},
			&cli.Float64Flag{Name: "max-score", DefaultText: "off", Usage: "drop candidates scoring above `S`"},
			&cli.Float64Flag{Name: "min-score", DefaultText: "off", Usage: "drop candidates scoring below `S`"},
			&cli.Float64Flag{Name: "absolute-margin", DefaultText: "off", Usage: "drop candidates with s_neg > s_pos − `A`"},
			&cli.Float64Flag{Name: "relative-margin", DefaultText: "off", Usage: "drop candidates with s_neg > s_pos − `R`·|s_pos|"},
			&cli.StringFlag{Name: "sampling", Value: "top", Usage: "top (best ranked) or random (seeded) among passing candidates"},
			&cli.Uint64Flag{Name: "seed", Value: 0, Usage: "seed for random sampling and labelled positives"},
			&cli.StringFlag{Name: "output-format", Value: "triplet", Usage: "triplet, n-tuple, n-tuple-scores or labeled-pair"},
			&cli.StringFlag{Name: "out", Usage: "output `FILE` (JSONL); the manifest goes to FILE.manifest.json (required)"},
			&cli.IntFlag{Name: "query-block", Value: mining.DefaultQueryBlock, Usage: "queries per GEMM block"},
			&cli.IntFlag{Name: "corpus-block", Value: mining.DefaultCorpusBlock, Usage: "corpus rows per GEMM block"},
			&cli.IntFlag{Name: "batch-size", Usage: "encoder batch size (default 64)"},
			&cli.IntFlag{Name: "max-length", Usage: "encoder max tokens per text (default 256)"},
		},
		Action: runMine,
	}
}

// mineJob is a parsed `embfit mine` invocation.
type mineJob struct {
	pairs, labelled, corpus, model, qEmb, cEmb string
	anchorField, positiveField, textField      string
	labelField, format, out                    string
	settings                                   mining.Settings
	enc                                        onnx.EncoderSettings
}

func parseMineFlags(c *cli.Context) (*mineJob, error) {
	if err := requireFlags(c, "out"); err != nil {
		return nil, err
	}
	j := &mineJob{
		pairs: c.String("pairs"), labelled: c.String("labelled"), corpus: c.String("corpus"),
		model: c.String("model"), qEmb: c.String("query-embeddings"), cEmb: c.String("corpus-embeddings"),
		anchorField: c.String("anchor-field"), positiveField: c.String("positive-field"),
		textField: c.String("text-field"), labelField: c.String("label-field"),
		format: c.String("output-format"), out: c.String("out"),
		enc: onnx.EncoderSettings{BatchSize: c.Int("batch-size"), MaxLength: c.Int("max-length")},
	}
	switch {
	case (j.pairs == "") == (j.labelled == ""):
		return nil, fmt.Errorf("give exactly one of --pairs and --labelled")
	case (j.model == "") == (j.qEmb == ""):
		return nil, fmt.Errorf("give exactly one of --model (embed texts) and --query-embeddings")
	case j.labelled != "" && j.corpus != "":
		return nil, fmt.Errorf("--corpus: labelled mode mines among the --labelled items; no separate corpus")
	case j.labelled != "" && j.cEmb != "":
		return nil, fmt.Errorf("--corpus-embeddings: labelled mode uses --query-embeddings for the items")
	case j.model != "" && j.cEmb != "":
		return nil, fmt.Errorf("--corpus-embeddings goes with --query-embeddings, not --model")
	case j.pairs != "" && j.qEmb != "" && (j.cEmb == "" || j.corpus == ""):
		return nil, fmt.Errorf("--query-embeddings with --pairs needs --corpus and --corpus-embeddings (one row per corpus line)")
	}
	if err := mining.CheckFormat(j.format); err != nil {
		return nil, fmt.Errorf("--output-format: %w", err)
	}
	s := mining.Settings{
		NumNegatives: c.Int("num-negatives"), RangeMin: c.Int("range-min"), RangeMax: c.Int("range-max"),
		Sampling: c.String("sampling"), Seed: c.Uint64("seed"),
		QueryBlock: c.Int("query-block"), CorpusBlock: c.Int("corpus-block"),
	}
	switch {
	case s.NumNegatives < 1:
		return nil, fmt.Errorf("--num-negatives %d: must be at least 1", s.NumNegatives)
	case s.RangeMin < 0:
		return nil, fmt.Errorf("--range-min %d: must be ≥ 0", s.RangeMin)
	case s.RangeMax <= s.RangeMin:
		return nil, fmt.Errorf("--range-max %d must be greater than --range-min %d", s.RangeMax, s.RangeMin)
	case s.QueryBlock < 1 || s.CorpusBlock < 1:
		return nil, fmt.Errorf("--query-block and --corpus-block must be at least 1")
	}
	for _, f := range []struct {
		name string
		dst  **float64
	}{{"max-score", &s.MaxScore}, {"min-score", &s.MinScore}, {"absolute-margin", &s.AbsoluteMargin}, {"relative-margin", &s.RelativeMargin}} {
		if c.IsSet(f.name) {
			v := c.Float64(f.name)
			*f.dst = &v
		}
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("--%w", err)
	}
	j.settings = s
	if st, err := os.Stat(filepath.Dir(j.out)); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("--out %s: folder %s does not exist", j.out, filepath.Dir(j.out))
	}
	if st, err := os.Stat(j.out); err == nil && st.IsDir() {
		return nil, fmt.Errorf("--out %s: is a folder", j.out)
	}
	for _, in := range []string{j.pairs, j.labelled, j.corpus, j.model, j.qEmb, j.cEmb} {
		if in == "" {
			continue
		}
		for _, out := range []string{j.out, j.out + ".manifest.json"} {
			if samePath(out, in) {
				return nil, fmt.Errorf("--out %s: would overwrite the input file %s", j.out, in)
			}
		}
	}
	return j, nil
}

func runMine(c *cli.Context) error {
	start := time.Now()
	j, err := parseMineFlags(c)
	if err != nil {
		return err
	}
	ctx := c.Context // cancelled by main on SIGINT/SIGTERM
	stderr := c.App.ErrWriter
	if stderr == nil {
		stderr = os.Stderr
	}

	p, man, err := j.loadProblem(ctx, stderr)
	if err != nil {
		return err
	}
	loaded := time.Now()
	bar := progress.New(stderr, "mine: search", p.Queries.Rows*p.Corpus.Rows, "scores", 0)
	m, err := mining.Mine(ctx, *p, j.settings, func(done, _ int64) { bar.Set(int(done)) })
	searched := bar.Finish()
	if err != nil {
		return err
	}
	man, err = mining.WriteOutputs(j.out, j.format, false, p, m, man)
	if err != nil {
		return err
	}
	w := c.App.Writer
	if w == nil {
		w = os.Stdout
	}
	ct := m.Counts
	fmt.Fprintf(w, "mined %d queries × %d corpus rows: %d negatives (%d queries short of %d, %d without positive, %d with a zero embedding); "+
		"dropped max-score %d, min-score %d, absolute-margin %d, relative-margin %d; "+
		"%d %s rows → %s (read+embed %s, search %s, total %s)\n",
		ct.Queries, ct.Corpus, ct.Negatives, ct.QueriesShort, m.Settings.NumNegatives, ct.QueriesWithoutPositive, ct.QueriesZeroEmbedding,
		ct.Dropped.MaxScore, ct.Dropped.MinScore, ct.Dropped.AbsoluteMargin, ct.Dropped.RelativeMargin,
		man.Output.Rows, j.format, j.out, loaded.Sub(start).Round(time.Millisecond), searched.Round(time.Millisecond),
		time.Since(start).Round(time.Millisecond))
	return nil
}

// loadProblem reads the inputs, embeds or loads embeddings, normalizes them
// and returns the mining problem and a manifest with the inputs filled in.
func (j *mineJob) loadProblem(ctx context.Context, stderr io.Writer) (*mining.Problem, mining.Manifest, error) {
	man := mining.Manifest{Command: "embfit mine", Mode: "pairs"}
	p := &mining.Problem{}
	var queryRows []int // row of each query in its embeddings (embeddings mode)
	if j.labelled != "" {
		man.Mode = "labelled"
		texts, labels, rows, n, err := readLabelled(j.labelled, j.textField, j.labelField)
		if err != nil {
			return nil, man, err
		}
		p.QueryText, p.CorpusText = texts, texts
		p.QueryLabels, p.CorpusLabels = labels, labels
		queryRows = rows
		man.Inputs = append(man.Inputs, mining.InputFile{Role: "labelled", Path: j.labelled, Rows: n})
	} else {
		anchors, positives, lines, err := readPairs(j.pairs, j.anchorField, j.positiveField)
		if err != nil {
			return nil, man, err
		}
		set := mining.GroupPairs(anchors, positives)
		man.Inputs = append(man.Inputs, mining.InputFile{Role: "pairs", Path: j.pairs, Rows: set.Pairs})
		p.QueryText = set.Queries
		queryRows = set.FirstPair
		if j.corpus != "" {
			p.CorpusText, err = readTexts(j.corpus, j.textField)
			if err != nil {
				return nil, man, err
			}
			man.Inputs = append(man.Inputs, mining.InputFile{Role: "corpus", Path: j.corpus, Rows: len(p.CorpusText)})
		} else {
			p.CorpusText = set.DefaultCorpus()
		}
		rows, missing := set.CorpusRows(p.CorpusText)
		if missing >= 0 {
			return nil, man, fmt.Errorf("%s:%d: positive %q is not in the corpus %s", j.pairs, lines[missing], preview(positives[missing]), j.corpus)
		}
		p.Positives = rows
	}

	if j.model != "" {
		if err := j.embed(ctx, p, &man, stderr); err != nil {
			return nil, man, err
		}
	} else {
		q, err := readEmbeddings(j.qEmb, "--query-embeddings", man.Inputs[0])
		if err != nil {
			return nil, man, err
		}
		man.Inputs = append(man.Inputs, mining.InputFile{Role: "query-embeddings", Path: j.qEmb, Rows: q.Rows})
		p.Queries = gatherRows(q, queryRows)
		if p.QueryLabels != nil {
			p.Corpus = p.Queries
		} else {
			cm, err := readEmbeddings(j.cEmb, "--corpus-embeddings", man.Inputs[1])
			if err != nil {
				return nil, man, err
			}
			man.Inputs = append(man.Inputs, mining.InputFile{Role: "corpus-embeddings", Path: j.cEmb, Rows: cm.Rows})
			p.Corpus = cm
		}
		if p.Queries.Cols != p.Corpus.Cols {
			return nil, man, fmt.Errorf("--query-embeddings %s has %d columns but --corpus-embeddings %s has %d", j.qEmb, p.Queries.Cols, j.cEmb, p.Corpus.Cols)
		}
	}
	for i := range man.Inputs {
		if man.Inputs[i].SHA256 != "" {
			continue
		}
		sum, err := pipeline.FileSHA256(man.Inputs[i].Path)
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
		fmt.Fprintf(stderr, "embfit mine: warning: %d all-zero embeddings (such queries are skipped; such corpus rows score 0)\n", zero)
	}
	return p, man, nil
}

// embed embeds the query and corpus texts with j.model.
func (j *mineJob) embed(ctx context.Context, p *mining.Problem, man *mining.Manifest, stderr io.Writer) error {
	var bar *progress.Reporter
	j.enc.Progress = func(done, total int) {
		if bar != nil {
			bar.Set(done)
		}
	}
	enc, err := onnx.OpenEncoder(j.model, j.enc)
	if err != nil {
		return fmt.Errorf("--model: %w", err)
	}
	defer enc.Close()
	if !enc.IsText() {
		return fmt.Errorf("--model %s: takes a float tensor, not text; embed with `embfit embed` and use --query-embeddings", j.model)
	}
	for _, w := range enc.Warnings() {
		fmt.Fprintf(stderr, "embfit mine: warning: %s\n", w)
	}
	files := enc.Files()
	sum, err := pipeline.FileSHA256(files.Model)
	if err != nil {
		return err
	}
	man.ModelSHA256 = sum
	man.Inputs = append(man.Inputs, mining.InputFile{Role: "model", Path: files.Model, SHA256: sum})
	if files.Tokenizer != "" {
		man.Inputs = append(man.Inputs, mining.InputFile{Role: "tokenizer", Path: files.Tokenizer})
	}
	embed := func(texts []string, what string) (blas32.General, error) {
		m := linalg.NewMatrix(len(texts), enc.Dim())
		bar = progress.New(stderr, "mine: embed "+what, len(texts), "texts", 0)
		err := enc.EmbedTexts(ctx, texts, m)
		bar.Finish()
		bar = nil
		return m, err
	}
	if p.Queries, err = embed(p.QueryText, "queries"); err != nil {
		return err
	}
	if p.QueryLabels != nil {
		p.Corpus = p.Queries
		return nil
	}
	p.Corpus, err = embed(p.CorpusText, "corpus")
	return err
}

// readPairs reads the anchor and positive of every line of a pairs file;
// lines[i] is the file line of pair i.
func readPairs(path, anchorField, positiveField string) (anchors, positives []string, lines []int, err error) {
	err = pipeline.ReadJSONL(path, func(r pipeline.Record) error {
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

// readTexts reads the text field of every line of a corpus file.
func readTexts(path, field string) ([]string, error) {
	var texts []string
	err := pipeline.ReadJSONL(path, func(r pipeline.Record) error {
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

// readLabelled reads labelled items, keeping the first of each distinct
// (text, label): texts and dense label ids (in order of first appearance),
// rows[i] the file record of item i, and n the number of records.
func readLabelled(path, textField, labelField string) (texts []string, labels, rows []int, n int, err error) {
	ids := make(map[string]int)
	seen := make(map[[2]string]bool)
	err = pipeline.ReadJSONL(path, func(r pipeline.Record) error {
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

// readEmbeddings reads a .npy whose rows must match the lines of in.
func readEmbeddings(path, flag string, in mining.InputFile) (blas32.General, error) {
	m, err := pipeline.ReadNPY(path)
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

// gatherRows returns the rows of m listed in rows (m itself when they are
// 0..m.Rows-1).
func gatherRows(m blas32.General, rows []int) blas32.General {
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

func preview(s string) string {
	if r := []rune(s); len(r) > 60 {
		return string(r[:60]) + "…"
	}
	return s
}
