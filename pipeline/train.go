package pipeline

import (
	"bytes"
	"context"
	"encoding"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/atomicfile"
	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/losses"
)

// TrainSettings configures a training run. The zero value means the
// defaults documented on each field; WithDefaults fills them in and is
// idempotent, so the resolved settings written to config.json read back
// unchanged (that is how --resume restores a run).
type TrainSettings struct {
	Head  HeadSettings  `json:"head"`
	Optim OptimSettings `json:"optimizer"`
	// Losses are the loss specs, each optionally prefixed by a weight
	// "W*" (e.g. "0.5*triplet:mining=semihard"). Default ["infonce"].
	Losses []string `json:"losses"`
	// Epochs is the maximum number of passes over the training data;
	// default 10.
	Epochs int `json:"epochs"`
	// BatchSize is the number of pairs per batch (pair data) or P·K rows
	// (labelled data, rounded down to a multiple of K); default 256.
	BatchSize int `json:"batch_size"`
	// PerClass is K of the m-per-class sampler (labelled data); default 4.
	PerClass int `json:"per_class"`
	// Negatives is how many mined negatives per pair join a batch as extra
	// candidates (pair data); default 3, negative means none.
	Negatives int `json:"negatives"`
	// Seed drives the head's initialization and the batch order.
	Seed uint64 `json:"seed"`
	// Metric is the dev metric for early stopping and the best epoch:
	// map@r (default), precision@1, r-precision, mrr@10, ndcg@10 or
	// recall@K.
	Metric string `json:"metric"`
	// Patience stops training after this many epochs without a better
	// dev metric; default 3, negative means never stop early.
	Patience int `json:"patience"`
	// CheckpointEvery writes a checkpoint every this many steps (and
	// always at the end of an epoch); default 50.
	CheckpointEvery int `json:"checkpoint_every"`
}

// WithDefaults returns s with defaults filled in (head and optimizer
// included), or an error naming the bad setting.
func (s TrainSettings) WithDefaults() (TrainSettings, error) {
	var err error
	if s.Head, err = s.Head.WithDefaults(); err != nil {
		return s, err
	}
	if s.Optim, err = s.Optim.WithDefaults(); err != nil {
		return s, err
	}
	if len(s.Losses) == 0 {
		s.Losses = []string{"infonce"}
	}
	for _, spec := range s.Losses {
		if _, _, err := SplitLossWeight(spec); err != nil {
			return s, err
		}
	}
	if s.Epochs == 0 {
		s.Epochs = 10
	}
	if s.BatchSize == 0 {
		s.BatchSize = 256
	}
	if s.PerClass == 0 {
		s.PerClass = 4
	}
	if s.Negatives == 0 {
		s.Negatives = 3
	}
	if s.Metric == "" {
		s.Metric = "map@r"
	}
	if _, err := metricValue(RetrievalMetrics{Recall: []RecallAt{{1, 0}, {5, 0}, {10, 0}}}, s.Metric); err != nil {
		return s, err
	}
	if s.Patience == 0 {
		s.Patience = 3
	}
	if s.CheckpointEvery == 0 {
		s.CheckpointEvery = 50
	}
	if s.Epochs < 0 || s.BatchSize < 2 || s.PerClass < 2 || s.CheckpointEvery < 0 {
		return s, fmt.Errorf("train: epochs, batch size (≥2), per-class (≥2) and checkpoint interval must be positive")
	}
	return s, nil
}

// SplitLossWeight splits a loss spec "W*spec" into its weight and spec;
// without a prefix the weight is 1.
func SplitLossWeight(spec string) (float64, string, error) { return losses.SplitWeight(spec) }

// metricValue picks a metric by name from m.
func metricValue(m RetrievalMetrics, name string) (float64, error) {
	switch name {
	case "map@r":
		return m.MAPAtR, nil
	case "precision@1":
		return m.PrecisionAt1, nil
	case "r-precision":
		return m.RPrecision, nil
	case "mrr@10":
		return m.MRRAt10, nil
	case "ndcg@10":
		return m.NDCGAt10, nil
	}
	if k, ok := strings.CutPrefix(name, "recall@"); ok {
		if n, err := strconv.Atoi(k); err == nil {
			if v := m.RecallAtK(n); !math.IsNaN(v) {
				return v, nil
			}
		}
	}
	return 0, fmt.Errorf("unknown metric %q (want map@r, precision@1, r-precision, mrr@10, ndcg@10 or recall@1/5/10)", name)
}

// WeightedLoss is one term of the training objective: Weight·Loss.
type WeightedLoss struct {
	Spec   string
	Weight float64
	Loss   losses.Loss
}

// TrainData is the training set as frozen-encoder embeddings: Emb has one
// row per distinct text. Exactly one of Labels (labelled data: the class
// of each row of Emb) and Pairs (pair data: indices into Emb) is set.
type TrainData struct {
	Emb    blas32.General
	Labels []int
	Pairs  []PairRow
}

// EvalSet is an evaluation split as frozen-encoder embeddings (one row per
// distinct text). Labelled: every row with a label queries all others.
// Pairs: Queries (rows of Emb) search Corpus (rows of Emb); Positives[i]
// are the indices into Corpus relevant to query i.
type EvalSet struct {
	Emb       blas32.General
	Labels    []int
	Queries   []int
	Corpus    []int
	Positives [][]int
	// Self gives for each query the corpus index holding the query's own
	// text (−1: none); that row is never ranked for it.
	Self []int
}

// NewPairEvalSet builds a pairs EvalSet from pair rows over emb: each
// distinct anchor is one query; the corpus is every distinct positive.
func NewPairEvalSet(emb blas32.General, rows []PairRow) *EvalSet {
	e := &EvalSet{Emb: emb}
	qIndex, cIndex := map[int]int{}, map[int]int{}
	for _, r := range rows {
		qi, ok := qIndex[r.Anchor]
		if !ok {
			qi = len(e.Queries)
			qIndex[r.Anchor] = qi
			e.Queries = append(e.Queries, r.Anchor)
			e.Positives = append(e.Positives, nil)
		}
		ci, ok := cIndex[r.Positive]
		if !ok {
			ci = len(e.Corpus)
			cIndex[r.Positive] = ci
			e.Corpus = append(e.Corpus, r.Positive)
		}
		e.Positives[qi] = append(e.Positives[qi], ci)
	}
	for _, q := range e.Queries {
		ci, ok := cIndex[q]
		if !ok {
			ci = -1
		}
		e.Self = append(e.Self, ci)
	}
	return e
}

// Evaluate computes retrieval metrics of head(Emb) (head nil: the frozen
// encoder itself).
func (e *EvalSet) Evaluate(ctx context.Context, head *Head) (RetrievalMetrics, error) {
	apply := func(x blas32.General) blas32.General {
		if head == nil {
			return x
		}
		y := linalg.NewMatrix(x.Rows, head.Settings.Out)
		head.Apply(y, x)
		return y
	}
	s := RetrievalSettings{Negatives: -1}
	var res *RetrievalResult
	var err error
	if e.Labels != nil {
		res, err = EvaluateLabelled(ctx, apply(e.Emb), e.Labels, s)
	} else {
		res, err = EvaluatePairs(ctx, apply(gatherRows(e.Emb, e.Queries)), apply(gatherRows(e.Emb, e.Corpus)), e.Positives, e.Self, s)
	}
	if err != nil {
		return RetrievalMetrics{}, err
	}
	return res.Metrics, nil
}

// gatherRows returns a new matrix holding rows idx of m.
func gatherRows(m blas32.General, idx []int) blas32.General {
	dst := linalg.NewMatrix(len(idx), m.Cols)
	gatherInto(dst, m, idx)
	return dst
}

func gatherInto(dst, m blas32.General, idx []int) {
	for i, r := range idx {
		copy(linalg.Row(dst, i), linalg.Row(m, r))
	}
}

// EpochMetrics is one line of metrics.jsonl.
type EpochMetrics struct {
	// Epoch is 1-based; 0 is the frozen encoder (baseline).
	Epoch     int               `json:"epoch"`
	Steps     int               `json:"steps"`
	TrainLoss float64           `json:"train_loss,omitempty"`
	LR        float64           `json:"lr,omitempty"`
	Dev       *RetrievalMetrics `json:"dev,omitempty"`
	Best      bool              `json:"best,omitempty"`
}

// TrainProgress is reported after every step and after each evaluation.
type TrainProgress struct {
	Epoch, Epochs int // Epoch is 1-based
	Step, Steps   int // within the epoch
	Loss          float64
	// Dev is the latest dev metric value (NaN before the first).
	Dev float64
	// EpochDone marks the report after an epoch's evaluation.
	EpochDone bool
}

// TrainResult summarizes a finished run.
type TrainResult struct {
	Settings  TrainSettings
	History   []EpochMetrics
	BestEpoch int // 0 when the frozen encoder stayed best or without dev
	Stopped   string
	// Head holds the parameters of the best epoch (the last without dev).
	Head *Head
}

// Trainer trains a head on cached embeddings. Set the fields, then Run.
//
// Each step gathers a batch's rows, runs the head, sums the weighted
// losses' values and gradients, back-propagates through the head and
// updates the head's parameters and the weights of any losses.Trainable
// with one optimizer (then calls their Step). Pair data goes to the losses
// in the pair form (losses.Batch.Queries, mined negatives as extra rows);
// labelled data comes in m-per-class batches. Batches are drawn from
// (Seed, epoch), so a run resumed from a checkpoint replays exactly the
// same steps: the final head is bit-identical to an uninterrupted run's.
// A Trainable that also implements encoding.BinaryMarshaler and
// encoding.BinaryUnmarshaler has that state checkpointed too (needed for
// state that is not a weight, like center-loss centers).
type Trainer struct {
	Settings TrainSettings
	Losses   []WeightedLoss
	Data     TrainData
	// Dev, when non-nil, is evaluated each epoch for early stopping and
	// the choice of the best epoch.
	Dev *EvalSet
	// Dir is the run directory for checkpoints and metrics.jsonl; empty
	// means no files.
	Dir string
	// Resume continues from Dir's last checkpoint when there is one.
	Resume bool
	// Progress, when non-nil, receives progress reports.
	Progress func(TrainProgress)
}

// checkpoint is the resumable state of a run, written atomically to
// Dir/checkpoints/last.ckpt.
type checkpoint struct {
	Epoch        int // 0-based epoch in progress
	Step         int // steps done in that epoch
	EpochLossSum float64
	Params       [][]float32
	Optim        OptimState
	LossWeights  [][][]float32
	LossState    [][]byte
	History      []EpochMetrics
	Best         float64
	BestEpoch    int
	BestParams   [][]float32
	Bad          int
	Done         bool
	Stopped      string
}

// CheckpointPath is where a run directory keeps its latest checkpoint.
func CheckpointPath(dir string) string { return filepath.Join(dir, "checkpoints", "last.ckpt") }

func copyParams(ps []blas32.General) [][]float32 {
	out := make([][]float32, len(ps))
	for i, p := range ps {
		out[i] = append([]float32(nil), p.Data...)
	}
	return out
}

func setParams(ps []blas32.General, vals [][]float32) error {
	if len(vals) != len(ps) {
		return fmt.Errorf("%d parameter matrices, want %d", len(vals), len(ps))
	}
	for i, p := range ps {
		if len(vals[i]) != len(p.Data) {
			return fmt.Errorf("parameter %d has %d values, want %d", i, len(vals[i]), len(p.Data))
		}
		copy(p.Data, vals[i])
	}
	return nil
}

// stepBuffers are reused across steps so a step allocates little.
type stepBuffers struct {
	in, out, grad, tmp blas32.General
	labels             []int
	rows               []int
}

// Run trains until the epoch budget or early stopping, writing
// checkpoints and metrics.jsonl to Dir. On cancellation it writes a
// checkpoint and returns ctx.Err().
func (t *Trainer) Run(ctx context.Context) (*TrainResult, error) {
	s, err := t.Settings.WithDefaults()
	if err != nil {
		return nil, err
	}
	data := t.Data
	if (data.Labels == nil) == (data.Pairs == nil) {
		return nil, errors.New("train: need exactly one of labels or pairs")
	}
	if data.Emb.Cols != s.Head.In {
		return nil, fmt.Errorf("train: embeddings have width %d, head expects %d", data.Emb.Cols, s.Head.In)
	}
	if len(t.Losses) == 0 {
		return nil, errors.New("train: no loss")
	}
	head, err := NewHead(s.Head, s.Seed)
	if err != nil {
		return nil, err
	}

	// Batches per epoch (fixed by the data, so the schedule is known).
	var sampler *MPerClassSampler
	epochBatches := func(epoch int) (labelled [][]int, pairs []PairBatch) {
		rng := rand.New(rand.NewPCG(s.Seed, uint64(epoch)+1))
		if sampler != nil {
			return sampler.Epoch(rng), nil
		}
		return nil, PairBatches(data.Pairs, s.BatchSize, max(s.Negatives, 0), rng)
	}
	if data.Labels != nil {
		if len(data.Labels) != data.Emb.Rows {
			return nil, fmt.Errorf("train: %d labels for %d embeddings", len(data.Labels), data.Emb.Rows)
		}
		p := s.BatchSize / s.PerClass
		if sampler, err = NewMPerClassSampler(data.Labels, p, s.PerClass); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
	}
	stepsPerEpoch := 0
	if sampler != nil {
		stepsPerEpoch = sampler.BatchesPerEpoch()
	} else {
		_, pb := epochBatches(0)
		stepsPerEpoch = len(pb)
	}
	if stepsPerEpoch == 0 {
		return nil, errors.New("train: the training data gives no batch of at least 2 items")
	}

	// Parameters: the head's, then each trainable loss's weights.
	params := head.Params()
	var trainables []losses.Trainable
	var trainableWeight []float64
	for _, wl := range t.Losses {
		if tr, ok := wl.Loss.(losses.Trainable); ok {
			trainables = append(trainables, tr)
			trainableWeight = append(trainableWeight, wl.Weight)
			params = append(params, tr.Weights()...)
		}
	}
	opt, err := NewOptimizer(s.Optim, params, stepsPerEpoch*s.Epochs)
	if err != nil {
		return nil, err
	}
	grads := make([]blas32.General, len(params))
	for i, p := range params {
		grads[i] = linalg.NewMatrix(p.Rows, p.Cols)
	}

	better := func(v, best float64) bool { return v > best }
	st := checkpoint{Best: math.Inf(-1)}
	if t.Resume && t.Dir != "" {
		if ck, err := readCheckpoint(CheckpointPath(t.Dir)); err == nil {
			st = *ck
			if err := t.restore(&st, head, opt, trainables); err != nil {
				return nil, fmt.Errorf("%s: %w", CheckpointPath(t.Dir), err)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	save := func() error {
		if t.Dir == "" {
			return nil
		}
		st.Params = copyParams(head.Params())
		st.Optim = opt.State()
		st.LossWeights, st.LossState = nil, nil
		for _, tr := range trainables {
			st.LossWeights = append(st.LossWeights, copyParams(tr.Weights()))
			var state []byte
			if m, ok := tr.(encoding.BinaryMarshaler); ok {
				if state, err = m.MarshalBinary(); err != nil {
					return err
				}
			}
			st.LossState = append(st.LossState, state)
		}
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(&st); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(CheckpointPath(t.Dir)), 0o755); err != nil {
			return err
		}
		if err := atomicfile.WriteFile(CheckpointPath(t.Dir), buf.Bytes()); err != nil {
			return err
		}
		return t.writeMetrics(st.History)
	}
	report := func(p TrainProgress) {
		if t.Progress != nil {
			t.Progress(p)
		}
	}
	latestDev := math.NaN()
	evaluate := func(h *Head) (*RetrievalMetrics, float64, error) {
		if t.Dev == nil {
			return nil, math.NaN(), nil
		}
		m, err := t.Dev.Evaluate(ctx, h)
		if err != nil {
			return nil, 0, fmt.Errorf("dev evaluation: %w", err)
		}
		v, _ := metricValue(m, s.Metric)
		latestDev = v
		return &m, v, nil
	}

	if len(st.History) == 0 {
		m, v, err := evaluate(nil)
		if err != nil {
			return nil, err
		}
		st.History = append(st.History, EpochMetrics{Epoch: 0, Dev: m, Best: m != nil})
		if m != nil {
			st.Best = v
		}
		st.BestParams = copyParams(head.Params())
		if err := save(); err != nil {
			return nil, err
		}
	} else if last := st.History[len(st.History)-1]; last.Dev != nil {
		latestDev, _ = metricValue(*last.Dev, s.Metric)
	}

	var buf stepBuffers
	for !st.Done && st.Epoch < s.Epochs {
		labelled, pairs := epochBatches(st.Epoch)
		for st.Step < stepsPerEpoch {
			if err := ctx.Err(); err != nil {
				if serr := save(); serr != nil {
					return nil, serr
				}
				return nil, err
			}
			var loss float64
			if sampler != nil {
				loss = t.step(&buf, head, labelled[st.Step], nil, grads, trainables, trainableWeight)
			} else {
				loss = t.step(&buf, head, nil, &pairs[st.Step], grads, trainables, trainableWeight)
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return nil, fmt.Errorf("train: loss became %v at epoch %d step %d (lower the learning rate?)", loss, st.Epoch+1, st.Step+1)
			}
			opt.Step(grads)
			for _, tr := range trainables {
				tr.Step()
			}
			st.EpochLossSum += loss
			st.Step++
			report(TrainProgress{Epoch: st.Epoch + 1, Epochs: s.Epochs, Step: st.Step, Steps: stepsPerEpoch, Loss: st.EpochLossSum / float64(st.Step), Dev: latestDev})
			if s.CheckpointEvery > 0 && st.Step%s.CheckpointEvery == 0 && st.Step < stepsPerEpoch {
				if err := save(); err != nil {
					return nil, err
				}
			}
		}
		// End of epoch: evaluate, keep the best, maybe stop.
		em := EpochMetrics{Epoch: st.Epoch + 1, Steps: opt.Steps(), TrainLoss: st.EpochLossSum / float64(stepsPerEpoch), LR: opt.LR(max(opt.Steps()-1, 0))}
		m, v, err := evaluate(head)
		if err != nil {
			return nil, err
		}
		em.Dev = m
		if m == nil || better(v, st.Best) {
			em.Best = true
			st.Best, st.BestEpoch, st.Bad = v, st.Epoch+1, 0
			st.BestParams = copyParams(head.Params())
		} else {
			st.Bad++
			if s.Patience > 0 && st.Bad >= s.Patience {
				st.Done = true
				st.Stopped = fmt.Sprintf("early stop after epoch %d: %s did not improve for %d epochs", st.Epoch+1, s.Metric, st.Bad)
			}
		}
		st.History = append(st.History, em)
		st.Epoch++
		st.Step, st.EpochLossSum = 0, 0
		if st.Epoch >= s.Epochs {
			st.Done = true
		}
		report(TrainProgress{Epoch: st.Epoch, Epochs: s.Epochs, Step: stepsPerEpoch, Steps: stepsPerEpoch, Loss: em.TrainLoss, Dev: latestDev, EpochDone: true})
		if err := save(); err != nil {
			return nil, err
		}
	}
	best, err := NewHead(s.Head, s.Seed)
	if err != nil {
		return nil, err
	}
	if err := setParams(best.Params(), st.BestParams); err != nil {
		return nil, err
	}
	return &TrainResult{Settings: s, History: st.History, BestEpoch: st.BestEpoch, Stopped: st.Stopped, Head: best}, nil
}

// readCheckpoint reads a checkpoint file; a missing file is an error
// wrapping os.ErrNotExist.
func readCheckpoint(path string) (*checkpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var st checkpoint
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &st, nil
}

func (t *Trainer) restore(st *checkpoint, head *Head, opt *Optimizer, trainables []losses.Trainable) error {
	if err := setParams(head.Params(), st.Params); err != nil {
		return fmt.Errorf("head: %w", err)
	}
	if err := opt.SetState(st.Optim); err != nil {
		return err
	}
	if len(st.LossWeights) != len(trainables) {
		return fmt.Errorf("checkpoint has %d trainable losses, run has %d", len(st.LossWeights), len(trainables))
	}
	for i, tr := range trainables {
		if err := setParams(tr.Weights(), st.LossWeights[i]); err != nil {
			return fmt.Errorf("loss %d: %w", i, err)
		}
		if u, ok := tr.(encoding.BinaryUnmarshaler); ok && st.LossState[i] != nil {
			if err := u.UnmarshalBinary(st.LossState[i]); err != nil {
				return fmt.Errorf("loss %d state: %w", i, err)
			}
		}
	}
	return nil
}

// writeMetrics rewrites Dir/metrics.jsonl from the history (atomically,
// so it always matches the checkpoint).
func (t *Trainer) writeMetrics(h []EpochMetrics) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, m := range h {
		if err := enc.Encode(m); err != nil {
			return err
		}
	}
	return atomicfile.WriteFile(filepath.Join(t.Dir, "metrics.jsonl"), buf.Bytes())
}

// step runs one forward/backward pass for a batch (labelled rows or a pair
// batch), leaves the gradients of every parameter in grads, and returns
// the weighted loss.
func (t *Trainer) step(b *stepBuffers, head *Head, rows []int, pb *PairBatch, grads []blas32.General, trainables []losses.Trainable, tw []float64) float64 {
	var batch losses.Batch
	if pb != nil {
		q := len(pb.Anchors)
		b.rows = append(append(append(b.rows[:0], pb.Anchors...), pb.Positives...), pb.Negatives...)
		batch.Queries = q
	} else {
		b.rows = append(b.rows[:0], rows...)
		b.labels = b.labels[:0]
		for _, r := range rows {
			b.labels = append(b.labels, t.Data.Labels[r])
		}
		batch.Labels = b.labels
	}
	n, d, out := len(b.rows), head.Settings.In, head.Settings.Out
	b.in = ensure(b.in, n, d)
	b.out = ensure(b.out, n, out)
	b.grad = ensure(b.grad, n, out)
	b.tmp = ensure(b.tmp, n, out)
	gatherInto(b.in, t.Data.Emb, b.rows)
	head.Forward(b.out, b.in)
	batch.X = b.out
	clear(b.grad.Data)
	var total float64
	for _, wl := range t.Losses {
		v := wl.Loss.Eval(batch, b.tmp)
		total += wl.Weight * v
		for i, g := range b.tmp.Data {
			b.grad.Data[i] += float32(wl.Weight * float64(g))
		}
	}
	head.Backward(blas32.General{}, b.grad)
	hg := head.Grads()
	k := 0
	for ; k < len(hg); k++ {
		copy(grads[k].Data, hg[k].Data)
	}
	for i, tr := range trainables {
		for _, g := range tr.WeightGrads() {
			for j, v := range g.Data {
				grads[k].Data[j] = float32(tw[i] * float64(v))
			}
			k++
		}
	}
	return total
}
