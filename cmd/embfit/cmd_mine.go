package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/embfit/embfit/internal/atomicfile"
	"github.com/embfit/embfit/internal/progress"
	"github.com/embfit/embfit/mining"
	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/pipeline/job"
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
			"  labeled-list    {anchor, positive: [positive, negative_1..negative_k], labels: [1, 0..0]}; queries\n" +
			"                  with no negative are left out\n" +
			"--include-positives keeps the positives (labelled: the label's items) among the ranked candidates, so\n" +
			"each n-tuple line is the query's first-stage ranking (for re-ranking evaluation sets); it needs\n" +
			"--output-format n-tuple or n-tuple-scores, and the filters and --range-min may drop positives too.\n" +
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
			&cli.StringFlag{Name: "text-field", Value: "text", Usage: "corpus / labelled field holding the text (\"tensor\" by default for tensor models)"},
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
			&cli.StringFlag{Name: "output-format", Value: "triplet", Usage: "triplet, n-tuple, n-tuple-scores, labeled-pair or labeled-list"},
			&cli.BoolFlag{Name: "include-positives", Usage: "rank the positives among the candidates (with an n-tuple format)"},
			&cli.StringFlag{Name: "out", Usage: "output `FILE` (JSONL); the manifest goes to FILE.manifest.json (required; \"-\": standard output, no manifest)"},
			&cli.IntFlag{Name: "query-block", Value: mining.DefaultQueryBlock, Usage: "queries per GEMM block"},
			&cli.IntFlag{Name: "corpus-block", Value: mining.DefaultCorpusBlock, Usage: "corpus rows per GEMM block"},
			&cli.IntFlag{Name: "batch-size", Usage: "encoder batch size (default 64)"},
			&cli.IntFlag{Name: "max-length", Usage: "encoder max tokens per text (default: the model folder's max_seq_length, else 256)"},
			&cli.StringFlag{Name: "file", Usage: "ONNX file inside the model folder, e.g. onnx/model_O4.onnx"},
			&cli.StringFlag{Name: "query-prompt", Usage: "text prepended to every query (default: the model folder's default prompt)"},
			&cli.StringFlag{Name: "query-prompt-name", Usage: "one of the model folder's prompts for the queries, e.g. query"},
			&cli.StringFlag{Name: "corpus-prompt", Usage: "text prepended to every corpus text (default: the model folder's default prompt)"},
			&cli.StringFlag{Name: "corpus-prompt-name", Usage: "one of the model folder's prompts for the corpus, e.g. document"},
		},
		Action: runMine,
	}
}

// parseMineFlags checks the flags of `embfit mine` and returns its job.
func parseMineFlags(c *cli.Context) (*job.MineJob, error) {
	if err := requireFlags(c, "out"); err != nil {
		return nil, err
	}
	if err := checkInts(c, intBound{"num-negatives", 1, maxNegatives}, intBound{"range-min", 0, maxRank - 1}, intBound{"range-max", 1, maxRank},
		intBound{"query-block", 1, maxBlock}, intBound{"corpus-block", 1, maxBlock}, intBound{"batch-size", 1, maxBatch}, intBound{"max-length", 1, maxLength}); err != nil {
		return nil, err
	}
	if err := checkFloats(c, "max-score", "min-score", "absolute-margin", "relative-margin"); err != nil {
		return nil, err
	}
	j := &job.MineJob{
		Pairs: c.String("pairs"), Labelled: c.String("labelled"), Corpus: c.String("corpus"),
		Model: c.String("model"), QueryEmbeddings: c.String("query-embeddings"), CorpusEmbeddings: c.String("corpus-embeddings"),
		AnchorField: c.String("anchor-field"), PositiveField: c.String("positive-field"),
		TextField: setString(c, "text-field"), LabelField: c.String("label-field"),
		Format: c.String("output-format"), Out: c.String("out"),
		Encoder:     onnx.EncoderSettings{BatchSize: c.Int("batch-size"), MaxLength: c.Int("max-length"), File: c.String("file")},
		QueryPrompt: c.String("query-prompt"), QueryPromptName: c.String("query-prompt-name"),
		CorpusPrompt: c.String("corpus-prompt"), CorpusPromptName: c.String("corpus-prompt-name"),
	}
	switch {
	case (j.Pairs == "") == (j.Labelled == ""):
		return nil, fmt.Errorf("give exactly one of --pairs and --labelled")
	case (j.Model == "") == (j.QueryEmbeddings == ""):
		return nil, fmt.Errorf("give exactly one of --model (embed texts) and --query-embeddings")
	case j.Labelled != "" && j.Corpus != "":
		return nil, fmt.Errorf("--corpus: labelled mode mines among the --labelled items; no separate corpus")
	case j.Labelled != "" && j.CorpusEmbeddings != "":
		return nil, fmt.Errorf("--corpus-embeddings: labelled mode uses --query-embeddings for the items")
	case j.Model != "" && j.CorpusEmbeddings != "":
		return nil, fmt.Errorf("--corpus-embeddings goes with --query-embeddings, not --model")
	case j.Pairs != "" && j.QueryEmbeddings != "" && (j.CorpusEmbeddings == "" || j.Corpus == ""):
		return nil, fmt.Errorf("--query-embeddings with --pairs needs --corpus and --corpus-embeddings (one row per corpus line)")
	}
	if err := mining.CheckFormat(j.Format); err != nil {
		return nil, fmt.Errorf("--output-format: %w", err)
	}
	s := mining.Settings{
		NumNegatives: c.Int("num-negatives"), RangeMin: c.Int("range-min"), RangeMax: c.Int("range-max"),
		Sampling: c.String("sampling"), Seed: c.Uint64("seed"),
		QueryBlock: c.Int("query-block"), CorpusBlock: c.Int("corpus-block"),
		IncludePositives: c.Bool("include-positives"),
	}
	if err := mining.CheckOutput(j.Format, s); err != nil {
		return nil, err // names include_positives: main names the flag
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
		return nil, err // an input error naming the setting: main names the flag
	}
	j.Settings = s
	if j.Out == "-" {
		j.Stdout = c.App.Writer
		return j, nil
	}
	if st, err := os.Stat(filepath.Dir(j.Out)); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("--out %s: folder %s does not exist", j.Out, filepath.Dir(j.Out))
	}
	if st, err := os.Stat(j.Out); err == nil && st.IsDir() {
		return nil, fmt.Errorf("--out %s: is a folder", j.Out)
	}
	for _, in := range []string{j.Pairs, j.Labelled, j.Corpus, j.Model, j.QueryEmbeddings, j.CorpusEmbeddings} {
		if in == "" {
			continue
		}
		for _, out := range []string{j.Out, j.Out + ".manifest.json"} {
			if samePath(out, in) {
				return nil, fmt.Errorf("--out %s: would overwrite the input file %s", j.Out, in)
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
	stderr := c.App.ErrWriter
	if stderr == nil {
		stderr = os.Stderr
	}
	j.Warn = func(msg string) { fmt.Fprintf(stderr, "embfit mine: warning: %s\n", msg) }
	report, stop := progress.Bars(stderr, "mine: ", func(stage string) string {
		if stage == job.StageSearch {
			return "scores"
		}
		return "texts"
	})
	j.Progress = report
	res, err := j.Run(c.Context) // c.Context is cancelled by main on SIGINT/SIGTERM
	stop()
	if err != nil {
		return withHint(err, "model", "takes a float tensor", "embfit mine needs text; embed it with `embfit embed` and mine with --query-embeddings")
	}
	w := c.App.Writer
	if w == nil {
		w = os.Stdout
	}
	if j.Out == "-" || isStdout(j.Out) {
		w = stderr // standard output holds the JSONL
	}
	if j.Out != "-" && atomicfile.IsDirect(j.Out) {
		fmt.Fprintf(stderr, "embfit: note: --out %s is not a regular file: written directly, no manifest\n", j.Out)
	}
	m, man := res.Mined, res.Manifest
	ct := m.Counts
	fmt.Fprintf(w, "mined %d queries × %d corpus rows: %d negatives (%d queries short of %d, %d without positive, %d with a zero embedding); "+
		"dropped max-score %d, min-score %d, absolute-margin %d, relative-margin %d; "+
		"%d %s rows → %s (read+embed %s, search %s, total %s)\n",
		ct.Queries, ct.Corpus, ct.Negatives, ct.QueriesShort, m.Settings.NumNegatives, ct.QueriesWithoutPositive, ct.QueriesZeroEmbedding,
		ct.Dropped.MaxScore, ct.Dropped.MinScore, ct.Dropped.AbsoluteMargin, ct.Dropped.RelativeMargin,
		man.Output.Rows, j.Format, j.Out, res.Load.Round(time.Millisecond), res.Search.Round(time.Millisecond),
		time.Since(start).Round(time.Millisecond))
	return nil
}

// setString is the flag's value when given on the command line, else ""
// (so the job's own default applies: "text", or "tensor" for tensor
// models).
func setString(c *cli.Context, name string) string {
	if c.IsSet(name) {
		return c.String(name)
	}
	return ""
}
