// Package tokenizer encodes text to token ids the way a Hugging Face
// tokenizer.json says, id for id with Hugging Face's own implementation.
//
// Models: WordPiece, WordLevel, BPE (byte-level as in GPT-2, RoBERTa,
// Llama-3 and Qwen, or SentencePiece-style with byte fallback) and
// Unigram (SentencePiece, as in XLM-RoBERTa and T5). Normalizers:
// BertNormalizer, Precompiled (SentencePiece's character map), NFC, NFD,
// NFKC, NFKD, Lowercase, StripAccents, Strip, Replace, Prepend, Sequence.
// Pre-tokenizers: ByteLevel, Split, Metaspace, BertPreTokenizer,
// Whitespace, WhitespaceSplit, Punctuation, Digits, CharDelimiterSplit,
// Sequence. Post-processors: TemplateProcessing, BertProcessing,
// RobertaProcessing, ByteLevel, Sequence. Added tokens are matched in the
// raw text (or, for normalized ones, in the normalized text) with their
// single_word, lstrip and rstrip flags. Pairs of texts, truncation
// (strategy and direction) and the file's padding settings are honoured.
// Decode reverses an encoding with the file's decoder (ByteLevel,
// WordPiece, Metaspace, BPEDecoder, ByteFallback, Fuse, Replace, Strip,
// Sequence).
//
// Each component is registered under its tokenizer.json "type"; models can
// be added from outside the package with RegisterModel.
package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/embfit/embfit/internal/inputerr"
)

// Tokenizer encodes text. It is immutable after Parse (apart from an
// internal cache) and safe for concurrent use.
type Tokenizer struct {
	model      Model
	modelType  string
	norm       normalizer    // nil: none
	pre        preTokenizer  // nil: the whole text is one word
	post       postProcessor // nil: no special tokens
	raw        *matcher      // added tokens matched in the raw text
	normd      *matcher      // added tokens matched in the normalized text
	dec        decoder       // nil: tokens joined by spaces
	addedByID  map[int64]string
	specialIDs map[int64]bool
	maxID      int64

	truncation int    // max_length from the file, 0 if none
	truncLeft  bool   // direction "Left"
	strategy   string // LongestFirst, OnlyFirst, OnlySecond
	padID      int64
	padTypeID  int64
	padToken   string
	padLeft    bool
}

// Encoding is the result of encoding one text or a pair: token ids, their
// type (segment) ids, token strings, the byte range [start, end) of each
// token in the input text it came from ({0, 0} for added special tokens;
// for a pair, offsets of the second text's tokens are into that text),
// and 1 for each special token the post-processor added. It is unpadded;
// the attention mask is 1 for every token.
type Encoding struct {
	IDs               []int64
	TypeIDs           []int64
	Tokens            []string
	Offsets           [][2]int
	SpecialTokensMask []int8
}

// Load reads a tokenizer.json file. Errors about its content are
// *inputerr.Error values naming the file and the field.
func Load(path string) (*Tokenizer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := Parse(b)
	if err != nil {
		var ie *inputerr.Error
		if errors.As(err, &ie) {
			c := *ie
			c.File = path
			return nil, &c
		}
		return nil, inputerr.FileError(path, 0, err)
	}
	return t, nil
}

type fileJSON struct {
	Truncation *struct {
		MaxLength int    `json:"max_length"`
		Strategy  string `json:"strategy"`
		Direction string `json:"direction"`
	} `json:"truncation"`
	Padding *struct {
		Direction string `json:"direction"`
		PadID     int64  `json:"pad_id"`
		PadTypeID int64  `json:"pad_type_id"`
		PadToken  string `json:"pad_token"`
	} `json:"padding"`
	AddedTokens   []json.RawMessage `json:"added_tokens"`
	Normalizer    json.RawMessage   `json:"normalizer"`
	PreTokenizer  json.RawMessage   `json:"pre_tokenizer"`
	PostProcessor json.RawMessage   `json:"post_processor"`
	Decoder       json.RawMessage   `json:"decoder"`
	Model         json.RawMessage   `json:"model"`
}

// fieldErr turns err into an *inputerr.Error naming top (and, for a
// *FieldError, the field inside it).
func fieldErr(top string, err error) error {
	field := top
	var fe *FieldError
	for errors.As(err, &fe) {
		field += "." + fe.Field
		err = fe.Err
	}
	return &inputerr.Error{Field: field, Err: err}
}

// Parse reads tokenizer.json content. Errors are *inputerr.Error values
// naming the field at fault (for example "model.merges[12]").
func Parse(data []byte) (*Tokenizer, error) {
	var f fileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("not a tokenizer.json: %w", err)
	}
	t := &Tokenizer{strategy: "LongestFirst", addedByID: map[int64]string{}, specialIDs: map[int64]bool{}}
	var h struct {
		Type                    string          `json:"type"`
		Merges                  json.RawMessage `json:"merges"`
		ContinuingSubwordPrefix json.RawMessage `json:"continuing_subword_prefix"`
		MaxInputCharsPerWord    json.RawMessage `json:"max_input_chars_per_word"`
	}
	if isNull(f.Model) {
		return nil, fieldErr("model", errors.New("missing"))
	}
	if err := json.Unmarshal(f.Model, &h); err != nil {
		return nil, fieldErr("model", err)
	}
	typ := h.Type
	if typ == "" { // older files leave the model type implicit
		switch {
		case h.Merges != nil:
			typ = "BPE"
		case h.ContinuingSubwordPrefix != nil || h.MaxInputCharsPerWord != nil:
			typ = "WordPiece"
		default:
			typ = "WordLevel"
		}
	}
	parse, ok := models[typ]
	if !ok {
		return nil, fieldErr("model.type", fmt.Errorf("model %q not supported", typ))
	}
	m, err := parse(f.Model)
	if err != nil {
		return nil, fieldErr("model", err)
	}
	t.model, t.modelType = m, typ
	t.maxID = m.MaxID()
	if t.norm, err = normalizers.parse(f.Normalizer); err != nil {
		return nil, fieldErr("normalizer", err)
	}
	if t.pre, err = preTokenizers.parse(f.PreTokenizer); err != nil {
		return nil, fieldErr("pre_tokenizer", err)
	}
	if t.post, err = postProcessors.parse(f.PostProcessor); err != nil {
		return nil, fieldErr("post_processor", err)
	}
	if t.dec, err = decoders.parse(f.Decoder); err != nil {
		return nil, fieldErr("decoder", err)
	}
	var rawToks, normToks []*addedToken
	for i, r := range f.AddedTokens {
		a := new(addedToken)
		field := fmt.Sprintf("added_tokens[%d]", i)
		if err := json.Unmarshal(r, a); err != nil {
			return nil, fieldErr(field, err)
		}
		if a.ID < 0 {
			return nil, fieldErr(field+".id", fmt.Errorf("negative id %d", a.ID))
		}
		t.addedByID[a.ID] = a.Content
		if a.Special {
			t.specialIDs[a.ID] = true
		}
		t.maxID = max(t.maxID, a.ID)
		a.match = a.Content
		if a.isNormalized() && t.norm != nil {
			n := newNormalized(a.Content, 0)
			t.norm.normalize(n)
			a.match = n.s
			normToks = append(normToks, a)
		} else {
			rawToks = append(rawToks, a)
		}
	}
	t.raw, t.normd = newMatcher(rawToks), newMatcher(normToks)
	if tp, ok := t.post.(*template); ok {
		for _, p := range append(append([]templatePiece(nil), tp.single...), tp.pair...) {
			for _, id := range p.ids {
				t.specialIDs[id] = true
			}
		}
	}
	if f.Truncation != nil {
		if f.Truncation.MaxLength < 0 {
			return nil, fieldErr("truncation.max_length", fmt.Errorf("%d is negative", f.Truncation.MaxLength))
		}
		t.truncation = f.Truncation.MaxLength
		switch f.Truncation.Direction {
		case "", "Right":
		case "Left":
			t.truncLeft = true
		default:
			return nil, fieldErr("truncation.direction", fmt.Errorf("%q is not Left or Right", f.Truncation.Direction))
		}
		switch f.Truncation.Strategy {
		case "":
		case "LongestFirst", "OnlyFirst", "OnlySecond":
			t.strategy = f.Truncation.Strategy
		default:
			return nil, fieldErr("truncation.strategy", fmt.Errorf("%q is not LongestFirst, OnlyFirst or OnlySecond", f.Truncation.Strategy))
		}
	}
	t.padID, t.padToken = 0, "[PAD]"
	switch {
	case f.Padding != nil:
		if f.Padding.PadID < 0 {
			return nil, fieldErr("padding.pad_id", fmt.Errorf("negative id %d", f.Padding.PadID))
		}
		t.padID, t.padToken, t.padTypeID = f.Padding.PadID, f.Padding.PadToken, f.Padding.PadTypeID
		t.padLeft = f.Padding.Direction == "Left"
	default:
		for _, cand := range []string{"[PAD]", "<pad>", "<PAD>", "<|endoftext|>"} {
			if id, ok := t.TokenID(cand); ok {
				t.padID, t.padToken = id, cand
				break
			}
		}
	}
	return t, nil
}

// PadID is the id used to pad sequences: the file's padding.pad_id, else
// the id of "[PAD]" (or "<pad>", "<PAD>", "<|endoftext|>"), else 0.
func (t *Tokenizer) PadID() int64 { return t.padID }

// PadToken is the token string of PadID.
func (t *Tokenizer) PadToken() string { return t.padToken }

// PadTypeID is the type id of padding (the file's padding.pad_type_id).
func (t *Tokenizer) PadTypeID() int64 { return t.padTypeID }

// PadLeft reports whether the file pads on the left (padding.direction
// "Left", as decoder models do).
func (t *Tokenizer) PadLeft() bool { return t.padLeft }

// MaxLength is the file's truncation.max_length, or 0 when it sets none.
func (t *Tokenizer) MaxLength() int { return t.truncation }

// VocabSize is the number of entries of the model's vocabulary (added
// tokens not counted).
func (t *Tokenizer) VocabSize() int { return t.model.VocabSize() }

// MaxID is the largest id Encode can produce (model vocabulary, added
// tokens and post-processor tokens); an embedding table needs MaxID()+1
// rows.
func (t *Tokenizer) MaxID() int64 {
	m := t.maxID
	if tp, ok := t.post.(*template); ok {
		for _, p := range append(append([]templatePiece(nil), tp.single...), tp.pair...) {
			for _, id := range p.ids {
				m = max(m, id)
			}
		}
	}
	return m
}

// Model returns the tokenizer's model.
func (t *Tokenizer) Model() Model { return t.model }

// NumSpecialTokens is how many special tokens Encode adds to one text
// (2 for [CLS] … [SEP]).
func (t *Tokenizer) NumSpecialTokens() int {
	if t.post == nil {
		return 0
	}
	return t.post.numAdded(false)
}

// ModelType is the tokenizer model's type as tokenizer.json names it
// ("WordPiece", "WordLevel", "BPE", "Unigram", or a registered one).
func (t *Tokenizer) ModelType() string { return t.modelType }

// IsSpecial reports whether id is a special token: an added token marked
// special, or one the post-processor adds.
func (t *Tokenizer) IsSpecial(id int64) bool { return t.specialIDs[id] }

// Token returns the token string of id (an added token or a vocabulary
// entry), or "" if unknown.
func (t *Tokenizer) Token(id int64) string {
	if s, ok := t.addedByID[id]; ok {
		return s
	}
	s, _ := t.model.IDToken(id)
	return s
}

// TokenID returns the id of a token string (an added token or a
// vocabulary entry).
func (t *Tokenizer) TokenID(token string) (int64, bool) {
	for _, m := range []*matcher{t.raw, t.normd} {
		if len(token) > 0 {
			for _, a := range m.byFirst[token[0]] {
				if a.Content == token {
					return a.ID, true
				}
			}
		}
	}
	return t.model.TokenID(token)
}

// Encode is EncodeText without its error: words the model cannot encode
// (possible only with a model whose unk_token is not in its vocabulary)
// are left out.
func (t *Tokenizer) Encode(text string, maxLen int) Encoding {
	e, _ := t.encode(text, "", false, maxLen, true)
	return e
}

// EncodeText tokenizes one text and adds the post-processor's special
// tokens. When maxLen > 0 the result, special tokens included, has at
// most maxLen tokens; when maxLen is 0 the file's truncation.max_length
// applies if it has one. Tokens are cut at the end, or at the start when
// the file's truncation direction is "Left".
func (t *Tokenizer) EncodeText(text string, maxLen int) (Encoding, error) {
	return t.encode(text, "", false, maxLen, false)
}

// EncodePair tokenizes a text and its pair (as cross-encoders take them):
// special tokens follow the post-processor's pair template and the type
// ids mark the second text. Truncation to maxLen (as in EncodeText)
// follows the file's strategy: LongestFirst (the default) removes tokens
// from the longer text first; OnlyFirst and OnlySecond cut only one text
// and fail when it is too short.
func (t *Tokenizer) EncodePair(text, pair string, maxLen int) (Encoding, error) {
	return t.encode(text, pair, true, maxLen, false)
}

func (t *Tokenizer) encode(text, pair string, isPair bool, maxLen int, lenient bool) (Encoding, error) {
	if maxLen <= 0 {
		maxLen = t.truncation
	}
	a, err := t.tokenize(text, lenient)
	if err != nil {
		return Encoding{}, err
	}
	var b *seq
	if isPair {
		if b, err = t.tokenize(pair, lenient); err != nil {
			return Encoding{}, err
		}
	}
	if maxLen > 0 {
		added := 0
		if t.post != nil {
			added = t.post.numAdded(isPair)
		}
		if err := t.truncate(a, b, max(maxLen-added, 0)); err != nil {
			return Encoding{}, err
		}
	}
	if t.post == nil {
		e := Encoding{IDs: a.ids, Tokens: a.tokens, Offsets: a.offsets, TypeIDs: make([]int64, len(a.ids)), SpecialTokensMask: make([]int8, len(a.ids))}
		if b != nil {
			e.IDs = append(e.IDs, b.ids...)
			e.Tokens = append(e.Tokens, b.tokens...)
			e.Offsets = append(e.Offsets, b.offsets...)
			for range b.ids {
				e.TypeIDs = append(e.TypeIDs, 1)
				e.SpecialTokensMask = append(e.SpecialTokensMask, 0)
			}
		}
		return e, nil
	}
	return t.post.process(a, b, isPair), nil
}

func (s *seq) keep(n int, left bool) {
	if len(s.ids) <= n {
		return
	}
	if left {
		k := len(s.ids) - n
		s.ids, s.tokens, s.offsets = s.ids[k:], s.tokens[k:], s.offsets[k:]
		return
	}
	s.ids, s.tokens, s.offsets = s.ids[:n], s.tokens[:n], s.offsets[:n]
}

// truncate cuts a (and b) to max tokens in all, as Hugging Face's
// truncate_encodings does.
func (t *Tokenizer) truncate(a, b *seq, maxLen int) error {
	if b == nil {
		a.keep(maxLen, t.truncLeft)
		return nil
	}
	n1, n2 := len(a.ids), len(b.ids)
	if n1+n2 <= maxLen {
		return nil
	}
	remove := n1 + n2 - maxLen
	switch t.strategy {
	case "OnlyFirst", "OnlySecond":
		s := a
		if t.strategy == "OnlySecond" {
			s = b
		}
		if len(s.ids) <= remove {
			return fmt.Errorf("truncation: the %s text is too short to cut %d tokens (strategy %s)",
				map[bool]string{true: "first", false: "second"}[s == a], remove, t.strategy)
		}
		s.keep(len(s.ids)-remove, t.truncLeft)
		return nil
	}
	// LongestFirst.
	swap := n1 > n2
	if swap {
		n1, n2 = n2, n1
	}
	if n1 > maxLen {
		n2 = n1
	} else {
		n2 = max(n1, maxLen-n1)
	}
	if n1+n2 > maxLen {
		n1 = maxLen / 2
		n2 = n1 + maxLen%2
	}
	if swap {
		n1, n2 = n2, n1
	}
	a.keep(n1, t.truncLeft)
	b.keep(n2, t.truncLeft)
	return nil
}

// scratch holds tokenize's working buffers between calls.
type scratch struct {
	cuts, sub []cut
	pieces    []piece
	toks      []Token
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// tokenize runs added-token matching, normalization, pre-tokenization and
// the model over one text.
func (t *Tokenizer) tokenize(text string, lenient bool) (*seq, error) {
	s := &seq{}
	guess := len(text)/3 + 2
	s.ids = make([]int64, 0, guess)
	s.tokens = make([]string, 0, guess)
	s.offsets = make([][2]int, 0, guess)
	emit := func(id int64, tok string, sp span) {
		s.ids = append(s.ids, id)
		s.tokens = append(s.tokens, tok)
		s.offsets = append(s.offsets, [2]int{int(sp.start), int(sp.end)})
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	cuts, sub, pieces, toks := sc.cuts[:0], sc.sub[:0], sc.pieces[:0], sc.toks[:0]
	defer func() {
		// Keep the grown buffers, without references into this text.
		clear(pieces[:cap(pieces)])
		clear(toks[:cap(toks)])
		sc.cuts, sc.sub, sc.pieces, sc.toks = cuts[:0], sub[:0], pieces[:0], toks[:0]
	}()
	cuts = t.raw.split(text, cuts)
	for _, c := range cuts {
		if c.tok != nil {
			emit(c.tok.ID, c.tok.Content, span{int32(c.start), int32(c.end)})
			continue
		}
		n := newNormalized(text[c.start:c.end], c.start)
		if t.norm != nil {
			t.norm.normalize(n)
		}
		sub = t.normd.split(n.s, sub[:0])
		for _, d := range sub {
			if d.tok != nil {
				emit(d.tok.ID, d.tok.Content, n.spanOf(d.start, d.end))
				continue
			}
			if d.end == d.start {
				continue
			}
			p := piece{s: n.s[d.start:d.end], start: int32(d.start), first: c.start == 0 && d.start == 0}
			pieces = pieces[:0]
			if t.pre != nil {
				pieces = t.pre.preTokenize(pieces, p)
			} else if p.s != "" {
				pieces = append(pieces, p)
			}
			for i := range pieces {
				pc := &pieces[i]
				var err error
				toks, err = t.model.Tokenize(toks[:0], pc.s)
				if err != nil && !lenient {
					return nil, err
				}
				for _, tk := range toks {
					emit(tk.ID, tk.Value, n.spanOf(pc.at(tk.Start), pc.at(tk.End)))
				}
			}
		}
	}
	return s, nil
}
