package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// Token is one token a Model produced: its id, its string in the
// vocabulary and its byte range [Start, End) in the word it came from.
type Token struct {
	ID         int64
	Value      string
	Start, End int
}

// Model turns one pre-token (a word) into tokens. Implementations are
// immutable after parsing and safe for concurrent use.
type Model interface {
	// Tokenize appends the tokens of word to dst. It fails only when
	// word needs an unknown-token id the model does not have.
	Tokenize(dst []Token, word string) ([]Token, error)
	// TokenID returns the id of a vocabulary entry.
	TokenID(token string) (int64, bool)
	// IDToken returns the vocabulary entry of an id.
	IDToken(id int64) (string, bool)
	// VocabSize is the number of vocabulary entries.
	VocabSize() int
	// MaxID is the largest id in the vocabulary.
	MaxID() int64
}

// ModelParser builds a Model from the "model" object of tokenizer.json.
// Errors should name the offending field relative to that object (for
// example "vocab" or "merges[3]") through *FieldError.
type ModelParser func(raw json.RawMessage) (Model, error)

var models = map[string]ModelParser{}

// RegisterModel makes a model type (the "type" field of tokenizer.json's
// "model" object) known to Parse. It is meant to be called from init
// functions; registering a type twice replaces the first parser.
func RegisterModel(typ string, parse ModelParser) { models[typ] = parse }

func init() {
	RegisterModel("WordPiece", parseWordPiece)
	RegisterModel("WordLevel", parseWordLevel)
	RegisterModel("BPE", parseBPE)
	RegisterModel("Unigram", parseUnigram)
}

// FieldError is an error about one field of a tokenizer.json object.
type FieldError struct {
	Field string // e.g. "vocab", "merges[12]"
	Err   error
}

// Error implements error.
func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErrorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// vocab is a validated {token: id} map with its inverse.
type vocab struct {
	ids    map[string]int64
	byID   []string // token of each id; "" for ids with none
	hasID  []bool
	sparse map[int64]string // for sparse ids (truncated vocabularies)
	max    int64
}

// parseVocab reads a {token: id} object, refusing negative and shared ids.
func parseVocab(raw json.RawMessage) (vocab, error) {
	v := vocab{max: -1}
	if isNull(raw) {
		return v, fieldErrorf("vocab", "missing")
	}
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("[")) {
		return v, fieldErrorf("vocab", "want a {token: id} object, not a list")
	}
	if err := json.Unmarshal(raw, &v.ids); err != nil {
		return v, fieldErrorf("vocab", "want a {token: id} object: %v", err)
	}
	for tok, id := range v.ids {
		if id < 0 {
			return v, fieldErrorf("vocab", "token %q has negative id %d", tok, id)
		}
		v.max = max(v.max, id)
	}
	if v.max >= int64(4*len(v.ids)+1024) {
		v.sparse = make(map[int64]string, len(v.ids))
		for _, tok := range sortedKeys(v.ids) {
			id := v.ids[tok]
			if other, dup := v.sparse[id]; dup {
				return v, fieldErrorf("vocab", "tokens %q and %q share id %d", other, tok, id)
			}
			v.sparse[id] = tok
		}
		return v, nil
	}
	v.byID = make([]string, v.max+1)
	v.hasID = make([]bool, v.max+1)
	for _, tok := range sortedKeys(v.ids) {
		id := v.ids[tok]
		if v.hasID[id] {
			return v, fieldErrorf("vocab", "tokens %q and %q share id %d", v.byID[id], tok, id)
		}
		v.byID[id], v.hasID[id] = tok, true
	}
	return v, nil
}

// TokenID implements Model.
func (v *vocab) TokenID(t string) (int64, bool) { id, ok := v.ids[t]; return id, ok }

// IDToken implements Model.
func (v *vocab) IDToken(id int64) (string, bool) {
	if v.sparse != nil {
		t, ok := v.sparse[id]
		return t, ok
	}
	if id < 0 || id >= int64(len(v.byID)) || !v.hasID[id] {
		return "", false
	}
	return v.byID[id], true
}

// token returns the token of an id known to be in the vocabulary.
func (v *vocab) token(id int64) string {
	if v.sparse != nil {
		return v.sparse[id]
	}
	return v.byID[id]
}

// VocabSize implements Model.
func (v *vocab) VocabSize() int { return len(v.ids) }

// MaxID implements Model.
func (v *vocab) MaxID() int64 { return v.max }

// sortedKeys is used for deterministic error messages.
func sortedKeys[M ~map[string]V, V any](m M) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

// errNoUnk is returned when a word needs an unknown token the model lacks.
var errNoUnk = errors.New("the text has a word the vocabulary cannot encode and the model's unk_token is not in the vocabulary")
