package dataio

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/embfit/embfit/internal/inputerr"
	"github.com/embfit/embfit/internal/tensorjson"
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
	// TensorShape, when set, says the anchor, positive, negative and text
	// fields hold tensors of this item shape (JSON number arrays, nested
	// or flat), not strings: ReadDataset checks each against it and keeps
	// its tensorjson.Canonical text.
	TensorShape []int64 `json:"tensor_shape,omitempty"`
}

func (f DataFields) WithDefaults() DataFields {
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
// error naming the file and line. With f.TensorShape the item fields are
// tensors (see DataFields), and a labelled file may also be an .npy
// [N, item shape…] whose labels come from its sidecar (SidecarPath).
func ReadDataset(path string, f DataFields) (*Dataset, error) {
	f = f.WithDefaults()
	if f.TensorShape != nil && strings.HasSuffix(path, ".npy") {
		return readTensorNPY(path, f)
	}
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
			if f.TensorShape != nil {
				return r.Item(field, f.TensorShape)
			}
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
			var negs []string
			if f.TensorShape != nil {
				if r.Has(f.Negative) {
					n, err := nonEmpty(f.Negative)
					if err != nil {
						return err
					}
					negs = append(negs, n)
				}
			} else if negs, err = r.Strings(f.Negative); err != nil {
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
		l, ok, err := r.Label(f.Label)
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

// Item returns field's value as an item: a string (shape nil; see
// String), or a tensor of the given item shape (a JSON number array,
// nested or flat, checked dimension by dimension) as its
// tensorjson.Canonical text. Errors name file, line and field.
func (r Record) Item(field string, shape []int64) (string, error) {
	if shape == nil {
		return r.String(field)
	}
	v, ok := r.Fields[field]
	if !ok || string(v) == "null" {
		return "", r.Errorf("missing field %q", field)
	}
	vals, got, err := tensorjson.Decode(v)
	if err != nil {
		return "", r.Errorf("field %q: %v", field, err)
	}
	if err := tensorjson.CheckShape(got, shape); err != nil {
		return "", r.Errorf("field %q: %v", field, err)
	}
	return tensorjson.Canonical(vals), nil
}

// readTensorNPY reads a labelled tensor dataset from an .npy [N, item
// shape…] and the labels of its sidecar (one JSON object a row with
// f.Label, as `embfit embed` writes them).
func readTensorNPY(path string, f DataFields) (*Dataset, error) {
	x, shape, err := ReadNPYTensor(path)
	if err != nil {
		return nil, err
	}
	if err := tensorjson.CheckShape(shape, f.TensorShape); err != nil {
		return nil, inputerr.FileError(path, 0, fmt.Errorf("items: %w", err))
	}
	side := SidecarPath(path)
	d := &Dataset{Path: path}
	err = ReadJSONL(side, func(r Record) error {
		if len(d.Items) == x.Rows {
			return r.Errorf("more lines than the %d rows of %s", x.Rows, path)
		}
		l, ok, err := r.Scalar(f.Label)
		if err != nil {
			return err
		}
		if !ok {
			return r.Errorf("missing field %q", f.Label)
		}
		i := len(d.Items)
		d.Items = append(d.Items, LabelledText{Text: tensorjson.Canonical(x.Data[i*x.Stride : i*x.Stride+x.Cols]), Label: l})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(d.Items) != x.Rows {
		return nil, inputerr.FileError(side, 0, fmt.Errorf("%d lines for the %d rows of %s", len(d.Items), x.Rows, path))
	}
	return d, nil
}
