// Package tokenizer encodes text to token ids the way a Hugging Face
// `tokenizer.json` says, for the BERT family of tokenizers: WordPiece and
// WordLevel models; BertNormalizer (and Lowercase, NFC/NFD/NFKC/NFKD,
// StripAccents, Sequence); BertPreTokenizer (and Whitespace,
// WhitespaceSplit); TemplateProcessing or BertProcessing special tokens;
// added tokens matched verbatim in the input (those marked
// "normalized": false, as BERT's special tokens are; normalized added
// tokens are tokenized like any text); truncation. Pairs of texts are not
// supported (the "pair" template is ignored).
//
// It reproduces the Rust `tokenizers` library's ids for these components
// (checked against published reference encodings in the tests). Other
// components (BPE, Unigram, Metaspace, ByteLevel, ...) are rejected by
// Load with an error naming them. No existing pure-Go library was exact:
// github.com/sugarme/tokenizer v0.3.0 maps "Héllo" to [UNK] instead of
// stripping the accent as BertNormalizer does.
package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Tokenizer encodes text. It is immutable after Load and safe for
// concurrent use.
type Tokenizer struct {
	vocab       map[string]int64
	entries     map[string]vocabEntry // vocab plus the canonical token string
	idToToken   map[int64]string
	wordPiece   bool // else WordLevel
	unk         string
	unkID       int64
	prefix      string
	maxWordLen  int
	normalize   func(string) string
	preTokenize func(string) []string
	single      []templatePiece // nil: no special tokens
	added       []addedToken    // sorted longest first
	truncation  int             // max_length from the file, 0 if none
	padID       int64
	padToken    string
	special     map[int64]bool // special added tokens and template tokens
}

type templatePiece struct {
	sequence bool // the input sequence, else special tokens
	typeID   int64
	ids      []int64
	tokens   []string
}

type vocabEntry struct {
	id  int64
	tok string
}

type addedToken struct {
	ID         int64  `json:"id"`
	Content    string `json:"content"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// Encoding is the result of encoding one text: token ids, their type
// (segment) ids and token strings, special tokens included, unpadded. The
// attention mask is 1 for each of them.
type Encoding struct {
	IDs     []int64
	TypeIDs []int64
	Tokens  []string
}

// Load reads a tokenizer.json file.
func Load(path string) (*Tokenizer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

type fileJSON struct {
	Truncation *struct {
		MaxLength int `json:"max_length"`
	} `json:"truncation"`
	Padding *struct {
		PadID    int64  `json:"pad_id"`
		PadToken string `json:"pad_token"`
	} `json:"padding"`
	AddedTokens   []addedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Model         struct {
		Type                    string          `json:"type"`
		Vocab                   json.RawMessage `json:"vocab"`
		Merges                  json.RawMessage `json:"merges"`
		UnkToken                *string         `json:"unk_token"`
		ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
		MaxInputCharsPerWord    *int            `json:"max_input_chars_per_word"`
	} `json:"model"`
}

// Parse reads tokenizer.json content.
func Parse(data []byte) (*Tokenizer, error) {
	var f fileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("not a tokenizer.json: %w", err)
	}
	t := &Tokenizer{unkID: -1, maxWordLen: 100, prefix: "##"}
	typ := f.Model.Type
	if typ == "" { // older files leave the model type implicit
		switch {
		case f.Model.Merges != nil:
			typ = "BPE"
		case f.Model.ContinuingSubwordPrefix != nil || f.Model.MaxInputCharsPerWord != nil:
			typ = "WordPiece"
		default:
			typ = "WordLevel"
		}
	}
	switch typ {
	case "WordPiece":
		t.wordPiece = true
	case "WordLevel":
	default:
		return nil, fmt.Errorf("tokenizer model %q not supported (WordPiece and WordLevel are)", typ)
	}
	if err := json.Unmarshal(f.Model.Vocab, &t.vocab); err != nil || len(t.vocab) == 0 {
		return nil, fmt.Errorf("model.vocab: want a non-empty {token: id} object")
	}
	t.idToToken = make(map[int64]string, len(t.vocab))
	t.entries = make(map[string]vocabEntry, len(t.vocab))
	for tok, id := range t.vocab {
		t.idToToken[id] = tok
		t.entries[tok] = vocabEntry{id: id, tok: tok}
	}
	if f.Model.UnkToken != nil {
		t.unk = *f.Model.UnkToken
		if id, ok := t.vocab[t.unk]; ok {
			t.unkID = id
		}
	}
	if t.unkID < 0 {
		return nil, fmt.Errorf("model.unk_token %q is not in the vocabulary", t.unk)
	}
	if f.Model.ContinuingSubwordPrefix != nil {
		t.prefix = *f.Model.ContinuingSubwordPrefix
	}
	if f.Model.MaxInputCharsPerWord != nil {
		t.maxWordLen = *f.Model.MaxInputCharsPerWord
	}
	t.special = map[int64]bool{}
	for _, a := range f.AddedTokens {
		if a.Special {
			t.special[a.ID] = true
		}
		t.idToToken[a.ID] = a.Content
		if !a.Normalized && a.Content != "" {
			t.added = append(t.added, a)
		}
	}
	sort.SliceStable(t.added, func(i, j int) bool { return len(t.added[i].Content) > len(t.added[j].Content) })
	var err error
	if t.normalize, err = parseNormalizer(f.Normalizer); err != nil {
		return nil, fmt.Errorf("normalizer: %w", err)
	}
	if t.preTokenize, err = parsePreTokenizer(f.PreTokenizer); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	if t.single, err = parsePostProcessor(f.PostProcessor, t.vocab); err != nil {
		return nil, fmt.Errorf("post_processor: %w", err)
	}
	for _, p := range t.single {
		for _, id := range p.ids {
			t.special[id] = true
		}
	}
	if f.Truncation != nil {
		t.truncation = f.Truncation.MaxLength
	}
	t.padID, t.padToken = 0, "[PAD]"
	if f.Padding != nil {
		t.padID, t.padToken = f.Padding.PadID, f.Padding.PadToken
	} else if id, ok := t.vocab["[PAD]"]; ok {
		t.padID = id
	} else if id, ok := t.vocab["<pad>"]; ok {
		t.padID, t.padToken = id, "<pad>"
	}
	return t, nil
}

// PadID is the id used to pad sequences: the file's padding.pad_id, else
// the id of "[PAD]" (or "<pad>"), else 0.
func (t *Tokenizer) PadID() int64 { return t.padID }

// PadToken is the token string of PadID.
func (t *Tokenizer) PadToken() string { return t.padToken }

// MaxLength is the file's truncation.max_length, or 0 when it sets none.
func (t *Tokenizer) MaxLength() int { return t.truncation }

// VocabSize is the number of entries of the model's vocabulary.
func (t *Tokenizer) VocabSize() int { return len(t.vocab) }

// NumSpecialTokens is how many special tokens Encode adds to one text
// (2 for [CLS] … [SEP]).
func (t *Tokenizer) NumSpecialTokens() int {
	n := 0
	for _, p := range t.single {
		n += len(p.ids)
	}
	return n
}

// ModelType is the tokenizer model's family: "WordPiece" or "WordLevel".
func (t *Tokenizer) ModelType() string {
	if t.wordPiece {
		return "WordPiece"
	}
	return "WordLevel"
}

// IsSpecial reports whether id is a special token: an added token marked
// special, or one the post-processor adds.
func (t *Tokenizer) IsSpecial(id int64) bool { return t.special[id] }

// Token returns the token string of id, or "" if unknown.
func (t *Tokenizer) Token(id int64) string { return t.idToToken[id] }

// Encode tokenizes one text. When maxLen > 0 the result, special tokens
// included, has at most maxLen tokens: the text's tokens are cut at the
// end (HF's "Right" truncation); when maxLen is 0, the file's
// truncation.max_length applies if it has one.
func (t *Tokenizer) Encode(text string, maxLen int) Encoding {
	if maxLen <= 0 {
		maxLen = t.truncation
	}
	guess := len(text)/3 + 2
	ids := make([]int64, 0, guess)
	toks := make([]string, 0, guess)
	for _, seg := range t.splitAdded(text) {
		if seg.added != nil {
			ids = append(ids, seg.added.ID)
			toks = append(toks, seg.added.Content)
			continue
		}
		for _, word := range t.preTokenize(t.normalize(seg.text)) {
			ids, toks = t.model(word, ids, toks)
		}
	}
	if maxLen > 0 {
		keep := maxLen - t.NumSpecialTokens()
		if keep < 0 {
			keep = 0
		}
		if len(ids) > keep {
			ids, toks = ids[:keep], toks[:keep]
		}
	}
	if t.single == nil {
		return Encoding{IDs: ids, TypeIDs: make([]int64, len(ids)), Tokens: toks}
	}
	n := len(ids) + t.NumSpecialTokens()
	e := Encoding{IDs: make([]int64, 0, n), TypeIDs: make([]int64, 0, n), Tokens: make([]string, 0, n)}
	for _, p := range t.single {
		if p.sequence {
			e.IDs = append(e.IDs, ids...)
			e.Tokens = append(e.Tokens, toks...)
			for range ids {
				e.TypeIDs = append(e.TypeIDs, p.typeID)
			}
			continue
		}
		e.IDs = append(e.IDs, p.ids...)
		e.Tokens = append(e.Tokens, p.tokens...)
		for range p.ids {
			e.TypeIDs = append(e.TypeIDs, p.typeID)
		}
	}
	return e
}

type segment struct {
	text  string
	added *addedToken
}

// splitAdded cuts text around occurrences of added tokens (e.g. a literal
// "[MASK]"), longest match first, leftmost first.
func (t *Tokenizer) splitAdded(text string) []segment {
	if len(t.added) == 0 {
		return []segment{{text: text}}
	}
	var out []segment
	for len(text) > 0 {
		best, bestAt := -1, len(text)
		for i, a := range t.added {
			if at := strings.Index(text, a.Content); at >= 0 && at < bestAt {
				best, bestAt = i, at
			}
		}
		if best < 0 {
			break
		}
		if bestAt > 0 {
			out = append(out, segment{text: text[:bestAt]})
		}
		out = append(out, segment{added: &t.added[best]})
		text = text[bestAt+len(t.added[best].Content):]
	}
	if len(text) > 0 {
		out = append(out, segment{text: text})
	}
	return out
}

// model appends the ids and tokens of one pre-token.
func (t *Tokenizer) model(word string, ids []int64, toks []string) ([]int64, []string) {
	if !t.wordPiece {
		if e, ok := t.entries[word]; ok {
			return append(ids, e.id), append(toks, e.tok)
		}
		return append(ids, t.unkID), append(toks, t.unk)
	}
	if utf8.RuneCountInString(word) > t.maxWordLen {
		return append(ids, t.unkID), append(toks, t.unk)
	}
	// Greedy longest-match-first, as in BERT's WordPiece. buf holds the
	// candidate piece; map lookups with string(buf) do not allocate.
	var arr [64]byte
	buf := arr[:0]
	start := len(ids)
	for pos := 0; pos < len(word); {
		end := len(word)
		found := false
		for end > pos {
			buf = buf[:0]
			if pos > 0 {
				buf = append(buf, t.prefix...)
			}
			buf = append(buf, word[pos:end]...)
			if e, ok := t.entries[string(buf)]; ok {
				ids, toks = append(ids, e.id), append(toks, e.tok)
				found = true
				break
			}
			_, size := utf8.DecodeLastRuneInString(word[pos:end])
			end -= size
		}
		if !found {
			return append(ids[:start], t.unkID), append(toks[:start], t.unk)
		}
		pos = end
	}
	return ids, toks
}

// ---- normalizers ----

func parseNormalizer(raw json.RawMessage) (func(string) string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return func(s string) string { return s }, nil
	}
	var n struct {
		Type               string            `json:"type"`
		CleanText          *bool             `json:"clean_text"`
		HandleChineseChars *bool             `json:"handle_chinese_chars"`
		StripAccents       *bool             `json:"strip_accents"`
		Lowercase          *bool             `json:"lowercase"`
		Normalizers        []json.RawMessage `json:"normalizers"`
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return nil, err
	}
	orTrue := func(b *bool) bool { return b == nil || *b }
	switch n.Type {
	case "BertNormalizer":
		clean, chinese, lower := orTrue(n.CleanText), orTrue(n.HandleChineseChars), orTrue(n.Lowercase)
		strip := lower // strip_accents: null follows lowercase
		if n.StripAccents != nil {
			strip = *n.StripAccents
		}
		return func(s string) string {
			if isASCII(s) {
				return bertNormalizeASCII(s, clean, lower)
			}
			if clean {
				s = cleanText(s)
			}
			if chinese {
				s = padChinese(s)
			}
			if strip {
				s = stripAccents(s)
			}
			if lower {
				s = strings.ToLower(s)
			}
			return s
		}, nil
	case "Lowercase":
		return strings.ToLower, nil
	case "StripAccents":
		return stripAccents, nil
	case "NFD":
		return norm.NFD.String, nil
	case "NFC":
		return norm.NFC.String, nil
	case "NFKD":
		return norm.NFKD.String, nil
	case "NFKC":
		return norm.NFKC.String, nil
	case "Sequence":
		var fs []func(string) string
		for _, r := range n.Normalizers {
			f, err := parseNormalizer(r)
			if err != nil {
				return nil, err
			}
			fs = append(fs, f)
		}
		return func(s string) string {
			for _, f := range fs {
				s = f(s)
			}
			return s
		}, nil
	}
	return nil, fmt.Errorf("type %q not supported", n.Type)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// bertNormalizeASCII is BertNormalizer on ASCII text in one pass: no
// accents or CJK characters can occur, control characters are dropped,
// whitespace becomes ' ', letters are lowercased.
func bertNormalizeASCII(s string, clean, lower bool) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if clean {
			switch {
			case c == '\t' || c == '\n' || c == '\r' || c == ' ':
				c = ' '
			case c < 0x20 || c == 0x7f:
				continue
			}
		}
		if lower && c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b)
}

// cleanText drops NUL, U+FFFD and control characters and turns every
// whitespace character into a space (HF's BertNormalizer clean_text).
func cleanText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == 0 || r == utf8.RuneError || isControl(r):
		case isWhitespace(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isWhitespace(r rune) bool { return unicode.Is(unicode.White_Space, r) }

// isControl is Rust's char::is_other (general category C*: Cc, Cf, Cs,
// Co, Cn) except tab, newline and carriage return.
func isControl(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	if unicode.In(r, unicode.C) {
		return true
	}
	// Unassigned code points (Cn) belong to no category table.
	return !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z)
}

func isChinese(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) || (r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B920 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}

func padChinese(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if isChinese(r) {
			b.WriteByte(' ')
			b.WriteRune(r)
			b.WriteByte(' ')
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// stripAccents decomposes (NFD) and drops nonspacing marks (Mn).
func stripAccents(s string) string {
	s = norm.NFD.String(s)
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ---- pre-tokenizers ----

func parsePreTokenizer(raw json.RawMessage) (func(string) []string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return func(s string) []string {
			if s == "" {
				return nil
			}
			return []string{s}
		}, nil
	}
	var p struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, err
	}
	switch p.Type {
	case "BertPreTokenizer":
		return bertPreTokenize, nil
	case "WhitespaceSplit":
		return strings.Fields, nil
	case "Whitespace":
		return whitespacePreTokenize, nil
	}
	return nil, fmt.Errorf("type %q not supported", p.Type)
}

// isBertPunct is ASCII punctuation (which includes symbols such as $ and
// +) or a Unicode punctuation character (P*).
func isBertPunct(r rune) bool {
	if r < 128 {
		return (r >= 33 && r <= 47) || (r >= 58 && r <= 64) || (r >= 91 && r <= 96) || (r >= 123 && r <= 126)
	}
	return unicode.IsPunct(r)
}

// bertPreTokenize splits on whitespace (dropped) and isolates every
// punctuation character.
func bertPreTokenize(s string) []string {
	out := make([]string, 0, len(s)/4+1)
	start := -1
	for i, r := range s {
		switch {
		case isWhitespace(r):
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
		case isBertPunct(r):
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
			out = append(out, string(r))
		default:
			if start < 0 {
				start = i
			}
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

// whitespacePreTokenize is HF's Whitespace pre-tokenizer: runs of word
// characters (letters, marks, digits, underscore) and runs of other
// non-space characters, matching the regex \w+|[^\w\s]+.
func whitespacePreTokenize(s string) []string {
	var out []string
	start, kind := -1, 0 // kind 1 = word, 2 = other
	for i, r := range s {
		k := 2
		switch {
		case isWhitespace(r):
			k = 0
		case r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || unicode.Is(unicode.Nl, r) || unicode.Is(unicode.Pc, r):
			k = 1
		}
		if k != kind && start >= 0 {
			out = append(out, s[start:i])
			start = -1
		}
		if k != 0 && start < 0 {
			start = i
		}
		kind = k
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

// ---- post-processors ----

func parsePostProcessor(raw json.RawMessage, vocab map[string]int64) ([]templatePiece, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var p struct {
		Type   string `json:"type"`
		Single []struct {
			SpecialToken *struct {
				ID     string `json:"id"`
				TypeID int64  `json:"type_id"`
			} `json:"SpecialToken"`
			Sequence *struct {
				TypeID int64 `json:"type_id"`
			} `json:"Sequence"`
		} `json:"single"`
		SpecialTokens map[string]struct {
			IDs    []int64  `json:"ids"`
			Tokens []string `json:"tokens"`
		} `json:"special_tokens"`
		Sep []json.RawMessage `json:"sep"`
		Cls []json.RawMessage `json:"cls"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, err
	}
	switch p.Type {
	case "TemplateProcessing":
		var out []templatePiece
		for _, s := range p.Single {
			switch {
			case s.Sequence != nil:
				out = append(out, templatePiece{sequence: true, typeID: s.Sequence.TypeID})
			case s.SpecialToken != nil:
				st, ok := p.SpecialTokens[s.SpecialToken.ID]
				if !ok || len(st.IDs) != len(st.Tokens) {
					return nil, fmt.Errorf("special token %q is not defined", s.SpecialToken.ID)
				}
				out = append(out, templatePiece{typeID: s.SpecialToken.TypeID, ids: st.IDs, tokens: st.Tokens})
			}
		}
		return out, nil
	case "BertProcessing", "RobertaProcessing":
		tok := func(pair []json.RawMessage) (templatePiece, error) {
			var s string
			var id int64
			if len(pair) != 2 || json.Unmarshal(pair[0], &s) != nil || json.Unmarshal(pair[1], &id) != nil {
				return templatePiece{}, fmt.Errorf("want [token, id] for cls and sep")
			}
			return templatePiece{ids: []int64{id}, tokens: []string{s}}, nil
		}
		cls, err := tok(p.Cls)
		if err != nil {
			return nil, err
		}
		sep, err := tok(p.Sep)
		if err != nil {
			return nil, err
		}
		return []templatePiece{cls, {sequence: true}, sep}, nil
	}
	return nil, fmt.Errorf("type %q not supported", p.Type)
}
