package tokenizer

import (
	"encoding/json"
	"fmt"
)

// registry maps the "type" of one kind of tokenizer.json component
// (normalizer, pre-tokenizer, post-processor, decoder) to its parser. Each
// kind has one; adding a component type is one file with its parser and a
// register call.
type registry[T any] map[string]func(raw json.RawMessage) (T, error)

// register makes typ known; registering it again replaces the parser.
func (r registry[T]) register(typ string, parse func(raw json.RawMessage) (T, error)) {
	r[typ] = parse
}

// parse reads one component object by its "type"; null gives the zero T
// (no component).
func (r registry[T]) parse(raw json.RawMessage) (T, error) {
	var zero T
	if isNull(raw) {
		return zero, nil
	}
	var h struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return zero, err
	}
	parse, ok := r[h.Type]
	if !ok {
		return zero, fmt.Errorf("type %q not supported", h.Type)
	}
	c, err := parse(raw)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", h.Type, err)
	}
	return c, nil
}
