package dataio

import (
	"fmt"
	"math"
	"strings"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/inputerr"
	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/mining"
)

// ReadPairTexts reads the anchor and positive of every line of a pairs
// file; lines[i] is the file line of pair i. Empty or blank texts are
// errors naming the file and line.
func ReadPairTexts(path, anchorField, positiveField string) (anchors, positives []string, lines []int, err error) {
	return ReadPairItems(path, anchorField, positiveField, nil)
}

// ReadPairItems is ReadPairTexts for items that are texts (shape nil) or
// tensors of the item shape (see Record.Item).
func ReadPairItems(path, anchorField, positiveField string, shape []int64) (anchors, positives []string, lines []int, err error) {
	err = ReadJSONL(path, func(r Record) error {
		a, err := r.Item(anchorField, shape)
		if err != nil {
			return err
		}
		p, err := r.Item(positiveField, shape)
		if err != nil {
			return err
		}
		if strings.TrimSpace(a) == "" {
			return r.Errorf("empty %q", anchorField)
		}
		if strings.TrimSpace(p) == "" {
			return r.Errorf("empty %q", positiveField)
		}
		anchors, positives, lines = append(anchors, a), append(positives, p), append(lines, r.Line)
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return anchors, positives, lines, nil
}

// ReadCorpusTexts reads the text field of every line of a corpus file.
func ReadCorpusTexts(path, field string) ([]string, error) {
	return ReadCorpusItems(path, field, nil)
}

// ReadCorpusItems is ReadCorpusTexts for texts (shape nil) or tensors of
// the item shape (see Record.Item).
func ReadCorpusItems(path, field string, shape []int64) ([]string, error) {
	var texts []string
	err := ReadJSONL(path, func(r Record) error {
		t, err := r.Item(field, shape)
		if err != nil {
			return err
		}
		if strings.TrimSpace(t) == "" {
			return r.Errorf("empty %q", field)
		}
		texts = append(texts, t)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return texts, nil
}

// ReadLabelledItems reads labelled items, keeping the first of each
// distinct (text, label): texts and dense label ids (in order of first
// appearance), rows[i] the file record (0-based) of item i, and n the
// number of records.
func ReadLabelledItems(path, textField, labelField string) (texts []string, labels, rows []int, n int, err error) {
	return ReadLabelledTensors(path, textField, labelField, nil)
}

// ReadLabelledTensors is ReadLabelledItems for texts (shape nil) or
// tensors of the item shape (see Record.Item).
func ReadLabelledTensors(path, textField, labelField string, shape []int64) (texts []string, labels, rows []int, n int, err error) {
	ids := make(map[string]int)
	seen := make(map[[2]string]bool)
	err = ReadJSONL(path, func(r Record) error {
		t, err := r.Item(textField, shape)
		if err != nil {
			return err
		}
		if strings.TrimSpace(t) == "" {
			return r.Errorf("empty %q", textField)
		}
		l, ok, err := r.Label(labelField)
		if err != nil {
			return err
		}
		if !ok {
			return r.Errorf("missing field %q", labelField)
		}
		rec := n
		n++
		if seen[[2]string{t, l}] {
			return nil
		}
		seen[[2]string{t, l}] = true
		id, ok := ids[l]
		if !ok {
			id = len(ids)
			ids[l] = id
		}
		texts, labels, rows = append(texts, t), append(labels, id), append(rows, rec)
		return nil
	})
	if err != nil {
		return nil, nil, nil, 0, err
	}
	return texts, labels, rows, n, nil
}

// ReadRowEmbeddings reads a float32 .npy whose rows must match the
// in.Rows lines of in.Path and hold finite values only; errors name path.
func ReadRowEmbeddings(path string, in mining.InputFile) (blas32.General, error) {
	m, err := ReadNPY(path)
	if err != nil {
		return m, err
	}
	if m.Rows != in.Rows {
		return m, inputerr.FileError(path, 0, fmt.Errorf("%d rows but %s has %d JSON lines", m.Rows, in.Path, in.Rows))
	}
	for i := range m.Rows {
		for _, v := range linalg.Row(m, i) {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return m, inputerr.FileError(path, 0, fmt.Errorf("row %d holds a non-finite value", i))
			}
		}
	}
	return m, nil
}

// PreviewText returns s cut to 60 runes for error messages.
func PreviewText(s string) string {
	if r := []rune(s); len(r) > 60 {
		return string(r[:60]) + "…"
	}
	return s
}
