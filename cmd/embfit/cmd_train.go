package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"

	"github.com/embfit/embfit/internal/inputerr"
	"github.com/embfit/embfit/internal/progress"
	"github.com/embfit/embfit/losses"
	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/pipeline/dataio"
	"github.com/embfit/embfit/pipeline/embed"
	"github.com/embfit/embfit/pipeline/head"
	"github.com/embfit/embfit/pipeline/job"
	"github.com/embfit/embfit/pipeline/retrieval"
	"github.com/embfit/embfit/pipeline/train"
)

func trainCommand() *cli.Command {
	return &cli.Command{
		Name:  "train",
		Usage: "fine-tune a head on a frozen ONNX encoder and export head.onnx and merged.onnx",
		Description: "Embeds every distinct text once (cached by model sha256 + pooling + text), trains a linear\n" +
			"or MLP head with the given losses, evaluates on --dev each epoch (early stopping, best epoch\n" +
			"kept) and on --test before and after, and writes RUN/config.json, RUN/checkpoints/, RUN/metrics.jsonl,\n" +
			"RUN/head.onnx, RUN/merged.onnx and RUN/tokenizer.json. Training data is JSONL: pairs\n" +
			"{\"anchor\",\"positive\"[,\"negative\"|\"negative_1\"...]} (e.g. the output of embfit mine) or labelled\n" +
			"{\"text\",\"label\"}. --resume RUN continues an interrupted run from its last checkpoint with the\n" +
			"run's own settings and ends with the same head, bit for bit, as an uninterrupted run.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Usage: "encoder `MODEL` (.onnx file or folder with tokenizer.json); optional with --embeddings"},
			&cli.StringFlag{Name: "embeddings", Usage: "train on embeddings you already have: `X.npy` (float32 [N,D]) whose sidecar names each row's text; without --model only head.onnx is written"},
			&cli.StringFlag{Name: "embeddings-sidecar", Usage: "JSONL `FILE` with {\"text\"[,\"row\"]} per row of --embeddings (default X.ids.jsonl)"},
			&cli.StringFlag{Name: "train", Usage: "training data `FILE.jsonl` (pairs or labelled)"},
			&cli.StringFlag{Name: "dev", Usage: "dev data `FILE.jsonl` evaluated each epoch (early stopping, best epoch)"},
			&cli.StringFlag{Name: "test", Usage: "test data `FILE.jsonl` evaluated before and after training"},
			&cli.StringFlag{Name: "out", Usage: "run directory `RUN/` (must not hold a run yet)"},
			&cli.StringFlag{Name: "resume", Usage: "continue the interrupted run in `RUN/` (its config.json wins over other flags)"},
			&cli.StringFlag{Name: "pooling", Usage: "encoder pooling: mean, cls, max or none (default: mean for token outputs)"},
			&cli.StringFlag{Name: "output", Usage: "encoder output `NAME` (default sentence_embedding, else last_hidden_state)"},
			&cli.StringFlag{Name: "tokenizer", Usage: "tokenizer.json `FILE` (default: beside the model)"},
			&cli.GenericFlag{Name: "loss", Usage: "loss `SPEC` [W*]NAME[:key=value,...], repeatable (default infonce; names: " + strings.Join(losses.Names(), ", ") + ")", Value: &specList{}},
			&cli.StringFlag{Name: "head", Value: "linear", Usage: "head kind: " + strings.Join(head.Kinds(), ", ")},
			&cli.IntFlag{Name: "dim", Usage: "head output width (default: the encoder's)"},
			&cli.IntFlag{Name: "hidden", Usage: "mlp hidden width (default: 4× the encoder's)"},
			&cli.BoolFlag{Name: "normalize-head", Usage: "L2-normalize the head's output (merged.onnx always normalizes)"},
			&cli.StringFlag{Name: "optimizer", Value: "adamw", Usage: "sgd, adam or adamw"},
			&cli.Float64Flag{Name: "lr", Usage: "peak learning rate (default 1e-3; sgd 0.05)"},
			&cli.Float64Flag{Name: "weight-decay", Usage: "weight decay (default 0.01 for adamw, else 0; 0 or negative: off)"},
			&cli.Float64Flag{Name: "warmup", Usage: "warm-up fraction of all steps (default 0.1; 0 or negative: none)"},
			&cli.StringFlag{Name: "schedule", Value: "cosine", Usage: "learning-rate decay after warm-up: cosine, linear or constant"},
			&cli.Float64Flag{Name: "clip", Usage: "global gradient-norm clip (default 1; 0 or negative: off)"},
			&cli.Float64Flag{Name: "momentum", Usage: "sgd momentum (default 0.9; 0 or negative: none)"},
			&cli.IntFlag{Name: "epochs", Value: 10, Usage: "maximum epochs"},
			&cli.IntFlag{Name: "batch-size", Value: 256, Usage: "pairs per batch, or P×K rows for labelled data"},
			&cli.IntFlag{Name: "per-class", Value: 4, Usage: "K of the m-per-class sampler (labelled data)"},
			&cli.IntFlag{Name: "negatives", Value: 3, Usage: "mined negatives per pair used in a batch (negative: none)"},
			&cli.IntFlag{Name: "mine-negatives", Usage: "mine `N` hard negatives per training pair with the frozen encoder"},
			&cli.IntFlag{Name: "mine-range-min", Usage: "skip the `R` best-ranked candidates when mining (false-negative guard)"},
			&cli.Uint64Flag{Name: "seed", Usage: "seed for the head's initialization and batch order"},
			&cli.StringFlag{Name: "metric", Value: "map@r", Usage: "dev metric for early stopping: map@r, precision@1, r-precision, mrr@10, ndcg@10, recall@1/5/10"},
			&cli.IntFlag{Name: "patience", Value: 3, Usage: "stop after this many epochs without dev improvement (negative: never)"},
			&cli.IntFlag{Name: "checkpoint-every", Value: 50, Usage: "write a checkpoint every `N` steps (and at each epoch end)"},
			&cli.StringFlag{Name: "matryoshka", Usage: "train nested prefixes of the output: ascending `WIDTHS` such as 32,64,100 (every loss summed over each prefix; metrics and head-D.onnx per width)"},
			&cli.StringFlag{Name: "matryoshka-weights", Usage: "one `WEIGHT` per --matryoshka width, e.g. 1,1,1 (default all 1)"},
			&cli.StringFlag{Name: "cache-dir", Usage: "embedding cache `DIR` (default $XDG_CACHE_HOME/embfit or ~/.cache/embfit; \"none\": off)"},
			&cli.IntFlag{Name: "embed-batch", Usage: "encoder batch size (default 64)"},
			&cli.IntFlag{Name: "max-length", Usage: "encoder token limit per text (default: the model folder's max_seq_length, else 256; clamped to the model's)"},
			&cli.StringFlag{Name: "query-prompt", Usage: "text prepended to anchors (and labelled items) (default: the model folder's default prompt)"},
			&cli.StringFlag{Name: "query-prompt-name", Usage: "one of the model folder's prompts for anchors, e.g. query"},
			&cli.StringFlag{Name: "corpus-prompt", Usage: "text prepended to positives and negatives (default: the model folder's default prompt)"},
			&cli.StringFlag{Name: "corpus-prompt-name", Usage: "one of the model folder's prompts for positives and negatives, e.g. document"},
			&cli.DurationFlag{Name: "step-delay", Hidden: true, Usage: "pause after every training step (to watch or interrupt a run)"},
			&cli.StringFlag{Name: "dump-job", Hidden: true, Usage: "write the job (embeddings, batches, initial head) to `DIR` before training, for the PyTorch comparison in scripts/bench"},
		},
		Action: runTrain,
	}
}

func defaultCacheDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "embfit")
}

// jobFromFlags builds the training job of a new run.
func jobFromFlags(c *cli.Context) (*job.TrainJob, string, error) {
	out := c.String("out")
	required := []string{"model", "train", "out"}
	if c.String("embeddings") != "" {
		required = required[1:]
	}
	for _, f := range required {
		if c.String(f) == "" {
			return nil, "", fmt.Errorf("--%s is required (or --resume RUN/)", f)
		}
	}
	if err := checkTrainFlags(c); err != nil {
		return nil, "", err
	}
	for _, f := range []string{"train", "dev", "test"} {
		if p := c.String(f); p != "" {
			if _, err := os.Stat(p); err != nil {
				return nil, "", fmt.Errorf("--%s %s: %w", f, p, errors.Unwrap(err))
			}
		}
	}
	j := &job.TrainJob{
		Train: c.String("train"), Dev: c.String("dev"), Test: c.String("test"),
		Merge:         head.MergeSettings{Output: c.String("output"), Pooling: c.String("pooling")},
		MineNegatives: c.Int("mine-negatives"), MineRangeMin: c.Int("mine-range-min"),
		CacheDir: c.String("cache-dir"), MaxLength: c.Int("max-length"),
		QueryPrompt: c.String("query-prompt"), QueryPromptName: c.String("query-prompt-name"),
		CorpusPrompt: c.String("corpus-prompt"), CorpusPromptName: c.String("corpus-prompt-name"),
		Settings: train.Settings{
			Head: head.Settings{Kind: c.String("head"), Out: c.Int("dim"), Hidden: c.Int("hidden"), Normalize: c.Bool("normalize-head")},
			Optim: train.OptimSettings{Name: c.String("optimizer"), LR: c.Float64("lr"), Momentum: c.Float64("momentum"),
				WeightDecay: c.Float64("weight-decay"), WarmupRatio: c.Float64("warmup"), Schedule: c.String("schedule"), ClipNorm: c.Float64("clip")},
			Losses: []string(*c.Generic("loss").(*specList)),
			Epochs: c.Int("epochs"), BatchSize: c.Int("batch-size"), PerClass: c.Int("per-class"), Negatives: c.Int("negatives"),
			Seed: c.Uint64("seed"), Metric: c.String("metric"), Patience: c.Int("patience"), CheckpointEvery: c.Int("checkpoint-every"),
		},
	}
	if e := c.String("embeddings"); e != "" {
		j.Embeddings, j.EmbeddingsSidecar = e, c.String("embeddings-sidecar")
		if j.EmbeddingsSidecar == "" {
			j.EmbeddingsSidecar = dataio.SidecarPath(e)
		}
		j.CacheDir = "none" // the rows are at hand: nothing to cache
	}
	// A typed 0 turns these off (0 in the settings means "default").
	for _, f := range []struct {
		name string
		v    *float64
	}{{"weight-decay", &j.Settings.Optim.WeightDecay}, {"warmup", &j.Settings.Optim.WarmupRatio}, {"clip", &j.Settings.Optim.ClipNorm}, {"momentum", &j.Settings.Optim.Momentum}} {
		if c.IsSet(f.name) && *f.v == 0 {
			*f.v = -1
		}
	}
	if j.CacheDir == "" {
		j.CacheDir = defaultCacheDir()
	} else if j.CacheDir == "none" {
		j.CacheDir = ""
	}
	var err error
	if j.Settings.Matryoshka, err = parseList(c.String("matryoshka"), strconv.Atoi); err != nil {
		return nil, "", fmt.Errorf("--matryoshka: %w", err)
	}
	if j.Settings.MatryoshkaWeights, err = parseList(c.String("matryoshka-weights"), func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }); err != nil {
		return nil, "", fmt.Errorf("--matryoshka-weights: %w", err)
	}
	if j.MineNegatives < 0 || j.MineRangeMin < 0 {
		return nil, "", errors.New("--mine-negatives and --mine-range-min must be ≥ 0")
	}
	// Validate the settings before any work (In is a placeholder until the
	// encoder is open).
	probe := j.Settings
	probe.Head.In = 1
	if m := probe.Matryoshka; len(m) > 0 {
		probe.Head.In = max(1, m[len(m)-1]) // the widths are checked against the real one later
	}
	if _, err := probe.WithDefaults(); err != nil {
		return nil, "", err
	}
	for _, f := range []string{"train", "dev", "test", "model", "tokenizer"} {
		for _, o := range []string{"config.json", "metrics.jsonl", "test_metrics.json", "head.onnx", "merged.onnx", "tokenizer.json"} {
			if p := c.String(f); p != "" && samePath(p, filepath.Join(out, o)) {
				return nil, "", fmt.Errorf("--out %s would overwrite --%s %s", out, f, p)
			}
		}
	}
	return j, out, nil
}

// checkTrainFlags bounds train's numeric flags: a typed value must be
// usable (0 epochs, a 0 learning rate, NaN are errors, not defaults).
func checkTrainFlags(c *cli.Context) error {
	if err := checkInts(c,
		intBound{"dim", 1, maxWidth}, intBound{"hidden", 1, maxWidth},
		intBound{"epochs", 1, maxEpochs}, intBound{"batch-size", 1, maxBatch}, intBound{"per-class", 1, maxBatch},
		intBound{"negatives", math.MinInt, maxNegatives}, intBound{"mine-negatives", 0, maxNegatives},
		intBound{"mine-range-min", 0, maxRank}, intBound{"patience", math.MinInt, maxEpochs},
		intBound{"checkpoint-every", 1, math.MaxInt}, intBound{"embed-batch", 1, maxBatch}, intBound{"max-length", 1, maxLength}); err != nil {
		return err
	}
	if err := checkFloats(c, "lr", "weight-decay", "warmup", "clip", "momentum"); err != nil {
		return err
	}
	if c.IsSet("lr") && !(c.Float64("lr") > 0) {
		return fmt.Errorf("--lr %v: must be positive", c.Float64("lr"))
	}
	if c.IsSet("warmup") && c.Float64("warmup") >= 1 {
		return fmt.Errorf("--warmup %v: a fraction of all steps, below 1 (negative: none)", c.Float64("warmup"))
	}
	if c.IsSet("batch-size") && c.IsSet("per-class") && c.Int("per-class") > c.Int("batch-size") {
		return fmt.Errorf("--per-class %d: more than --batch-size %d", c.Int("per-class"), c.Int("batch-size"))
	}
	return nil
}

// openJobEncoder opens the job's encoder and records its resolved files,
// output, pooling and pipeline in the job. A tensor model (with a fixed
// item shape) is served through embed.TensorTexts: the job's item fields
// then hold tensors (labelled items in "tensor", pairs in anchor and
// positive).
func openJobEncoder(j *job.TrainJob, model, tokenizer string, embedBatch int) (embed.Encoder, io.Closer, error) {
	enc, err := onnx.OpenEncoder(model, onnx.EncoderSettings{Output: j.Merge.Output, Pooling: onnx.Pooling(j.Merge.Pooling), Tokenizer: tokenizer, BatchSize: embedBatch, MaxLength: j.MaxLength})
	if err != nil {
		return nil, nil, err
	}
	for _, w := range enc.Warnings() {
		fmt.Fprintln(os.Stderr, "embfit: note:", w)
	}
	files, set := enc.Files(), enc.Settings()
	j.Model, j.Tokenizer = files.Model, files.Tokenizer
	j.Merge.Output, j.Merge.Pooling, j.MaxLength = set.Output, string(set.Pooling), set.MaxLength
	p := enc.Pipeline()
	j.Merge.Normalize, j.Pipeline, j.CorpusPipeline = p.Normalize.Value, &p, nil
	if enc.IsText() {
		j.Fields.TensorShape = nil
		if !j.Roles() {
			return enc, enc, nil
		}
		q, err := enc.WithPrompt(j.QueryPrompt, j.QueryPromptName)
		if err != nil {
			enc.Close()
			return nil, nil, promptFlagError(err, "query")
		}
		cp, err := enc.WithPrompt(j.CorpusPrompt, j.CorpusPromptName)
		if err != nil {
			enc.Close()
			return nil, nil, promptFlagError(err, "corpus")
		}
		qp, ccp := q.Pipeline(), cp.Pipeline()
		j.Pipeline, j.CorpusPipeline = &qp, &ccp
		return embed.Roles{Query: q, Corpus: cp}, enc, nil
	}
	if j.Roles() {
		enc.Close()
		return nil, nil, fmt.Errorf("--query-prompt: model %s takes a float tensor (input %s): prompts do not apply", model, enc.InputName())
	}
	shape := enc.ItemShape()
	if shape == nil {
		enc.Close()
		return nil, nil, fmt.Errorf("embfit train: model %s takes a float tensor (input %s) whose item shape is not fixed; embfit train needs a fixed shape", model, enc.InputName())
	}
	j.Fields.TensorShape = shape
	if j.Fields.Text == "" {
		j.Fields.Text = "tensor" // labelled tensor items: {"tensor": [...], "label": ...}, as embed reads them
	}
	return embed.TensorTexts{Enc: enc}, enc, nil
}

func runTrain(c *cli.Context) error {
	var (
		j   *job.TrainJob
		dir string
		err error
	)
	resume := c.String("resume") != ""
	if resume {
		dir = c.String("resume")
		if j, err = job.LoadJob(dir); err != nil {
			return fmt.Errorf("--resume: %w", err)
		}
		for _, f := range c.LocalFlagNames() {
			if f != "resume" && f != "embed-batch" && f != "step-delay" {
				fmt.Fprintf(os.Stderr, "embfit: warning: --%s ignored with --resume (the run's config.json is used)\n", f)
			}
		}
	} else if j, dir, err = jobFromFlags(c); err != nil {
		return err
	}
	model, tok := j.Model, j.Tokenizer
	if !resume {
		model, tok = c.String("model"), c.String("tokenizer")
	}
	var enc embed.Encoder
	if model != "" {
		oe, closer, err := openJobEncoder(j, model, tok, c.Int("embed-batch"))
		if err != nil {
			return err
		}
		defer closer.Close()
		enc = oe
	}
	if j.Embeddings != "" {
		// Rows the user already has replace the encoder's (which, when
		// given, is only appended in merged.onnx).
		tab, err := embed.ReadTable(j.Embeddings, j.EmbeddingsSidecar, "text")
		if err != nil {
			return fmt.Errorf("--embeddings: %w", err)
		}
		if enc != nil && enc.Dim() != tab.Dim() {
			return fmt.Errorf("--embeddings %s has width %d, --model %s gives %d", j.Embeddings, tab.Dim(), model, enc.Dim())
		}
		enc = tab
	}

	ctx := c.Context
	rep := newTrainReporter(os.Stderr)
	r := &job.JobRunner{Job: j, Dir: dir, Resume: resume, Encoder: enc, Log: os.Stderr,
		Progress: rep.step, EmbedProgress: rep.embed, StepDelay: c.Duration("step-delay"),
		Dump: c.String("dump-job")}
	res, err := r.Run(ctx)
	rep.done()
	if err != nil {
		if errors.Is(err, job.ErrRunExists) {
			return fmt.Errorf("--out %s already holds a run (use --resume %s, or another --out)", dir, dir)
		}
		flag := "--out"
		if resume {
			flag = "--resume"
		}
		switch {
		case errors.Is(err, job.ErrRunBusy), errors.Is(err, job.ErrNotRunDir):
			return fmt.Errorf("%s %w", flag, err)
		case errors.Is(err, context.Canceled) && job.HasCheckpoint(dir):
			fmt.Fprintf(os.Stderr, "embfit: checkpoint saved; continue with: embfit train --resume %s\n", dir)
		case errors.Is(err, context.Canceled):
			fmt.Fprintf(os.Stderr, "embfit: interrupted before training started: nothing to resume, %s left as it was (run the same command again)\n", dir)
		}
		if e, ok := inputerr.As(err); ok && e.Setting == "batch_size" && e.File == "" {
			return fmt.Errorf("--batch-size %d / --per-class %d: %v; lower --batch-size or --per-class", j.Settings.BatchSize, j.Settings.PerClass, e.Err)
		}
		if e, ok := inputerr.As(err); ok && e.File == "" && (e.Setting == "train" || e.Setting == "dev" || e.Setting == "test" || e.Setting == "model") {
			return fmt.Errorf("--%s: %v", e.Setting, e.Err)
		}
		return err
	}
	printTrainSummary(os.Stdout, j, res, dir)
	return nil
}

func printTrainSummary(w io.Writer, j *job.TrainJob, res *job.JobResult, dir string) {
	tr := res.Train
	last := tr.History[len(tr.History)-1]
	fmt.Fprintf(w, "trained %d epochs (%d steps) in %.1fs; best epoch %d", last.Epoch, last.Steps, res.Durations["train"].Seconds(), tr.BestEpoch)
	if tr.Stopped != "" {
		fmt.Fprintf(w, " (%s)", tr.Stopped)
	}
	fmt.Fprintln(w)
	row := func(name string, m *retrieval.Metrics) {
		fmt.Fprintf(w, "  %-8s %9.4f %9.4f %9.4f %9.4f %9.4f %9.4f %9.4f %9.4f\n", name, m.MAPAtR, m.PrecisionAt1, m.RPrecision,
			m.RecallAtK(1), m.RecallAtK(5), m.RecallAtK(10), m.MRRAt10, m.NDCGAt10)
	}
	header := func(title string) {
		fmt.Fprintf(w, "%s\n  %-8s %9s %9s %9s %9s %9s %9s %9s %9s\n", title, "", "MAP@R", "P@1", "R-prec", "R@1", "R@5", "R@10", "MRR@10", "NDCG@10")
	}
	if d0 := tr.History[0].Dev; d0 != nil {
		header("dev (" + j.Dev + ")")
		row("before", d0)
		row("after", tr.History[tr.BestEpoch].Dev)
	}
	if res.TestBefore != nil {
		header("test (" + j.Test + ")")
		row("before", res.TestBefore)
		row("after", res.TestAfter)
		for _, w := range res.TestWidths {
			row(fmt.Sprintf("width %d", w.Width), &w.Metrics)
		}
	}
	fmt.Fprintf(w, "wrote %s/{config.json,metrics.jsonl,head.onnx,merged.onnx", dir)
	if j.Tokenizer != "" {
		fmt.Fprint(w, ",tokenizer.json")
	}
	fmt.Fprintf(w, "} in %.1fs total\n", res.Durations["total"].Seconds())
}

// trainReporter shows training progress on w: on a terminal a bar per
// epoch whose description carries the running loss and the latest dev
// metric; otherwise a line at most every 5 seconds and one per epoch.
type trainReporter struct {
	w     io.Writer
	tty   bool
	bar   *progressbar.ProgressBar
	epoch int
	last  time.Time
	emb   *progress.Reporter
}

func newTrainReporter(w io.Writer) *trainReporter {
	return &trainReporter{w: w, tty: progress.IsTerminal(w)}
}

func (r *trainReporter) embed(_ string, done, total int) {
	if r.emb == nil || done == 0 {
		r.emb = progress.New(r.w, "embed", total, "texts", 5*time.Second)
	}
	r.emb.Set(done)
	if done == total {
		r.emb.Finish()
		r.emb = nil
	}
}

func (r *trainReporter) step(p train.Progress) {
	dev := ""
	if !math.IsNaN(p.Dev) {
		dev = fmt.Sprintf(" dev %.4f", p.Dev)
	}
	desc := fmt.Sprintf("epoch %d/%d loss %.4f%s", p.Epoch, p.Epochs, p.Loss, dev)
	if r.tty {
		if r.bar == nil || p.Epoch != r.epoch {
			r.done()
			r.epoch = p.Epoch
			r.bar = progressbar.NewOptions(p.Steps, progressbar.OptionSetWriter(r.w), progressbar.OptionShowCount(),
				progressbar.OptionSetItsString("steps"), progressbar.OptionShowIts(), progressbar.OptionThrottle(100*time.Millisecond))
		}
		r.bar.Describe(desc)
		r.bar.Set(p.Step)
		if p.EpochDone {
			r.done()
			fmt.Fprintf(r.w, "epoch: %s\n", desc)
		}
		return
	}
	if !p.EpochDone && time.Since(r.last) < 5*time.Second {
		return
	}
	r.last = time.Now()
	what := "train"
	if p.EpochDone {
		what = "epoch"
	}
	fmt.Fprintf(r.w, "%s: epoch %d/%d step %d/%d loss %.4f%s\n", what, p.Epoch, p.Epochs, p.Step, p.Steps, p.Loss, dev)
}

// done ends the current bar, if any.
func (r *trainReporter) done() {
	if r.bar != nil {
		r.bar.Finish()
		fmt.Fprintln(r.w)
		r.bar = nil
	}
}

// parseList parses a comma-separated list ("" gives nil).
func parseList[T any](s string, parse func(string) (T, error)) ([]T, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []T
	for _, f := range strings.Split(s, ",") {
		v, err := parse(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q is not a list of numbers", s)
		}
		out = append(out, v)
	}
	return out, nil
}
