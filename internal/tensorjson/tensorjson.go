// Package tensorjson reads tensors written as JSON number arrays, nested
// (rectangular) or flat, checks them against a model's fixed item shape,
// and gives each tensor one canonical text, so that tensors can be keyed,
// de-duplicated and cached like texts.
package tensorjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// Decode reads a JSON number array, possibly nested (rectangular), and
// returns its values in row-major order and its shape.
func Decode(v []byte) ([]float32, []int64, error) {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, errors.New("trailing data")
	}
	if _, ok := x.([]any); !ok {
		return nil, nil, errors.New("want an array of numbers")
	}
	var vals []float32
	var shape []int64
	leaf := -1 // the depth of the numbers, once one is seen
	var walk func(x any, depth int) error
	walk = func(x any, depth int) error {
		switch t := x.(type) {
		case []any:
			switch {
			case len(t) == 0:
				return errors.New("empty array")
			case leaf >= 0 && depth >= leaf:
				return errors.New("not a rectangular array")
			case depth == len(shape):
				shape = append(shape, int64(len(t)))
			case shape[depth] != int64(len(t)):
				return errors.New("not a rectangular array")
			}
			for _, e := range t {
				if err := walk(e, depth+1); err != nil {
					return err
				}
			}
			return nil
		case json.Number:
			if leaf < 0 {
				leaf = depth
			}
			if depth != leaf || depth != len(shape) {
				return errors.New("not a rectangular array")
			}
			f, err := strconv.ParseFloat(string(t), 32)
			if errors.Is(err, strconv.ErrRange) && !math.IsInf(f, 0) {
				err = nil // a tiny value, rounded to zero or a subnormal
			}
			if err != nil {
				if errors.Is(err, strconv.ErrRange) {
					return fmt.Errorf("%s is outside the float32 range", t)
				}
				return fmt.Errorf("%s is not a float32", t)
			}
			vals = append(vals, float32(f))
			return nil
		}
		return errors.New("want an array of numbers")
	}
	if err := walk(x, 0); err != nil {
		return nil, nil, err
	}
	if len(vals) == 0 {
		return nil, nil, errors.New("empty array")
	}
	return vals, shape, nil
}

// CheckShape checks an item of shape got against a model's fixed item
// shape want: dimension by dimension, or by the number of values when got
// is flat (rank 1). Its error says which dimension differs.
func CheckShape(got, want []int64) error {
	n := Count(want)
	if len(got) == 1 && len(want) != 1 {
		if got[0] != n {
			return fmt.Errorf("%d values, the model's item shape %v needs %d", got[0], want, n)
		}
		return nil
	}
	if len(got) != len(want) {
		return fmt.Errorf("shape %v has rank %d, the model's item shape %v has rank %d (or give a flat array of %d values)", got, len(got), want, len(want), n)
	}
	for i := range got {
		if got[i] != want[i] {
			return fmt.Errorf("shape %v: dimension %d has %d values, the model's item shape %v needs %d", got, i+1, got[i], want, want[i])
		}
	}
	return nil
}

// Count is the number of values of shape.
func Count(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// Canonical is the canonical text of a tensor's values: a flat JSON array
// of the shortest decimal forms that read back as the same float32s.
// Equal values give equal texts.
func Canonical(vals []float32) string {
	b := make([]byte, 0, 8*len(vals)+2)
	b = append(b, '[')
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(v), 'g', -1, 32)
	}
	return string(append(b, ']'))
}

// ParseCanonical reads a Canonical text into dst (len(dst) values).
func ParseCanonical(s string, dst []float32) error {
	vals, shape, err := Decode([]byte(s))
	if err != nil {
		return err
	}
	if len(shape) != 1 || len(vals) != len(dst) {
		return fmt.Errorf("want a flat array of %d values", len(dst))
	}
	copy(dst, vals)
	return nil
}
