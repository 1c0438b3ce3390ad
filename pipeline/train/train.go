package train

import (
	"bytes"
	"context"
	"encoding"
	"encoding/gob"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/atomicfile"
	"github.com/embfit/embfit/pipeline/head"
	"github.com/embfit/embfit/pipeline/retrieval"
)

// Data is the training set as frozen-encoder embeddings: Emb has one
// row per distinct text. Exactly one of Labels (labelled data: the class
// of each row of Emb) and Pairs (pair data: indices into Emb) is set.
type Data struct {
	Emb    blas32.General
	Labels []int
	Pairs  []PairRow
}

// EpochMetrics is one line of metrics.jsonl.
type EpochMetrics struct {
	// Epoch is 1-based; 0 is the frozen encoder (baseline).
	Epoch     int                `json:"epoch"`
	Steps     int                `json:"steps"`
	TrainLoss float64            `json:"train_loss,omitempty"`
	LR        float64            `json:"lr,omitempty"`
	Dev       *retrieval.Metrics `json:"dev,omitempty"`
	Best      bool               `json:"best,omitempty"`
}

// Progress is reported after every step and after each evaluation.
type Progress struct {
	Epoch, Epochs int // Epoch is 1-based
	Step, Steps   int // within the epoch
	Loss          float64
	// Dev is the latest dev metric value (NaN before the first).
	Dev float64
	// EpochDone marks the report after an epoch's evaluation.
	EpochDone bool
}

// Result summarizes a finished run.
type Result struct {
	Settings  Settings
	History   []EpochMetrics
	BestEpoch int // 0 when the frozen encoder stayed best or without dev
	Stopped   string
	// Head holds the parameters of the best epoch (the last without dev).
	Head head.Head
}

// Trainer trains a head on cached embeddings. Set the fields, then Run.
//
// Each step is a Stepper's (gather the batch, head forward, weighted
// losses, head backward), then one optimizer update of the head's
// parameters and the weights of any losses.Trainable (then their Step). Pair data goes to the losses
// in the pair form (losses.Batch.Queries, mined negatives as extra rows);
// labelled data comes in m-per-class batches. Batches are drawn from
// (Seed, epoch), so a run resumed from a checkpoint replays exactly the
// same steps: the final head is bit-identical to an uninterrupted run's.
// A Trainable that also implements encoding.BinaryMarshaler and
// encoding.BinaryUnmarshaler has that state checkpointed too (needed for
// state that is not a weight, like center-loss centers).
type Trainer struct {
	Settings Settings
	Losses   []WeightedLoss
	Data     Data
	// Dev, when non-nil, is evaluated each epoch for early stopping and
	// the choice of the best epoch.
	Dev *EvalSet
	// Dir is the run directory for checkpoints and metrics.jsonl; empty
	// means no files.
	Dir string
	// Resume continues from Dir's last checkpoint when there is one.
	Resume bool
	// Progress, when non-nil, receives progress reports.
	Progress func(Progress)
}

// Run trains until the epoch budget or early stopping, writing
// checkpoints and metrics.jsonl to Dir. On cancellation it writes a
// checkpoint and returns ctx.Err().
func (t *Trainer) Run(ctx context.Context) (*Result, error) {
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
	hd, err := head.New(s.Head, s.Seed)
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
	stepper := NewStepper(hd, t.Losses, data)
	trainables := stepper.Trainables()
	opt, err := NewOptimizer(s.Optim, stepper.Params(), stepsPerEpoch*s.Epochs)
	if err != nil {
		return nil, err
	}

	better := func(v, best float64) bool { return v > best }
	st := checkpoint{Best: math.Inf(-1)}
	if t.Resume && t.Dir != "" {
		if ck, err := readCheckpoint(CheckpointPath(t.Dir)); err == nil {
			st = *ck
			if err := t.restore(&st, hd, opt, trainables); err != nil {
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
		st.Params = copyParams(hd.Params())
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
	report := func(p Progress) {
		if t.Progress != nil {
			t.Progress(p)
		}
	}
	latestDev := math.NaN()
	evaluate := func(h head.Head) (*retrieval.Metrics, float64, error) {
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
		st.BestParams = copyParams(hd.Params())
		if err := save(); err != nil {
			return nil, err
		}
	} else if last := st.History[len(st.History)-1]; last.Dev != nil {
		latestDev, _ = metricValue(*last.Dev, s.Metric)
	}

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
				loss = stepper.Step(labelled[st.Step], nil)
			} else {
				loss = stepper.Step(nil, &pairs[st.Step])
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return nil, fmt.Errorf("train: loss became %v at epoch %d step %d (lower the learning rate?)", loss, st.Epoch+1, st.Step+1)
			}
			opt.Step(stepper.Grads())
			for _, tr := range trainables {
				tr.Step()
			}
			st.EpochLossSum += loss
			st.Step++
			report(Progress{Epoch: st.Epoch + 1, Epochs: s.Epochs, Step: st.Step, Steps: stepsPerEpoch, Loss: st.EpochLossSum / float64(st.Step), Dev: latestDev})
			if s.CheckpointEvery > 0 && st.Step%s.CheckpointEvery == 0 && st.Step < stepsPerEpoch {
				if err := save(); err != nil {
					return nil, err
				}
			}
		}
		// End of epoch: evaluate, keep the best, maybe stop.
		em := EpochMetrics{Epoch: st.Epoch + 1, Steps: opt.Steps(), TrainLoss: st.EpochLossSum / float64(stepsPerEpoch), LR: opt.LR(max(opt.Steps()-1, 0))}
		m, v, err := evaluate(hd)
		if err != nil {
			return nil, err
		}
		em.Dev = m
		if m == nil || better(v, st.Best) {
			em.Best = true
			st.Best, st.BestEpoch, st.Bad = v, st.Epoch+1, 0
			st.BestParams = copyParams(hd.Params())
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
		report(Progress{Epoch: st.Epoch, Epochs: s.Epochs, Step: stepsPerEpoch, Steps: stepsPerEpoch, Loss: em.TrainLoss, Dev: latestDev, EpochDone: true})
		if err := save(); err != nil {
			return nil, err
		}
	}
	best, err := head.New(s.Head, s.Seed)
	if err != nil {
		return nil, err
	}
	if err := setParams(best.Params(), st.BestParams); err != nil {
		return nil, err
	}
	return &Result{Settings: s, History: st.History, BestEpoch: st.BestEpoch, Stopped: st.Stopped, Head: best}, nil
}
