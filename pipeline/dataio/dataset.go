package dataio

import (
	"strconv"
	"strings"
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
// error naming the file and line.
func ReadDataset(path string, f DataFields) (*Dataset, error) {
	f = f.WithDefaults()
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
