package mining

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	"github.com/embfit/embfit/internal/atomicfile"
)

// OutputInfo describes a written output file.
type OutputInfo struct {
	Path   string `json:"path"`
	Format string `json:"format"`
	// Rows is the number of JSONL lines written.
	Rows int `json:"rows"`
	// SkippedShort counts (query, positive) rows left out of the n-tuple
	// formats because the query got fewer than num_negatives negatives.
	SkippedShort int `json:"skipped_short"`
	// SHA256 is the hex sha256 of the JSONL written (set by
	// WriteOutputs), so that a manifest left beside another version of
	// its JSONL (a crash between the two renames) is detected.
	SHA256 string `json:"sha256,omitempty"`
}

// InputFile identifies one input of a run.
type InputFile struct {
	Role   string `json:"role"` // e.g. "pairs", "corpus", "model"
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Rows   int    `json:"rows,omitempty"`
}

// Manifest is written next to the output as FILE.manifest.json: what was
// mined from what, with which settings, and the run's statistics. It
// holds no timestamps, so equal inputs and seed give an equal manifest.
type Manifest struct {
	Command     string      `json:"command"`
	Mode        string      `json:"mode"` // "pairs" or "labelled"
	ModelSHA256 string      `json:"model_sha256"`
	Inputs      []InputFile `json:"inputs"`
	// Encoder describes how the texts were embedded (for example the
	// resolved query and corpus pipelines of an ONNX encoder, with their
	// prompts and where each setting came from); nil for precomputed
	// embeddings.
	Encoder  any        `json:"encoder,omitempty"`
	Settings Settings   `json:"settings"`
	Output   OutputInfo `json:"output"`
	Counts   Counts     `json:"counts"`
	// PositiveScores are the scores of every (query, positive) pair;
	// NegativeScores those of the chosen negatives.
	PositiveScores Summary `json:"positive_scores"`
	NegativeScores Summary `json:"negative_scores"`
}

// WriteOutputs writes m as format to path and the manifest (completed
// with Settings, Output, Counts and score summaries from m) to
// path+".manifest.json", both atomically and together: on any error
// neither file appears or changes. With noClobber, existing files are not
// overwritten. When path exists and is not a regular file (a device such
// as /dev/null, a pipe) the JSONL is written to it directly and no
// manifest is written.
func WriteOutputs(path, format string, noClobber bool, p *Problem, m *Mined, man Manifest) (Manifest, error) {
	out, err := atomicfile.Create(path, noClobber)
	if err != nil {
		return man, err
	}
	defer out.Abort()
	files := []*atomicfile.File{out}
	var mf *atomicfile.File
	if !out.Direct() {
		if mf, err = atomicfile.Create(path+".manifest.json", noClobber); err != nil {
			return man, err
		}
		defer mf.Abort()
		files = append(files, mf)
	}
	h := sha256.New()
	info, err := WriteJSONL(io.MultiWriter(out, h), format, p, m)
	if err != nil {
		return man, fmt.Errorf("%s: %w", path, err)
	}
	info.Path, info.SHA256 = path, hex.EncodeToString(h.Sum(nil))
	man.Settings, man.Output, man.Counts = m.Settings, info, m.Counts
	man.PositiveScores, man.NegativeScores = m.PositiveScores, m.NegativeScores
	if mf != nil {
		b, err := json.MarshalIndent(man, "", "  ")
		if err != nil {
			return man, err
		}
		if _, err := mf.Write(append(b, '\n')); err != nil {
			return man, fmt.Errorf("%s: %w", path+".manifest.json", err)
		}
	}
	// The JSONL is renamed first and its manifest, which names its
	// sha256, last.
	return man, atomicfile.CommitAll(files...)
}
