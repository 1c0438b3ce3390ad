package dataio

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/embfit/embfit/internal/inputerr"
)

// ErrEmptyInput is wrapped by JSONLReader.Next's error when an input holds
// no record at all.
var ErrEmptyInput = errors.New("empty input: no JSON lines")

// JSONLReader reads a JSON Lines file: one JSON object per line. Blank
// lines are skipped (but counted, so line numbers match the file); a
// UTF-8 byte-order mark and CRLF line ends are accepted. Errors name the
// file and line: "data.jsonl:7: not JSON: ...".
type JSONLReader struct {
	name    string
	r       *bufio.Reader
	closer  io.Closer
	line    int
	records int
}

// OpenJSONL opens path for reading; "-" reads standard input (named
// "<stdin>" in errors). Close it when done.
func OpenJSONL(path string) (*JSONLReader, error) {
	if path == "-" {
		return NewJSONLReader("<stdin>", os.Stdin), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r := NewJSONLReader(path, f)
	r.closer = f
	return r, nil
}

// NewJSONLReader reads JSON lines from r; name is used in errors.
func NewJSONLReader(name string, r io.Reader) *JSONLReader {
	return &JSONLReader{name: name, r: bufio.NewReaderSize(r, 1<<16)}
}

// Name returns the input's name as used in errors.
func (r *JSONLReader) Name() string { return r.name }

// Close closes the underlying file (not standard input).
func (r *JSONLReader) Close() error {
	if r.closer == nil {
		return nil
	}
	return r.closer.Close()
}

// Next returns the next record. At the end of input it returns io.EOF,
// or an error wrapping ErrEmptyInput when the input held no record.
func (r *JSONLReader) Next() (Record, error) {
	for {
		b, err := r.r.ReadBytes('\n')
		if len(b) == 0 && err != nil {
			if err == io.EOF {
				if r.records == 0 {
					return Record{}, inputerr.FileError(r.name, 0, ErrEmptyInput)
				}
				return Record{}, io.EOF
			}
			return Record{}, inputerr.FileError(r.name, r.line+1, err)
		}
		r.line++
		if r.line == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue // blank line; at end of input the next read reports EOF
		}
		if b[0] != '{' {
			if !json.Valid(b) {
				return Record{}, inputerr.FileError(r.name, r.line, fmt.Errorf("not JSON: %s", preview(b)))
			}
			return Record{}, inputerr.FileError(r.name, r.line, fmt.Errorf("want a JSON object, got %s", preview(b)))
		}
		var fields map[string]json.RawMessage
		if jerr := json.Unmarshal(b, &fields); jerr != nil {
			return Record{}, inputerr.FileError(r.name, r.line, fmt.Errorf("not JSON: %v", jerr))
		}
		r.records++
		return Record{File: r.name, Line: r.line, Fields: fields}, nil
	}
}

// ReadJSONL calls fn for every record of path ("-" for standard input),
// stopping at the first error, which it returns (fn's errors unchanged).
func ReadJSONL(path string, fn func(Record) error) error {
	r, err := OpenJSONL(path)
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}

func preview(b []byte) string {
	const max = 40
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "..."
	}
	return strconv.Quote(string(b))
}

// Record is one JSON object of a JSONL input with where it came from.
type Record struct {
	File   string                     // input name, for errors
	Line   int                        // 1-based line number
	Fields map[string]json.RawMessage // the object's members, undecoded
}

// Errorf returns an *InputError naming the record's file and line
// (rendered "file:line: message").
func (r Record) Errorf(format string, args ...any) error {
	return inputerr.FileError(r.File, r.Line, fmt.Errorf(format, args...))
}

// Has reports whether the record has field with a non-null value.
func (r Record) Has(field string) bool {
	v, ok := r.Fields[field]
	return ok && string(v) != "null"
}

// String returns field's value, which must be a JSON string. A missing,
// null or non-string field is an error naming file, line and field.
func (r Record) String(field string) (string, error) {
	v, ok := r.Fields[field]
	if !ok || string(v) == "null" {
		return "", r.Errorf("missing field %q", field)
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", r.Errorf("field %q is not a string: %s", field, preview(v))
	}
	return s, nil
}

// Scalar returns field's value as text when it is a string, number or
// boolean (numbers keep their JSON spelling: 3 → "3"), with ok=false when
// the field is missing or null. Objects and arrays are errors. Use it for
// ids and labels, which may be either strings or numbers.
func (r Record) Scalar(field string) (s string, ok bool, err error) {
	v, present := r.Fields[field]
	if !present || string(v) == "null" {
		return "", false, nil
	}
	switch v[0] {
	case '"':
		if err := json.Unmarshal(v, &s); err != nil {
			return "", false, r.Errorf("field %q: %v", field, err)
		}
		return s, true, nil
	case '{', '[':
		return "", false, r.Errorf("field %q must be a string or number, got %s", field, preview(v))
	}
	return string(v), true, nil
}

// Label returns field's value as a class label, with ok=false when the
// field is missing or null. A label is a JSON string, number or boolean,
// and two labels are the same class when their canonical texts are equal
// (CanonicalLabel): a string is itself, a number its shortest decimal
// form, so 1, 1.0 and 1e0 are one class, and the same as "1" (as in a
// plain-text labels file, which cannot tell them apart). Objects and
// arrays are errors.
func (r Record) Label(field string) (s string, ok bool, err error) {
	s, ok, err = r.Scalar(field)
	if err != nil || !ok {
		return s, ok, err
	}
	if v := r.Fields[field]; v[0] != '"' {
		s = CanonicalLabel(s)
	}
	return s, true, nil
}

// CanonicalLabel returns the canonical text of a JSON number or boolean
// label (see Record.Label): an integer literal keeps its digits (any
// size; -0 is 0); any other number is written in the shortest form that
// reads back as the same float64 (1.0 → 1, 0.50 → 0.5, 1e3 → 1000,
// 2.5e-7 → 2.5e-07); what does not parse as a finite number is returned
// unchanged.
func CanonicalLabel(num string) string {
	if num == "true" || num == "false" {
		return num
	}
	if !strings.ContainsAny(num, ".eE") {
		if num == "-0" {
			return "0"
		}
		return num
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return num
	}
	if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// Strings returns field's value as a list of strings: a JSON string gives
// one element, an array of strings gives its elements. Missing or null
// gives nil.
func (r Record) Strings(field string) ([]string, error) {
	v, ok := r.Fields[field]
	if !ok || string(v) == "null" {
		return nil, nil
	}
	if v[0] == '"' {
		s, err := r.String(field)
		return []string{s}, err
	}
	var ss []string
	if err := json.Unmarshal(v, &ss); err != nil {
		return nil, r.Errorf("field %q must be a string or a list of strings, got %s", field, preview(v))
	}
	return ss, nil
}
