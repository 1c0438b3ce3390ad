package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/atomicfile"
	"github.com/embfit/embfit/pipeline/dataio"
)

// Columns names the JSONL fields of an audit input. The zero value means
// text/label for labelled data and anchor/positive for pairs.
type Columns struct {
	Text, Label, Anchor, Positive string
	// TensorShape, when set, says the text, anchor and positive fields
	// hold tensors of this item shape (see dataio.Record.Item); Texts then
	// holds their canonical JSON.
	TensorShape []int64
}

func (c Columns) withDefaults() Columns {
	if c.Text == "" {
		c.Text = "text"
	}
	if c.Label == "" {
		c.Label = "label"
	}
	if c.Anchor == "" {
		c.Anchor = "anchor"
	}
	if c.Positive == "" {
		c.Positive = "positive"
	}
	return c
}

// Input is a labelled or paired data set read from a JSONL file.
type Input struct {
	Path string
	// Form is "labelled" (records with text and label) or "pairs" (records
	// with anchor and positive), decided by the first record.
	Form string
	// Texts are the row texts: labelled, one per record; pairs, the Q
	// anchors then the Q positives (Data's row layout).
	Texts []string
	// Labels are class ids (labelled form) in order of first appearance;
	// ClassNames[id] is the label as written in the file.
	Labels     []int
	ClassNames []string
	// Queries is the number of pairs (pair form).
	Queries int
}

// ReadInput reads a labelled (text, label) or pairs (anchor, positive)
// JSONL file. The first record decides the form; a later record missing a
// field of that form is an error naming the file and line. Labels may be
// strings or numbers.
func ReadInput(path string, cols Columns) (*Input, error) {
	cols = cols.withDefaults()
	in := &Input{Path: path}
	classes := map[string]int{}
	var anchors, positives []string
	err := dataio.ReadJSONL(path, func(r dataio.Record) error {
		if in.Form == "" {
			switch {
			case r.Has(cols.Anchor) && r.Has(cols.Positive):
				in.Form = "pairs"
			case r.Has(cols.Text) && r.Has(cols.Label):
				in.Form = "labelled"
			default:
				return r.Errorf("need fields %q and %q (labelled) or %q and %q (pairs)", cols.Text, cols.Label, cols.Anchor, cols.Positive)
			}
		}
		if in.Form == "pairs" {
			a, err := r.Item(cols.Anchor, cols.TensorShape)
			if err != nil {
				return err
			}
			p, err := r.Item(cols.Positive, cols.TensorShape)
			if err != nil {
				return err
			}
			anchors, positives = append(anchors, a), append(positives, p)
			return nil
		}
		t, err := r.Item(cols.Text, cols.TensorShape)
		if err != nil {
			return err
		}
		l, ok, err := r.Label(cols.Label)
		if err != nil {
			return err
		}
		if !ok {
			return r.Errorf("missing field %q", cols.Label)
		}
		id, seen := classes[l]
		if !seen {
			id = len(in.ClassNames)
			classes[l] = id
			in.ClassNames = append(in.ClassNames, l)
		}
		in.Texts = append(in.Texts, t)
		in.Labels = append(in.Labels, id)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if in.Form == "" {
		return nil, fmt.Errorf("%s: no records", path)
	}
	if in.Form == "pairs" {
		in.Queries = len(anchors)
		in.Texts = append(anchors, positives...)
	}
	if len(in.Texts) < 2 {
		return nil, fmt.Errorf("%s: need at least 2 rows to audit, have %d", path, len(in.Texts))
	}
	return in, nil
}

// Data pairs the input with its embeddings x (one row per Texts entry).
func (in *Input) Data(x blas32.General) Data {
	if x.Rows != len(in.Texts) {
		panic("audit: Input.Data: embeddings and texts differ in length")
	}
	return Data{X: x, Labels: in.Labels, Queries: in.Queries, ClassNames: in.ClassNames, Texts: in.Texts}
}

// WritePerSample writes one JSON line per row of d to path (atomically):
//
//	{"row":i,"label":NAME,"text":TEXT,"grad_norm":{"SPEC":‖∂L/∂x_i‖,...},
//	 "retrieval":{"r":..,"precision_at_1":..,"ap_at_r":..,"first_relevant":..,
//	              "top_negative":{"row":..,"score":..,"text":..}}}
//
// label is omitted in the pair form, text when d has no texts, grad_norm
// when rep has no GradNorms, and retrieval for rows that are not queries
// (the positives of the pair form). With several reports (models), each
// line also has "model" and the rows of each report follow one another.
func WritePerSample(path string, d Data, reps ...*Report) error {
	f, err := atomicfile.Create(path, false)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := writePerSample(f, d, reps...); err != nil {
		return err
	}
	return f.Commit()
}

// WritePerSampleTo writes the lines of WritePerSample to w.
func WritePerSampleTo(w io.Writer, d Data, reps ...*Report) error {
	return writePerSample(w, d, reps...)
}

func writePerSample(w io.Writer, d Data, reps ...*Report) error {
	bw := bufio.NewWriter(w)
	var buf bytes.Buffer
	str := func(s string) {
		b, _ := json.Marshal(s)
		buf.Write(b)
	}
	num := func(v float64) { buf.WriteString(strconv.FormatFloat(v, 'g', -1, 64)) }
	for ri, rep := range reps {
		for i := range d.X.Rows {
			buf.Reset()
			buf.WriteString(`{"row":`)
			buf.WriteString(strconv.Itoa(i))
			if len(reps) > 1 {
				buf.WriteString(`,"model":`)
				str(modelLabel(rep, ri))
			}
			if d.Labels != nil {
				buf.WriteString(`,"label":`)
				str(className(d.ClassNames, d.Labels[i]))
			}
			if d.Texts != nil {
				buf.WriteString(`,"text":`)
				str(d.Texts[i])
			}
			if rep.GradNorms != nil {
				buf.WriteString(`,"grad_norm":{`)
				for k, lv := range rep.Losses {
					if k > 0 {
						buf.WriteByte(',')
					}
					str(lv.Spec)
					buf.WriteByte(':')
					num(rep.GradNorms[k][i])
				}
				buf.WriteByte('}')
			}
			if i < len(rep.PerQuery) {
				m := rep.PerQuery[i]
				fmt.Fprintf(&buf, `,"retrieval":{"r":%d,"precision_at_1":`, m.R)
				num(m.PrecisionAt1)
				buf.WriteString(`,"ap_at_r":`)
				num(m.APAtR)
				fmt.Fprintf(&buf, `,"first_relevant":%d`, m.FirstRelevant)
				if len(m.TopNegatives) > 0 {
					nb := m.TopNegatives[0]
					row := nb.Index
					if d.Queries > 0 {
						row = rep.CorpusRows[nb.Index]
					}
					fmt.Fprintf(&buf, `,"top_negative":{"row":%d,"score":`, row)
					num(float64(nb.Score))
					if d.Texts != nil {
						buf.WriteString(`,"text":`)
						str(d.Texts[row])
					}
					buf.WriteByte('}')
				}
				buf.WriteByte('}')
			}
			buf.WriteString("}\n")
			if _, err := bw.Write(buf.Bytes()); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}
