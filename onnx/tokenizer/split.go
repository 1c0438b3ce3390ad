package tokenizer

import (
	"encoding/json"
	"errors"
)

// split is the Split pre-tokenizer: cut at a pattern's matches (or, with
// invert, at everything between them) with one of the behaviours.
type split struct {
	pat    pattern
	b      behavior
	invert bool
}

func parseSplit(raw json.RawMessage) (preTokenizer, error) {
	var c struct {
		Pattern  json.RawMessage `json:"pattern"`
		Behavior string          `json:"behavior"`
		Invert   bool            `json:"invert"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	if isNull(c.Pattern) {
		return nil, &FieldError{Field: "pattern", Err: errors.New("missing")}
	}
	p, err := parsePattern(c.Pattern)
	if err != nil {
		return nil, &FieldError{Field: "pattern", Err: err}
	}
	b, err := parseBehavior(c.Behavior)
	if err != nil {
		return nil, &FieldError{Field: "behavior", Err: err}
	}
	return split{pat: p, b: b, invert: c.Invert}, nil
}

func (s split) preTokenize(dst []piece, p piece) []piece {
	// Empty matches still cut the text, as in Hugging Face.
	return splitByMatches(dst, p, s.pat.findAll(p.s, nil), s.b, s.invert)
}
