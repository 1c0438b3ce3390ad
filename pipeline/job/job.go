package job

import (
	"context"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/atomicfile"
	"github.com/embfit/embfit/internal/digest"
	"github.com/embfit/embfit/internal/inputerr"
	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/internal/progress"
	"github.com/embfit/embfit/losses"
	"github.com/embfit/embfit/mining"
	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/graph"
	"github.com/embfit/embfit/pipeline/dataio"
	"github.com/embfit/embfit/pipeline/embed"
	"github.com/embfit/embfit/pipeline/head"
	"github.com/embfit/embfit/pipeline/retrieval"
	"github.com/embfit/embfit/pipeline/train"
)

// textTable assigns an index to every distinct text.
type textTable struct {
	texts []string
	index map[string]int
}

func (t *textTable) id(s string) int {
	if t.index == nil {
		t.index = map[string]int{}
	}
	i, ok := t.index[s]
	if !ok {
		i = len(t.texts)
		t.index[s] = i
		t.texts = append(t.texts, s)
	}
	return i
}

// TrainJob is everything `embfit train` does, as written to
// RUN/config.json: where the data and the encoder are, how to embed, and
// the training settings. The zero value of each field means its default.
type TrainJob struct {
	// Model is the encoder's ONNX file and ModelSHA256 its sha256 (filled
	// in by Run; a resumed run refuses a changed model).
	Model       string `json:"model"`
	ModelSHA256 string `json:"model_sha256"`
	// Tokenizer is the encoder's tokenizer.json, copied into the run
	// directory next to merged.onnx ("" when the encoder has none).
	Tokenizer string `json:"tokenizer"`
	// Merge says which encoder output and pooling feed the head (as used
	// for embedding, and appended in merged.onnx).
	Merge head.MergeSettings `json:"encoder"`
	// Embeddings and EmbeddingsSidecar, when set, are embeddings the user
	// already has (.npy and its JSONL sidecar naming each row's text;
	// embed.ReadTable) instead of an encoder: every text of the data must
	// have a row. Model may then be empty, and the run writes head.onnx
	// but no merged.onnx.
	Embeddings        string `json:"embeddings,omitempty"`
	EmbeddingsSidecar string `json:"embeddings_sidecar,omitempty"`
	// MaxLength is the encoder's token limit (part of the cache key).
	MaxLength int `json:"max_length"`
	// Pipeline is the encoder's resolved configuration, each setting with
	// where it came from (a flag, the model folder's files, a default);
	// its CacheKey is part of the cache key.
	Pipeline *onnx.Pipeline `json:"encoder_pipeline,omitempty"`
	// QueryPrompt / QueryPromptName and CorpusPrompt / CorpusPromptName
	// give anchors and the other texts (positives, negatives) their own
	// prompts, as sentence-transformers' query and document prompts; when
	// any is set the Encoder must be an embed.Roles (texts are tagged by
	// role), Pipeline describes the query side and CorpusPipeline the
	// corpus side. Labelled items count as queries.
	QueryPrompt      string         `json:"query_prompt,omitempty"`
	QueryPromptName  string         `json:"query_prompt_name,omitempty"`
	CorpusPrompt     string         `json:"corpus_prompt,omitempty"`
	CorpusPromptName string         `json:"corpus_prompt_name,omitempty"`
	CorpusPipeline   *onnx.Pipeline `json:"corpus_pipeline,omitempty"`
	// Train, Dev and Test are JSONL files (pairs or labelled); Dev drives
	// early stopping; Test is evaluated before and after training.
	Train  string            `json:"train"`
	Dev    string            `json:"dev,omitempty"`
	Test   string            `json:"test,omitempty"`
	Fields dataio.DataFields `json:"fields"`
	// MineNegatives mines this many hard negatives per training pair with
	// the frozen encoder (ranks [MineRangeMin, 50) of the training
	// positives, by embfit mine's rules) and adds them to any negatives
	// the training file has. 0: none.
	MineNegatives int `json:"mine_negatives"`
	MineRangeMin  int `json:"mine_range_min"`
	// CacheDir holds the embedding cache; "" means no cache.
	CacheDir string         `json:"cache_dir"`
	Settings train.Settings `json:"train_settings"`
	// DataSHA256 holds the sha256 of the train, dev and test files (keys
	// "train", "dev", "test") when the run started; a resumed run refuses
	// changed data.
	DataSHA256 map[string]string `json:"data_sha256,omitempty"`
	// Typed holds the paths as the user typed them (by setting name) when
	// Run made them absolute, for display; the job's paths are absolute so
	// that a run resumes and exports from any folder.
	Typed map[string]string `json:"typed_paths,omitempty"`
}

// JobResult is what Run reports.
type JobResult struct {
	Train *train.Result
	// TestBefore/TestAfter are the test metrics of the frozen encoder and
	// of the best head (nil without a test file).
	TestBefore, TestAfter *retrieval.Metrics
	// TestWidths are the best head's test metrics at each Matryoshka
	// width (nil without widths or a test file).
	TestWidths []train.WidthMetrics
	Cache      embed.CacheStats
	Mined      int
	Durations  map[string]time.Duration
}

// ConfigPath is where a run directory keeps its TrainJob.
func ConfigPath(dir string) string { return filepath.Join(dir, "config.json") }

// LoadJob reads RUN/config.json.
func LoadJob(dir string) (*TrainJob, error) {
	b, err := os.ReadFile(ConfigPath(dir))
	if err != nil {
		return nil, err
	}
	var j TrainJob
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("%s: %w", ConfigPath(dir), err)
	}
	return &j, nil
}

// JobRunner runs a TrainJob into a run directory.
type JobRunner struct {
	Job *TrainJob
	Dir string
	// Resume continues the run in Dir (its config.json is the job).
	Resume bool
	// Encoder is the frozen encoder (its Dim is the head's input width).
	Encoder embed.Encoder
	// Log receives one line per phase; Progress receives training steps;
	// EmbedProgress receives encoding progress. All optional.
	Log           io.Writer
	Progress      func(train.Progress)
	EmbedProgress progress.Func
	// StepDelay pauses this long after every training step (0: none), so
	// that a run can be watched or interrupted at a chosen moment, e.g. by
	// a test of resuming.
	StepDelay time.Duration
	// Dump, when set, is a directory that receives the training job as
	// WriteDump writes it, before training (a developer tool for
	// reference implementations).
	Dump string
}

func (r *JobRunner) logf(format string, args ...any) {
	if r.Log != nil {
		fmt.Fprintf(r.Log, format+"\n", args...)
	}
}

// Stages of a train job, in the order Run performs them. JobResult's
// Durations are keyed by these names (plus "total").
const (
	StagePrepare = "prepare" // resolve settings, create the run directory, write config.json
	StageData    = "data"    // read the train, dev and test files
	StageEmbed   = "embed"   // embed every distinct text through the cache
	StageMine    = "mine"    // mine hard negatives for pair data
	StageTrain   = "train"   // build the losses, evaluate test before, train, evaluate test after
	StageExport  = "export"  // write head.onnx, merged.onnx and tokenizer.json
)

// ErrRunExists is wrapped by the error of a new run whose directory
// already holds one.
var ErrRunExists = errors.New("already holds a run")

// trainRun is the state a train job passes from stage to stage.
type trainRun struct {
	r        *JobRunner
	j        *TrainJob
	res      *JobResult
	weighted []train.WeightedLoss

	tt          textTable
	labelIDs    map[string]int
	pairRows    []train.PairRow
	itemRows    []int
	itemLabels  []int
	dev, test   *split
	emb         blas32.General
	modelSHA256 string
	lock        *RunLock
}

// split is an evaluation split as indices into the table of texts.
type split struct {
	rows   []train.PairRow
	items  []int
	labels []int
}

// Run performs the job's stages (StagePrepare … StageExport): it embeds
// the data (through the cache), mines negatives, trains, evaluates and
// exports head.onnx, merged.onnx and tokenizer.json into Dir. A new run
// refuses an existing config.json in Dir.
func (r *JobRunner) Run(ctx context.Context) (res *JobResult, err error) {
	t0 := time.Now()
	run := &trainRun{r: r, j: r.Job, res: &JobResult{Durations: map[string]time.Duration{}}, labelIDs: map[string]int{}}
	defer func() {
		switch {
		case run.lock == nil:
		case err != nil && !r.Resume && !HasCheckpoint(r.Dir):
			// Training never started: leave no half-made run behind.
			run.lock.abandon()
		default:
			run.lock.Unlock()
		}
	}()
	for _, st := range []struct {
		name string
		f    func(context.Context) error
	}{
		{StagePrepare, run.prepare},
		{StageData, run.readData},
		{StageEmbed, run.embed},
		{StageMine, run.mine},
		{StageTrain, run.train},
		{StageExport, run.export},
	} {
		t := time.Now()
		if err := st.f(ctx); err != nil {
			return nil, err
		}
		run.res.Durations[st.name] = time.Since(t)
	}
	run.res.Durations["total"] = time.Since(t0)
	return run.res, nil
}

// prepare resolves the settings, checks a resumed run's model, parses the
// losses and writes config.json.
func (run *trainRun) prepare(context.Context) error {
	r, j := run.r, run.j
	source := j.Model
	if source == "" {
		source = j.Embeddings // no encoder: the embeddings identify the run
	}
	sum, err := digest.File(source)
	if err != nil {
		return err
	}
	if r.Resume && j.ModelSHA256 != "" && j.ModelSHA256 != sum {
		return fmt.Errorf("%s: changed since the run started (sha256 %s, was %s)", source, sum, j.ModelSHA256)
	}
	j.ModelSHA256, run.modelSHA256 = sum, sum
	j.Settings.Head.In = r.Encoder.Dim()
	if j.Settings, err = j.Settings.WithDefaults(); err != nil {
		return err
	}
	if j.Merge.Pooling == "" {
		j.Merge.Pooling = graph.PoolMean
	}
	if j.Merge.Mask == "" {
		j.Merge.Mask = "attention_mask"
	}
	j.Fields = j.Fields.WithDefaults()
	if run.weighted, err = parseLosses(j.Settings.Losses); err != nil {
		return err
	}
	if r.Resume {
		if run.lock, err = LockRunDir(r.Dir, false); err != nil {
			return err
		}
		return j.verifyInputs()
	}
	if err := j.hashInputs(); err != nil {
		return err
	}
	// Refuse a folder of other files before touching it (and again under
	// the lock, against a concurrent start).
	if _, err := os.Stat(r.Dir); err == nil {
		if err := checkNewRunDir(r.Dir); err != nil {
			return err
		}
	}
	lock, err := LockRunDir(r.Dir, true)
	if err != nil {
		return err
	}
	if err := checkNewRunDir(r.Dir); err != nil {
		lock.release()
		return err
	}
	run.lock = lock
	return nil
}

// writeConfig makes the directory a run: config.json, written just
// before training starts.
func (run *trainRun) writeConfig() error {
	if run.r.Resume {
		return nil
	}
	cfg, err := json.MarshalIndent(run.j.absolutize(), "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(ConfigPath(run.r.Dir), append(cfg, '\n'))
}

func (run *trainRun) labelID(s string) int {
	if i, ok := run.labelIDs[s]; ok {
		return i
	}
	run.labelIDs[s] = len(run.labelIDs)
	return run.labelIDs[s]
}

// readData reads the train, dev and test files into the table of texts.
func (run *trainRun) readData(context.Context) error {
	j := run.j
	trainSet, err := dataio.ReadDataset(j.Train, j.Fields)
	if err != nil {
		return err
	}
	var dev, test *dataio.Dataset
	if j.Dev != "" {
		if dev, err = dataio.ReadDataset(j.Dev, j.Fields); err != nil {
			return err
		}
	}
	if j.Test != "" {
		if test, err = dataio.ReadDataset(j.Test, j.Fields); err != nil {
			return err
		}
	}
	tt := &run.tt
	query, corpus := func(s string) int { return tt.id(s) }, func(s string) int { return tt.id(s) }
	if j.Roles() {
		query = func(s string) int { return tt.id(embed.QueryTag + s) }
		corpus = func(s string) int { return tt.id(embed.CorpusTag + s) }
	}
	for _, p := range trainSet.Pairs {
		row := train.PairRow{Anchor: query(p.Anchor), Positive: corpus(p.Positive)}
		for _, n := range p.Negatives {
			row.Negatives = append(row.Negatives, corpus(n))
		}
		run.pairRows = append(run.pairRows, row)
	}
	for _, it := range trainSet.Items {
		run.itemRows = append(run.itemRows, query(it.Text))
		run.itemLabels = append(run.itemLabels, run.labelID(it.Label))
	}
	prep := func(d *dataio.Dataset) *split {
		if d == nil {
			return nil
		}
		s := &split{}
		for _, p := range d.Pairs {
			s.rows = append(s.rows, train.PairRow{Anchor: query(p.Anchor), Positive: corpus(p.Positive)})
		}
		for _, it := range d.Items {
			s.items = append(s.items, query(it.Text))
			s.labels = append(s.labels, run.labelID(it.Label))
		}
		return s
	}
	run.dev, run.test = prep(dev), prep(test)
	run.r.logf("data: %d training %s, %d distinct texts", max(len(run.pairRows), len(run.itemRows)), map[bool]string{true: "pairs", false: "items"}[len(run.pairRows) > 0], len(tt.texts))
	return nil
}

// embed embeds every distinct text through the cache.
func (run *trainRun) embed(ctx context.Context) error {
	j, t1 := run.j, time.Now()
	key := fmt.Sprintf("%s/%s/%d", j.Merge.Pooling, j.Merge.Output, j.MaxLength)
	if j.Pipeline != nil {
		key += "/" + j.Pipeline.CacheKey()
	}
	if j.CorpusPipeline != nil {
		key += "/corpus" + j.CorpusPipeline.CacheKey()
	}
	cache := &embed.Cache{Dir: j.CacheDir, ModelSHA256: run.modelSHA256, Pooling: key,
		Warn: func(msg string) { run.r.logf("warning: %s", msg) }}
	emb, cst, err := cache.Embed(ctx, run.r.Encoder, run.tt.texts, run.r.EmbedProgress)
	if err != nil {
		return err
	}
	run.emb, run.res.Cache = emb, cst
	run.r.logf("embed: %d texts, %d from cache, %d encoded in %.1fs", cst.Distinct, cst.Hits, cst.Encoded, time.Since(t1).Seconds())
	return nil
}

// mine adds mined hard negatives to pair rows (deterministic, so a resumed
// run mines the same).
func (run *trainRun) mine(ctx context.Context) error {
	j := run.j
	if j.MineNegatives <= 0 || len(run.pairRows) == 0 {
		return nil
	}
	t2, last := time.Now(), time.Now()
	progress := func(done, total int64) {
		if time.Since(last) >= 5*time.Second {
			last = time.Now()
			run.r.logf("mine: %.0f%% of the search done", 100*float64(done)/float64(max(total, 1)))
		}
	}
	n, err := mineNegatives(ctx, run.emb, run.tt.texts, run.pairRows, j.MineNegatives, j.MineRangeMin, j.Settings.Seed, progress)
	if err != nil {
		return fmt.Errorf("mining negatives: %w", err)
	}
	run.res.Mined = n
	run.r.logf("mine: %d hard negatives for %d pairs in %.1fs", n, len(run.pairRows), time.Since(t2).Seconds())
	return nil
}

// evalSet returns the evaluation set of s over the embeddings (nil for a
// missing split).
func (run *trainRun) evalSet(s *split) *train.EvalSet {
	if s == nil {
		return nil
	}
	if s.rows != nil {
		return train.NewPairEvalSet(run.emb, s.rows)
	}
	return &train.EvalSet{Emb: linalg.GatherRows(run.emb, s.items), Labels: s.labels}
}

// train builds the losses that need the data, evaluates the test split
// with the frozen encoder, trains, and evaluates the best head on it.
func (run *trainRun) train(ctx context.Context) error {
	r, j, res := run.r, run.j, run.res
	weighted := run.weighted
	// Losses with a training form of their own (it needs the class
	// count) are built now.
	for i, wl := range weighted {
		tl, ok := wl.Loss.(losses.TrainingLoss)
		if !ok {
			continue
		}
		if len(run.itemRows) == 0 {
			return fmt.Errorf("loss %q needs labelled training data (text, label)", wl.Spec)
		}
		tr, err := tl.TrainingForm(losses.TrainingSetup{Classes: len(run.labelIDs), Dim: j.Settings.Head.Out, Seed: j.Settings.Seed})
		if err != nil {
			return err
		}
		weighted[i].Loss = tr
	}
	for _, wl := range weighted {
		if tr, ok := wl.Loss.(losses.Trainable); ok {
			if _, ok := tr.(encoding.BinaryUnmarshaler); !ok {
				r.logf("warning: loss %q keeps state the checkpoints do not hold; a resumed run may differ from an uninterrupted one", wl.Spec)
			}
		}
	}
	tr := &train.Trainer{Settings: j.Settings, Losses: weighted, Dev: run.evalSet(run.dev), Dir: r.Dir, Resume: r.Resume, Progress: r.stepProgress()}
	if len(run.pairRows) > 0 {
		tr.Data = train.Data{Emb: run.emb, Pairs: run.pairRows}
	} else {
		tr.Data = train.Data{Emb: linalg.GatherRows(run.emb, run.itemRows), Labels: run.itemLabels}
	}
	if r.Dump != "" {
		if err := WriteDump(r.Dump, tr); err != nil {
			return fmt.Errorf("train dump: %w", err)
		}
	}
	testSet := run.evalSet(run.test)
	if testSet != nil {
		m, err := testSet.Evaluate(ctx, nil)
		if err != nil {
			return fmt.Errorf("test evaluation: %w", err)
		}
		res.TestBefore = &m
	}
	if err := run.writeConfig(); err != nil {
		return err
	}
	var err error
	if res.Train, err = tr.Run(ctx); err != nil {
		return err
	}
	if testSet == nil {
		return nil
	}
	m, err := testSet.Evaluate(ctx, res.Train.Head)
	if err != nil {
		return fmt.Errorf("test evaluation: %w", err)
	}
	res.TestAfter = &m
	tm := map[string]any{"before": res.TestBefore, "after": res.TestAfter, "best_epoch": res.Train.BestEpoch}
	if ws := j.Settings.Matryoshka; len(ws) > 0 {
		all, err := testSet.EvaluateWidths(ctx, res.Train.Head, ws)
		if err != nil {
			return fmt.Errorf("test evaluation: %w", err)
		}
		for k, d := range ws {
			res.TestWidths = append(res.TestWidths, train.WidthMetrics{Width: d, Metrics: all[k]})
		}
		tm["after_widths"] = res.TestWidths
	}
	out, _ := json.MarshalIndent(tm, "", "  ")
	return atomicfile.WriteFile(filepath.Join(r.Dir, "test_metrics.json"), append(out, '\n'))
}

// export writes the best head's files into the run directory.
func (run *trainRun) export(context.Context) error {
	return ExportRun(run.r.Dir, run.j, run.res.Train.Head)
}

// stepProgress is the Trainer's progress callback: r.Progress, then the
// step delay.
func (r *JobRunner) stepProgress() func(train.Progress) {
	if r.StepDelay <= 0 {
		return r.Progress
	}
	return func(p train.Progress) {
		if r.Progress != nil {
			r.Progress(p)
		}
		if !p.EpochDone {
			time.Sleep(r.StepDelay)
		}
	}
}

// parseLosses turns "W*spec" strings into weighted losses.
func parseLosses(specs []string) ([]train.WeightedLoss, error) {
	var out []train.WeightedLoss
	for _, s := range specs {
		w, l, err := losses.ParseWeighted(s)
		if err != nil {
			return nil, err
		}
		out = append(out, train.WeightedLoss{Spec: s, Weight: w, Loss: l})
	}
	return out, nil
}

// mineNegatives adds up to k hard negatives to each pair row: for each
// distinct anchor, the corpus of distinct positives is ranked by cosine
// similarity (exact), excluding the anchor's own positives and equal
// texts; the top k from rank rangeMin on are appended. It returns the
// number of negatives added.
func mineNegatives(ctx context.Context, emb blas32.General, texts []string, rows []train.PairRow, k, rangeMin int, seed uint64, progress func(done, total int64)) (int, error) {
	qIndex, cIndex := map[int]int{}, map[int]int{}
	var qIDs, cIDs []int
	var positives [][]int
	for _, r := range rows {
		qi, ok := qIndex[r.Anchor]
		if !ok {
			qi = len(qIDs)
			qIndex[r.Anchor] = qi
			qIDs = append(qIDs, r.Anchor)
			positives = append(positives, nil)
		}
		ci, ok := cIndex[r.Positive]
		if !ok {
			ci = len(cIDs)
			cIndex[r.Positive] = ci
			cIDs = append(cIDs, r.Positive)
		}
		if !slices.Contains(positives[qi], ci) {
			positives[qi] = append(positives[qi], ci)
		}
	}
	// Copies: the rows are normalized in place below.
	q, c := linalg.NewMatrix(len(qIDs), emb.Cols), linalg.NewMatrix(len(cIDs), emb.Cols)
	linalg.Gather(q, emb, qIDs)
	linalg.Gather(c, emb, cIDs)
	mining.NormalizeRows(q)
	mining.NormalizeRows(c)
	p := mining.Problem{Queries: q, Corpus: c, Positives: positives}
	// Texts without their role tags: a candidate equal to the query's own
	// text or to a positive is excluded whatever the side.
	for _, i := range qIDs {
		p.QueryText = append(p.QueryText, embed.Untag(texts[i]))
	}
	for _, i := range cIDs {
		p.CorpusText = append(p.CorpusText, embed.Untag(texts[i]))
	}
	mined, err := mining.Mine(ctx, p, mining.Settings{NumNegatives: k, RangeMin: rangeMin, RangeMax: rangeMin + max(50, 2*k), Seed: seed}, progress)
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range rows {
		for _, h := range mined.Results[qIndex[rows[i].Anchor]].Negatives {
			rows[i].Negatives = append(rows[i].Negatives, cIDs[h.Index])
			n++
		}
	}
	return n, nil
}

// ExportRun writes head.onnx, merged.onnx and tokenizer.json (when the
// job has one) into dir for head h, and makes dir a model folder that
// embeds as the trained model: model.onnx (the merged model) and the
// configuration files of onnx.WriteFolderConfig saying no pooling (the
// merged model pools and normalizes) and carrying the encoder's max
// length, prompts, lower-casing, padding side and similarity. Without an
// encoder (a job on embeddings the user already has) it writes only
// head.onnx. A Matryoshka job also gets head-D.onnx (and merged-D.onnx)
// for each width D below the full one.
func ExportRun(dir string, j *TrainJob, h head.Head) error {
	if err := head.Model(h).Save(filepath.Join(dir, "head.onnx")); err != nil {
		return err
	}
	for _, d := range j.Settings.Matryoshka {
		if d < h.Settings().Out {
			if err := ExportWidth(dir, j, h, d); err != nil {
				return err
			}
		}
	}
	if j.Model == "" {
		return nil
	}
	m, err := head.Merged(j.Model, h, j.Merge)
	if err != nil {
		return err
	}
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	for _, name := range []string{"merged.onnx", "model.onnx"} {
		if err := atomicfile.WriteFile(filepath.Join(dir, name), b); err != nil {
			return err
		}
	}
	var p onnx.Pipeline
	if j.Pipeline != nil {
		p = *j.Pipeline
	} else {
		p.IncludePrompt.Value, p.Similarity.Value, p.PaddingSide.Value = true, "cosine", "right"
	}
	p.MaxLength.Value = j.MaxLength
	c := onnx.FolderConfigOf(p, onnx.PoolingNone)
	if j.Roles() {
		// The sides' prompts as trained, under sentence-transformers' usual
		// names; the query's is the default.
		c.Prompts = maps.Clone(c.Prompts)
		if c.Prompts == nil {
			c.Prompts = map[string]string{}
		}
		delete(c.Prompts, "default")
		c.Prompts["query"] = p.Prompt.Value
		if j.CorpusPipeline != nil {
			c.Prompts["document"] = j.CorpusPipeline.Prompt.Value
		}
		c.DefaultPromptName = "query"
	}
	c.Dim, c.Normalize = h.Settings().Out, true // the merged model's output is unit-norm already
	if err := onnx.WriteFolderConfig(dir, c); err != nil {
		return err
	}
	if j.Tokenizer != "" {
		b, err := os.ReadFile(j.Tokenizer)
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(filepath.Join(dir, "tokenizer.json"), b); err != nil {
			return err
		}
	}
	return nil
}

// ExportWidth writes head-D.onnx (and merged-D.onnx with an encoder) into
// dir: h's output cut to its first d columns (head.Prefix), the way a
// Matryoshka head is used at a smaller width.
func ExportWidth(dir string, j *TrainJob, h head.Head, d int) error {
	if d <= 0 || d > h.Settings().Out {
		return inputerr.Settingf("dim", "width %d outside 1…%d (the head's output width)", d, h.Settings().Out)
	}
	return exportWidth(dir, j, head.Prefix(h, d), fmt.Sprintf("-%d", d))
}

func exportWidth(dir string, j *TrainJob, h head.Head, suffix string) error {
	if err := head.Model(h).Save(filepath.Join(dir, "head"+suffix+".onnx")); err != nil {
		return err
	}
	if j.Model == "" {
		return nil
	}
	m, err := head.Merged(j.Model, h, j.Merge)
	if err != nil {
		return err
	}
	return m.Save(filepath.Join(dir, "merged"+suffix+".onnx"))
}

// LoadRunHead rebuilds the best head of the run in dir from its
// config.json and last checkpoint.
func LoadRunHead(dir string) (*TrainJob, head.Head, error) {
	j, err := LoadJob(dir)
	if err != nil {
		return nil, nil, err
	}
	h, err := train.BestHead(dir, j.Settings)
	if err != nil {
		return nil, nil, err
	}
	return j, h, nil
}

// Roles reports whether the job embeds queries and corpus texts with
// their own prompts.
func (j *TrainJob) Roles() bool {
	return j.QueryPrompt != "" || j.QueryPromptName != "" || j.CorpusPrompt != "" || j.CorpusPromptName != ""
}
