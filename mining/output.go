package mining

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/embfit/embfit/internal/atomicfile"
)

// Output formats of mined hard negatives (JSONL, one object per line).
const (
	// FormatTriplet: {"anchor","positive","negative"}, one line per
	// (query, positive, negative).
	FormatTriplet = "triplet"
	// FormatNTuple: {"anchor","positive","negative_1",…,"negative_k"}, one
	// line per (query, positive); queries with fewer than k negatives are
	// left out (counted in OutputInfo.SkippedShort).
	FormatNTuple = "n-tuple"
	// FormatNTupleScores: FormatNTuple plus "scores": [s(anchor,positive),
	// s(anchor,negative_1), …].
	FormatNTupleScores = "n-tuple-scores"
	// FormatLabeledPair: {"text1","text2","label"}, label 1 for each
	// (query, positive) and 0 for each (query, negative).
	FormatLabeledPair = "labeled-pair"
)

// Formats lists the output formats.
var Formats = []string{FormatTriplet, FormatNTuple, FormatNTupleScores, FormatLabeledPair}

// CheckFormat reports an error for an unknown format name.
func CheckFormat(f string) error {
	for _, g := range Formats {
		if f == g {
			return nil
		}
	}
	return fmt.Errorf("unknown output format %q (want triplet, n-tuple, n-tuple-scores or labeled-pair)", f)
}

// OutputInfo describes a written output file.
type OutputInfo struct {
	Path   string `json:"path"`
	Format string `json:"format"`
	// Rows is the number of JSONL lines written.
	Rows int `json:"rows"`
	// SkippedShort counts (query, positive) rows left out of the n-tuple
	// formats because the query got fewer than num_negatives negatives.
	SkippedShort int `json:"skipped_short"`
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
	Settings    Settings    `json:"settings"`
	Output      OutputInfo  `json:"output"`
	Counts      Counts      `json:"counts"`
	// PositiveScores are the scores of every (query, positive) pair;
	// NegativeScores those of the chosen negatives.
	PositiveScores Summary `json:"positive_scores"`
	NegativeScores Summary `json:"negative_scores"`
}

// jsonWriter appends JSON objects with keys in a fixed order.
type jsonWriter struct {
	buf bytes.Buffer
	enc *json.Encoder
	tmp bytes.Buffer
}

func newJSONWriter() *jsonWriter {
	j := &jsonWriter{}
	j.enc = json.NewEncoder(&j.tmp)
	j.enc.SetEscapeHTML(false)
	return j
}

func (j *jsonWriter) key(k string, first bool) {
	if first {
		j.buf.WriteByte('{')
	} else {
		j.buf.WriteByte(',')
	}
	j.str(k)
	j.buf.WriteByte(':')
}

func (j *jsonWriter) str(s string) {
	j.tmp.Reset()
	j.enc.Encode(s) // strings always encode
	j.buf.Write(bytes.TrimSuffix(j.tmp.Bytes(), []byte{'\n'}))
}

func (j *jsonWriter) field(k, v string, first bool) {
	j.key(k, first)
	j.str(v)
}

func (j *jsonWriter) end(w io.Writer) error {
	j.buf.WriteString("}\n")
	_, err := w.Write(j.buf.Bytes())
	j.buf.Reset()
	return err
}

// WriteJSONL writes the rows of m in format to w, leaving out skipped
// queries (QueryResult.Skipped). Query texts come from
// p.QueryText and positives and negatives from p.CorpusText. It returns
// the number of rows written and of rows skipped as short.
func WriteJSONL(w io.Writer, format string, p *Problem, m *Mined) (info OutputInfo, err error) {
	if err := CheckFormat(format); err != nil {
		return info, err
	}
	info.Format = format
	j := newJSONWriter()
	for q, r := range m.Results {
		if r.Skipped {
			continue
		}
		anchor := p.QueryText[q]
		switch format {
		case FormatTriplet:
			for _, pos := range r.Positives {
				for _, n := range r.Negatives {
					j.field("anchor", anchor, true)
					j.field("positive", p.CorpusText[pos], false)
					j.field("negative", p.CorpusText[n.Index], false)
					if err := j.end(w); err != nil {
						return info, err
					}
					info.Rows++
				}
			}
		case FormatNTuple, FormatNTupleScores:
			if len(r.Negatives) < m.Settings.NumNegatives {
				info.SkippedShort += len(r.Positives)
				continue
			}
			for i, pos := range r.Positives {
				j.field("anchor", anchor, true)
				j.field("positive", p.CorpusText[pos], false)
				for k, n := range r.Negatives {
					j.field("negative_"+strconv.Itoa(k+1), p.CorpusText[n.Index], false)
				}
				if format == FormatNTupleScores {
					j.key("scores", false)
					b := j.buf.AvailableBuffer()
					b = append(b, '[')
					b = strconv.AppendFloat(b, r.PositiveScores[i], 'g', -1, 64)
					for _, n := range r.Negatives {
						b = append(b, ',')
						b = strconv.AppendFloat(b, n.Score, 'g', -1, 64)
					}
					j.buf.Write(append(b, ']'))
				}
				if err := j.end(w); err != nil {
					return info, err
				}
				info.Rows++
			}
		case FormatLabeledPair:
			emit := func(text string, label string) error {
				j.field("text1", anchor, true)
				j.field("text2", text, false)
				j.key("label", false)
				j.buf.WriteString(label)
				info.Rows++
				return j.end(w)
			}
			for _, pos := range r.Positives {
				if err := emit(p.CorpusText[pos], "1"); err != nil {
					return info, err
				}
			}
			for _, n := range r.Negatives {
				if err := emit(p.CorpusText[n.Index], "0"); err != nil {
					return info, err
				}
			}
		}
	}
	return info, nil
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
	info, err := WriteJSONL(out, format, p, m)
	if err != nil {
		return man, fmt.Errorf("%s: %w", path, err)
	}
	info.Path = path
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
	return man, atomicfile.CommitAll(files...)
}
