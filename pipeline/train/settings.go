package train

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/embfit/embfit/losses"
	"github.com/embfit/embfit/pipeline/head"
	"github.com/embfit/embfit/pipeline/retrieval"
)

// Settings configures a training run. The zero value means the
// defaults documented on each field; WithDefaults fills them in and is
// idempotent, so the resolved settings written to config.json read back
// unchanged (that is how --resume restores a run).
type Settings struct {
	Head  head.Settings `json:"head"`
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
func (s Settings) WithDefaults() (Settings, error) {
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
	for _, ws := range s.Losses {
		if _, _, err := SplitLossWeight(ws); err != nil {
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
	if _, err := metricValue(retrieval.Metrics{Recall: []retrieval.RecallAt{{K: 1}, {K: 5}, {K: 10}}}, s.Metric); err != nil {
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
func metricValue(m retrieval.Metrics, name string) (float64, error) {
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
