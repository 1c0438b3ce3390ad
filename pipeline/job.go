package pipeline

import (
	"context"
	"encoding"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/atomicfile"
	"github.com/embfit/embfit/losses"
	"github.com/embfit/embfit/mining"
)

// DataFields names the JSONL fields of datasets. The zero value means
// anchor, positive, negative (also negative_1, negative_2, ...), text
// and label.
type DataFields struct {
	Anchor   string `json:"anchor"`
	Positive string `json:"positive"`
	Negative string `json:"negative"`
	Text     string `json:"text"`
	Label    string `json:"label"`
}

func (f DataFields) withDefaults() DataFields {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&f.Anchor, "anchor")
	def(&f.Positive, "positive")
	def(&f.Negative, "negative")
	def(&f.Text, "text")
	def(&f.Label, "label")
	return f
}

// PairText is one pair-data example: an anchor (query), its positive and
// optional negatives.
type PairText struct {
	Anchor, Positive string
	Negatives        []string
}

// LabelledText is one labelled item.
type LabelledText struct {
	Text, Label string
}

// Dataset is a JSONL dataset: pairs or labelled items, never both.
type Dataset struct {
	Path  string
	Pairs []PairText
	Items []LabelledText
}

// ReadDataset reads a pairs file (fields anchor, positive, optional
// negative / negative_1…) or a labelled file (fields text, label; labels
// may be strings or numbers). The first record decides which; a record
// of the other kind, a missing or non-string field or an empty text is an
// error naming the file and line.
func ReadDataset(path string, f DataFields) (*Dataset, error) {
	f = f.withDefaults()
	d := &Dataset{Path: path}
	pairs := -1 // unknown until the first record
	err := ReadJSONL(path, func(r Record) error {
		if pairs < 0 {
			switch {
			case r.Has(f.Anchor):
				pairs = 1
			case r.Has(f.Text):
				pairs = 0
			default:
				return r.Errorf("want fields %q and %q (pairs) or %q and %q (labelled)", f.Anchor, f.Positive, f.Text, f.Label)
			}
		}
		nonEmpty := func(field string) (string, error) {
			s, err := r.String(field)
			if err == nil && strings.TrimSpace(s) == "" {
				err = r.Errorf("field %q is empty", field)
			}
			return s, err
		}
		if pairs == 1 {
			a, err := nonEmpty(f.Anchor)
			if err != nil {
				return err
			}
			p, err := nonEmpty(f.Positive)
			if err != nil {
				return err
			}
			negs, err := r.Strings(f.Negative)
			if err != nil {
				return err
			}
			for k := 1; r.Has(f.Negative + "_" + strconv.Itoa(k)); k++ {
				n, err := nonEmpty(f.Negative + "_" + strconv.Itoa(k))
				if err != nil {
					return err
				}
				negs = append(negs, n)
			}
			d.Pairs = append(d.Pairs, PairText{Anchor: a, Positive: p, Negatives: negs})
			return nil
		}
		t, err := nonEmpty(f.Text)
		if err != nil {
			return err
		}
		l, ok, err := r.Scalar(f.Label)
		if err != nil {
			return err
		}
		if !ok {
			return r.Errorf("missing field %q", f.Label)
		}
		d.Items = append(d.Items, LabelledText{Text: t, Label: l})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

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
	Merge MergeSettings `json:"encoder"`
	// MaxLength is the encoder's token limit (part of the cache key).
	MaxLength int `json:"max_length"`
	// Train, Dev and Test are JSONL files (pairs or labelled); Dev drives
	// early stopping; Test is evaluated before and after training.
	Train  string     `json:"train"`
	Dev    string     `json:"dev,omitempty"`
	Test   string     `json:"test,omitempty"`
	Fields DataFields `json:"fields"`
	// MineNegatives mines this many hard negatives per training pair with
	// the frozen encoder (ranks [MineRangeMin, 50) of the training
	// positives, by embfit mine's rules) and adds them to any negatives
	// the training file has. 0: none.
	MineNegatives int `json:"mine_negatives"`
	MineRangeMin  int `json:"mine_range_min"`
	// CacheDir holds the embedding cache; "" means no cache.
	CacheDir string        `json:"cache_dir"`
	Settings TrainSettings `json:"train_settings"`
}

// JobResult is what Run reports.
type JobResult struct {
	Train *TrainResult
	// TestBefore/TestAfter are the test metrics of the frozen encoder and
	// of the best head (nil without a test file).
	TestBefore, TestAfter *RetrievalMetrics
	Cache                 CacheStats
	Mined                 int
	Durations             map[string]time.Duration
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
	Encoder TextEncoder
	// Log receives one line per phase; Progress receives training steps;
	// EmbedProgress receives encoding progress. All optional.
	Log           io.Writer
	Progress      func(TrainProgress)
	EmbedProgress func(done, total int)
}

func (r *JobRunner) logf(format string, args ...any) {
	if r.Log != nil {
		fmt.Fprintf(r.Log, format+"\n", args...)
	}
}

// Run embeds the data (through the cache), mines negatives, trains,
// evaluates and exports head.onnx, merged.onnx and tokenizer.json into
// Dir. A new run refuses an existing config.json in Dir.
func (r *JobRunner) Run(ctx context.Context) (*JobResult, error) {
	j := r.Job
	res := &JobResult{Durations: map[string]time.Duration{}}
	t0 := time.Now()
	sum, err := FileSHA256(j.Model)
	if err != nil {
		return nil, err
	}
	if r.Resume && j.ModelSHA256 != "" && j.ModelSHA256 != sum {
		return nil, fmt.Errorf("%s: model changed since the run started (sha256 %s, was %s)", j.Model, sum, j.ModelSHA256)
	}
	j.ModelSHA256 = sum
	j.Settings.Head.In = r.Encoder.Dim()
	if j.Settings, err = j.Settings.WithDefaults(); err != nil {
		return nil, err
	}
	if j.Merge.Pooling == "" {
		j.Merge.Pooling = PoolMean
	}
	if j.Merge.Mask == "" {
		j.Merge.Mask = "attention_mask"
	}
	j.Fields = j.Fields.withDefaults()
	weighted, err := parseLosses(j.Settings.Losses)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		return nil, err
	}
	if !r.Resume {
		if _, err := os.Stat(ConfigPath(r.Dir)); err == nil {
			return nil, fmt.Errorf("%s already holds a run (use --resume %s, or another --out)", r.Dir, r.Dir)
		}
	}
	cfg, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(ConfigPath(r.Dir), append(cfg, '\n')); err != nil {
		return nil, err
	}

	// Data.
	var tt textTable
	train, err := ReadDataset(j.Train, j.Fields)
	if err != nil {
		return nil, err
	}
	var dev, test *Dataset
	if j.Dev != "" {
		if dev, err = ReadDataset(j.Dev, j.Fields); err != nil {
			return nil, err
		}
	}
	if j.Test != "" {
		if test, err = ReadDataset(j.Test, j.Fields); err != nil {
			return nil, err
		}
	}
	labelIDs := map[string]int{}
	labelID := func(s string) int {
		if i, ok := labelIDs[s]; ok {
			return i
		}
		labelIDs[s] = len(labelIDs)
		return labelIDs[s]
	}
	var pairRows []PairRow
	var itemRows, itemLabels []int
	for _, p := range train.Pairs {
		row := PairRow{Anchor: tt.id(p.Anchor), Positive: tt.id(p.Positive)}
		for _, n := range p.Negatives {
			row.Negatives = append(row.Negatives, tt.id(n))
		}
		pairRows = append(pairRows, row)
	}
	for _, it := range train.Items {
		itemRows = append(itemRows, tt.id(it.Text))
		itemLabels = append(itemLabels, labelID(it.Label))
	}
	numClasses := len(labelIDs)
	type split struct {
		rows   []PairRow
		items  []int
		labels []int
	}
	prep := func(d *Dataset) *split {
		if d == nil {
			return nil
		}
		s := &split{}
		for _, p := range d.Pairs {
			s.rows = append(s.rows, PairRow{Anchor: tt.id(p.Anchor), Positive: tt.id(p.Positive)})
		}
		for _, it := range d.Items {
			s.items = append(s.items, tt.id(it.Text))
			s.labels = append(s.labels, labelID(it.Label))
		}
		return s
	}
	devS, testS := prep(dev), prep(test)
	r.logf("data: %d training %s, %d distinct texts", max(len(pairRows), len(itemRows)), map[bool]string{true: "pairs", false: "items"}[len(pairRows) > 0], len(tt.texts))

	// Embeddings.
	t1 := time.Now()
	cache := &EmbeddingCache{Dir: j.CacheDir, ModelSHA256: sum, Pooling: fmt.Sprintf("%s/%s/%d", j.Merge.Pooling, j.Merge.Output, j.MaxLength)}
	emb, cst, err := cache.Embed(ctx, r.Encoder, tt.texts, r.EmbedProgress)
	if err != nil {
		return nil, err
	}
	res.Cache = cst
	res.Durations["embed"] = time.Since(t1)
	r.logf("embed: %d texts, %d from cache, %d encoded in %.1fs", cst.Distinct, cst.Hits, cst.Encoded, res.Durations["embed"].Seconds())

	// Mined negatives (deterministic, so a resumed run mines the same).
	if j.MineNegatives > 0 && len(pairRows) > 0 {
		t2 := time.Now()
		last := time.Now()
		progress := func(done, total int64) {
			if time.Since(last) >= 5*time.Second {
				last = time.Now()
				r.logf("mine: %.0f%% of the search done", 100*float64(done)/float64(max(total, 1)))
			}
		}
		n, err := mineNegatives(ctx, emb, tt.texts, pairRows, j.MineNegatives, j.MineRangeMin, j.Settings.Seed, progress)
		if err != nil {
			return nil, fmt.Errorf("mining negatives: %w", err)
		}
		res.Mined = n
		res.Durations["mine"] = time.Since(t2)
		r.logf("mine: %d hard negatives for %d pairs in %.1fs", n, len(pairRows), res.Durations["mine"].Seconds())
	}

	// Losses with a training form of their own (it needs the class count)
	// are built now.
	for i, wl := range weighted {
		tl, ok := wl.Loss.(losses.TrainingLoss)
		if !ok {
			continue
		}
		if len(itemRows) == 0 {
			return nil, fmt.Errorf("loss %q needs labelled training data (text, label)", wl.Spec)
		}
		tr, err := tl.TrainingForm(losses.TrainingSetup{Classes: numClasses, Dim: j.Settings.Head.Out, Seed: j.Settings.Seed})
		if err != nil {
			return nil, err
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
	evalSet := func(s *split) *EvalSet {
		if s == nil {
			return nil
		}
		if s.rows != nil {
			return NewPairEvalSet(emb, s.rows)
		}
		return &EvalSet{Emb: gatherRows(emb, s.items), Labels: s.labels}
	}
	tr := &Trainer{Settings: j.Settings, Losses: weighted, Dev: evalSet(devS), Dir: r.Dir, Resume: r.Resume, Progress: r.Progress}
	if len(pairRows) > 0 {
		tr.Data = TrainData{Emb: emb, Pairs: pairRows}
	} else {
		tr.Data = TrainData{Emb: gatherRows(emb, itemRows), Labels: itemLabels}
	}
	testSet := evalSet(testS)
	if testSet != nil {
		m, err := testSet.Evaluate(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("test evaluation: %w", err)
		}
		res.TestBefore = &m
	}
	t3 := time.Now()
	res.Train, err = tr.Run(ctx)
	if err != nil {
		return nil, err
	}
	res.Durations["train"] = time.Since(t3)
	if testSet != nil {
		m, err := testSet.Evaluate(ctx, res.Train.Head)
		if err != nil {
			return nil, fmt.Errorf("test evaluation: %w", err)
		}
		res.TestAfter = &m
		out, _ := json.MarshalIndent(map[string]any{"before": res.TestBefore, "after": res.TestAfter, "best_epoch": res.Train.BestEpoch}, "", "  ")
		if err := atomicfile.WriteFile(filepath.Join(r.Dir, "test_metrics.json"), append(out, '\n')); err != nil {
			return nil, err
		}
	}
	t4 := time.Now()
	if err := ExportRun(r.Dir, j, res.Train.Head); err != nil {
		return nil, err
	}
	res.Durations["export"] = time.Since(t4)
	res.Durations["total"] = time.Since(t0)
	return res, nil
}

// parseLosses turns "W*spec" strings into weighted losses.
func parseLosses(specs []string) ([]WeightedLoss, error) {
	var out []WeightedLoss
	for _, s := range specs {
		w, l, err := losses.ParseWeighted(s)
		if err != nil {
			return nil, err
		}
		out = append(out, WeightedLoss{Spec: s, Weight: w, Loss: l})
	}
	return out, nil
}

// mineNegatives adds up to k hard negatives to each pair row: for each
// distinct anchor, the corpus of distinct positives is ranked by cosine
// similarity (exact), excluding the anchor's own positives and equal
// texts; the top k from rank rangeMin on are appended. It returns the
// number of negatives added.
func mineNegatives(ctx context.Context, emb blas32.General, texts []string, rows []PairRow, k, rangeMin int, seed uint64, progress func(done, total int64)) (int, error) {
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
	q, c := gatherRows(emb, qIDs), gatherRows(emb, cIDs)
	mining.NormalizeRows(q)
	mining.NormalizeRows(c)
	p := mining.Problem{Queries: q, Corpus: c, Positives: positives}
	for _, i := range qIDs {
		p.QueryText = append(p.QueryText, texts[i])
	}
	for _, i := range cIDs {
		p.CorpusText = append(p.CorpusText, texts[i])
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
// job has one) into dir for head h.
func ExportRun(dir string, j *TrainJob, h *Head) error {
	if err := HeadModel(h).Save(filepath.Join(dir, "head.onnx")); err != nil {
		return err
	}
	m, err := MergedModel(j.Model, h, j.Merge)
	if err != nil {
		return err
	}
	if err := m.Save(filepath.Join(dir, "merged.onnx")); err != nil {
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

// LoadRunHead rebuilds the best head of the run in dir from its
// config.json and last checkpoint.
func LoadRunHead(dir string) (*TrainJob, *Head, error) {
	j, err := LoadJob(dir)
	if err != nil {
		return nil, nil, err
	}
	st, err := readCheckpoint(CheckpointPath(dir))
	if err != nil {
		return nil, nil, err
	}
	h, err := NewHead(j.Settings.Head, j.Settings.Seed)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", ConfigPath(dir), err)
	}
	if err := setParams(h.Params(), st.BestParams); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", CheckpointPath(dir), err)
	}
	return j, h, nil
}

// HeadWeights returns copies of h's parameter values, for comparisons.
func HeadWeights(h *Head) [][]float32 { return copyParams(h.Params()) }
