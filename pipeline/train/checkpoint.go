package train

import (
	"bytes"
	"encoding"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/embfit/embfit/internal/atomicfile"
	"github.com/embfit/embfit/losses"
	"github.com/embfit/embfit/pipeline/head"
	"gonum.org/v1/gonum/blas/blas32"
)

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

// BestHead rebuilds the best head of the run in dir, trained with
// settings s, from its last checkpoint.
func BestHead(dir string, s Settings) (head.Head, error) {
	st, err := readCheckpoint(CheckpointPath(dir))
	if err != nil {
		return nil, err
	}
	h, err := head.New(s.Head, s.Seed)
	if err != nil {
		return nil, err
	}
	if err := setParams(h.Params(), st.BestParams); err != nil {
		return nil, fmt.Errorf("%s: %w", CheckpointPath(dir), err)
	}
	return h, nil
}

// CheckpointState reports, from the last checkpoint of the run in dir,
// whether training finished and the epoch (1-based) and step it had
// reached.
func CheckpointState(dir string) (done bool, epoch, step int, err error) {
	st, err := readCheckpoint(CheckpointPath(dir))
	if err != nil {
		return false, 0, 0, err
	}
	return st.Done, st.Epoch + 1, st.Step, nil
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

func (t *Trainer) restore(st *checkpoint, hd head.Head, opt *Optimizer, trainables []losses.Trainable) error {
	if err := setParams(hd.Params(), st.Params); err != nil {
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
