package mining

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/embfit/embfit/internal/inputerr"
)

// formats lists the output formats of mined hard negatives, in the order
// Formats reports them. Adding a format is one new file holding its
// *format value plus its entry here.
var formats = []*format{tripletFormat, nTupleFormat, nTupleScoresFormat, labeledPairFormat, labeledListFormat}

// CheckOutput reports an error when format cannot write what s mines:
// an unknown format, or IncludePositives with a format other than n-tuple
// and n-tuple-scores (only they keep each query's ranking in one line, as
// sentence-transformers requires for include_positives). The error names
// the setting (inputerr).
func CheckOutput(format string, s Settings) error {
	if err := CheckFormat(format); err != nil {
		return err
	}
	if s.IncludePositives && format != nTupleFormat.name && format != nTupleScoresFormat.name {
		return inputerr.Settingf("include_positives", "needs output format %s or %s, not %s", nTupleFormat.name, nTupleScoresFormat.name, format)
	}
	return nil
}

// format is one JSONL output format: how the result of one query becomes
// lines, one JSON object each, keys in a fixed order.
type format struct {
	name string
	// write writes the lines of query q (not skipped; its text is anchor)
	// through o.
	write func(o *lineOut, anchor string, r *QueryResult) error
}

// Formats returns the names of the output formats, in a fixed order:
// "triplet" ({"anchor","positive","negative"} per query, positive and
// negative), "n-tuple" ({"anchor","positive","negative_1",…} per query and
// positive; queries with fewer than num_negatives negatives are left out
// and counted in OutputInfo.SkippedShort), "n-tuple-scores" (n-tuple plus
// "scores": [s(anchor,positive), s(anchor,negative_1), …]) and
// "labeled-pair" ({"text1","text2","label"}, label 1 per positive and 0
// per negative) and "labeled-list" ({"anchor","positive":[positive,
// negative_1, …],"labels":[1,0,…]} per query and positive; queries with no
// negative are left out and counted in OutputInfo.SkippedShort).
func Formats() []string {
	out := make([]string, len(formats))
	for i, f := range formats {
		out[i] = f.name
	}
	return out
}

func lookupFormat(name string) *format {
	for _, f := range formats {
		if f.name == name {
			return f
		}
	}
	return nil
}

// CheckFormat reports an error for an unknown format name; the error
// lists the valid ones.
func CheckFormat(name string) error {
	if lookupFormat(name) == nil {
		names := Formats()
		return fmt.Errorf("unknown output format %q (want %s or %s)", name,
			strings.Join(names[:len(names)-1], ", "), names[len(names)-1])
	}
	return nil
}

// WriteJSONL writes the rows of m in format to w, leaving out skipped
// queries (QueryResult.Skipped). Query texts come from p.QueryText and
// positives and negatives from p.CorpusText. It returns the number of
// rows written and of rows skipped as short.
func WriteJSONL(w io.Writer, format string, p *Problem, m *Mined) (OutputInfo, error) {
	if err := CheckOutput(format, m.Settings); err != nil {
		return OutputInfo{}, err
	}
	f := lookupFormat(format)
	o := &lineOut{w: w, p: p, m: m, info: OutputInfo{Format: format}}
	o.enc = json.NewEncoder(&o.tmp)
	o.enc.SetEscapeHTML(false)
	for q := range m.Results {
		r := &m.Results[q]
		if r.Skipped {
			continue
		}
		if err := f.write(o, p.QueryText[q], r); err != nil {
			return o.info, err
		}
	}
	return o.info, nil
}

// lineOut is what a format writes through: the mined problem, a JSON
// object under construction with keys in call order, and the counts.
type lineOut struct {
	w    io.Writer
	p    *Problem
	m    *Mined
	info OutputInfo
	buf  bytes.Buffer
	enc  *json.Encoder
	tmp  bytes.Buffer
}

// corpus returns the text of corpus row c.
func (o *lineOut) corpus(c int) string { return o.p.CorpusText[c] }

// key starts the object (first) or adds a comma, then writes "k":.
func (o *lineOut) key(k string, first bool) {
	if first {
		o.buf.WriteByte('{')
	} else {
		o.buf.WriteByte(',')
	}
	o.str(k)
	o.buf.WriteByte(':')
}

// str writes s as a JSON string (no HTML escaping).
func (o *lineOut) str(s string) {
	o.tmp.Reset()
	o.enc.Encode(s) // strings always encode
	o.buf.Write(bytes.TrimSuffix(o.tmp.Bytes(), []byte{'\n'}))
}

// field writes "k":"v".
func (o *lineOut) field(k, v string, first bool) {
	o.key(k, first)
	o.str(v)
}

// end closes the object, writes the line and counts it.
func (o *lineOut) end() error {
	o.buf.WriteString("}\n")
	_, err := o.w.Write(o.buf.Bytes())
	o.buf.Reset()
	o.info.Rows++
	return err
}
