package tokenizer

import (
	"encoding/json"
	"fmt"
)

// WordLevel maps each whole word to its id, or to the unknown token.
type WordLevel struct {
	vocab
	unk   string
	unkID int64 // -1: none
}

var _ Model = (*WordLevel)(nil)

func parseWordLevel(raw json.RawMessage) (Model, error) {
	var c struct {
		Vocab    json.RawMessage `json:"vocab"`
		UnkToken *string         `json:"unk_token"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	v, err := parseVocab(c.Vocab)
	if err != nil {
		return nil, err
	}
	w := &WordLevel{vocab: v, unk: "<unk>", unkID: -1}
	if c.UnkToken != nil {
		w.unk = *c.UnkToken
	}
	if id, ok := v.ids[w.unk]; ok {
		w.unkID = id
	} else if c.UnkToken != nil {
		return nil, fieldErrorf("unk_token", "%q is not in the vocabulary", w.unk)
	}
	return w, nil
}

// Tokenize implements Model.
func (w *WordLevel) Tokenize(dst []Token, word string) ([]Token, error) {
	if id, ok := w.ids[word]; ok {
		return append(dst, Token{ID: id, Value: w.token(id), End: len(word)}), nil
	}
	if w.unkID < 0 {
		return dst, fmt.Errorf("WordLevel: %w (%q)", errNoUnk, w.unk)
	}
	return append(dst, Token{ID: w.unkID, Value: w.unk, End: len(word)}), nil
}
