package tokenizer

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// WordPiece is BERT's greedy longest-match-first subword model.
type WordPiece struct {
	vocab
	unk        string
	unkID      int64 // -1: unk_token not in the vocabulary
	prefix     string
	maxWordLen int
}

var _ Model = (*WordPiece)(nil)

func parseWordPiece(raw json.RawMessage) (Model, error) {
	var c struct {
		Vocab                   json.RawMessage `json:"vocab"`
		UnkToken                *string         `json:"unk_token"`
		ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
		MaxInputCharsPerWord    *int            `json:"max_input_chars_per_word"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	v, err := parseVocab(c.Vocab)
	if err != nil {
		return nil, err
	}
	w := &WordPiece{vocab: v, unk: "[UNK]", unkID: -1, prefix: "##", maxWordLen: 100}
	if c.UnkToken != nil {
		w.unk = *c.UnkToken
	}
	// Hugging Face loads files whose unk_token is missing from the
	// vocabulary; it fails only when an unknown word occurs.
	if id, ok := v.ids[w.unk]; ok {
		w.unkID = id
	}
	if c.ContinuingSubwordPrefix != nil {
		w.prefix = *c.ContinuingSubwordPrefix
	}
	if c.MaxInputCharsPerWord != nil {
		if *c.MaxInputCharsPerWord < 0 {
			return nil, fieldErrorf("max_input_chars_per_word", "%d is negative", *c.MaxInputCharsPerWord)
		}
		w.maxWordLen = *c.MaxInputCharsPerWord
	}
	return w, nil
}

func (w *WordPiece) unknown(dst []Token, word string) ([]Token, error) {
	if w.unkID < 0 {
		return dst, fmt.Errorf("WordPiece: %w (%q)", errNoUnk, w.unk)
	}
	return append(dst, Token{ID: w.unkID, Value: w.unk, Start: 0, End: len(word)}), nil
}

// Tokenize implements Model.
func (w *WordPiece) Tokenize(dst []Token, word string) ([]Token, error) {
	if utf8.RuneCountInString(word) > w.maxWordLen {
		return w.unknown(dst, word)
	}
	// buf holds the candidate piece; map lookups with string(buf) do not
	// allocate.
	var arr [64]byte
	buf := arr[:0]
	start := len(dst)
	for pos := 0; pos < len(word); {
		end := len(word)
		found := false
		for end > pos {
			buf = buf[:0]
			if pos > 0 {
				buf = append(buf, w.prefix...)
			}
			buf = append(buf, word[pos:end]...)
			if id, ok := w.ids[string(buf)]; ok {
				dst = append(dst, Token{ID: id, Value: w.token(id), Start: pos, End: end})
				found = true
				break
			}
			_, size := utf8.DecodeLastRuneInString(word[pos:end])
			end -= size
		}
		if !found {
			return w.unknown(dst[:start], word)
		}
		pos = end
	}
	return dst, nil
}
