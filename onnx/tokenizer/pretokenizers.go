package tokenizer

import (
	"encoding/json"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// piece is one pre-token: the text the model sees and where it sits in
// the normalized text.
type piece struct {
	s string
	// m maps each byte offset of s (0..len(s)) to an offset in the
	// normalized text; nil means s is normalized[start:start+len(s)].
	m     []int32
	start int32
	// first is set on pieces that begin at the start of the input section
	// (Metaspace's prepend_scheme "first").
	first bool
	// byteLevel (with m nil) means s maps normalized[start:] one rune per
	// byte (ByteLevel's alphabet).
	byteLevel bool
}

// at returns the normalized offset of byte k of p.s.
func (p *piece) at(k int) int {
	switch {
	case p.byteLevel:
		return int(p.start) + utf8.RuneCountInString(p.s[:k])
	case p.m == nil:
		return int(p.start) + k
	}
	return int(p.m[k])
}

// sub returns the piece for p.s[i:j].
func (p *piece) sub(i, j int) piece {
	q := piece{s: p.s[i:j], first: p.first && i == 0, byteLevel: p.byteLevel}
	switch {
	case p.byteLevel:
		q.start = int32(p.at(i))
	case p.m == nil:
		q.start = p.start + int32(i)
	default:
		q.m = p.m[i : j+1]
		q.start = q.m[0]
	}
	return q
}

// A preTokenizer splits (and may rewrite) pieces.
type preTokenizer interface {
	// preTokenize appends the pieces p splits into to dst.
	preTokenize(dst []piece, p piece) []piece
}

// preTokenizers maps a tokenizer.json pre_tokenizer "type" to its parser.
var preTokenizers = registry[preTokenizer]{}

func fixed(p preTokenizer) func(json.RawMessage) (preTokenizer, error) {
	return func(json.RawMessage) (preTokenizer, error) { return p, nil }
}

func init() {
	preTokenizers.register("BertPreTokenizer", fixed(bertPre{}))
	preTokenizers.register("Whitespace", fixed(whitespacePre{}))
	preTokenizers.register("WhitespaceSplit", fixed(runeSplit{isWhitespace, removed}))
	preTokenizers.register("Punctuation", parsePunctuation)
	preTokenizers.register("Digits", parseDigits)
	preTokenizers.register("CharDelimiterSplit", parseCharDelimiter)
	preTokenizers.register("Sequence", parsePreSequence)
	preTokenizers.register("Split", parseSplit)
	preTokenizers.register("ByteLevel", parseByteLevelPre)
	preTokenizers.register("Metaspace", parseMetaspace)
}

// behavior is what Split does with the delimiters it finds.
type behavior int

const (
	removed behavior = iota
	isolated
	mergedWithPrevious
	mergedWithNext
	contiguous
)

func parseBehavior(s string) (behavior, error) {
	switch s {
	case "Removed":
		return removed, nil
	case "Isolated", "":
		return isolated, nil
	case "MergedWithPrevious":
		return mergedWithPrevious, nil
	case "MergedWithNext":
		return mergedWithNext, nil
	case "Contiguous":
		return contiguous, nil
	}
	return 0, fmt.Errorf("behavior %q is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous", s)
}

type part struct {
	start, end int
	match      bool
}

// splitByMatches cuts p at matches (sorted, disjoint byte ranges of p.s)
// as Hugging Face's NormalizedString::split does, and appends the
// non-empty pieces to dst.
func splitByMatches(dst []piece, p piece, matches [][2]int, b behavior, invert bool) []piece {
	if len(matches) == 0 && !invert {
		if p.s != "" {
			dst = append(dst, p)
		}
		return dst
	}
	if b == isolated && !invert {
		prev := 0
		for _, m := range matches {
			if m[0] > prev {
				dst = append(dst, p.sub(prev, m[0]))
			}
			if m[1] > m[0] {
				dst = append(dst, p.sub(m[0], m[1]))
			}
			prev = m[1]
		}
		if prev < len(p.s) {
			dst = append(dst, p.sub(prev, len(p.s)))
		}
		return dst
	}
	parts := make([]part, 0, 2*len(matches)+1)
	prev := 0
	for _, m := range matches {
		if m[0] > prev {
			parts = append(parts, part{prev, m[0], false})
		}
		parts = append(parts, part{m[0], m[1], true})
		prev = m[1]
	}
	if prev < len(p.s) {
		parts = append(parts, part{prev, len(p.s), false})
	}
	if invert {
		for i := range parts {
			parts[i].match = !parts[i].match
		}
	}
	var out []part
	switch b {
	case removed:
		for _, q := range parts {
			if !q.match {
				out = append(out, q)
			}
		}
	case isolated:
		out = parts
	case mergedWithPrevious:
		prevMatch := false
		for _, q := range parts {
			if q.match && !prevMatch && len(out) > 0 {
				out[len(out)-1].end = q.end
			} else {
				out = append(out, q)
			}
			prevMatch = q.match
		}
	case mergedWithNext:
		prevMatch := false
		for i := len(parts) - 1; i >= 0; i-- {
			q := parts[i]
			if q.match && !prevMatch && len(out) > 0 {
				out[len(out)-1].start = q.start
			} else {
				out = append(out, q)
			}
			prevMatch = q.match
		}
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	case contiguous:
		prevMatch := false
		for _, q := range parts {
			if q.match == prevMatch && len(out) > 0 {
				out[len(out)-1].end = q.end
			} else {
				out = append(out, q)
			}
			prevMatch = q.match
		}
	}
	for _, q := range out {
		if q.end > q.start {
			dst = append(dst, p.sub(q.start, q.end))
		}
	}
	return dst
}

// runeMatches returns each rune of s for which f holds as a match.
func runeMatches(s string, f func(rune) bool) [][2]int {
	var ms [][2]int
	for i, r := range s {
		if f(r) {
			ms = append(ms, [2]int{i, i + utf8.RuneLen(r)})
		}
	}
	return ms
}

// runeSplit splits on every rune f accepts, with behaviour b.
type runeSplit struct {
	f func(rune) bool
	b behavior
}

func (r runeSplit) preTokenize(dst []piece, p piece) []piece {
	return splitByMatches(dst, p, runeMatches(p.s, r.f), r.b, false)
}

// isPunct is Rust's char::is_ascii_punctuation || is_punctuation.
func isPunct(r rune) bool {
	if r < 128 {
		return (r >= 33 && r <= 47) || (r >= 58 && r <= 64) || (r >= 91 && r <= 96) || (r >= 123 && r <= 126)
	}
	return unicode.IsPunct(r)
}

// bertPre splits on whitespace (dropped) and isolates punctuation.
type bertPre struct{}

func (bertPre) preTokenize(dst []piece, p piece) []piece {
	start := -1
	for i, r := range p.s {
		switch {
		case isWhitespace(r):
			if start >= 0 {
				dst = append(dst, p.sub(start, i))
				start = -1
			}
		case isPunct(r):
			if start >= 0 {
				dst = append(dst, p.sub(start, i))
				start = -1
			}
			dst = append(dst, p.sub(i, i+utf8.RuneLen(r)))
		default:
			if start < 0 {
				start = i
			}
		}
	}
	if start >= 0 {
		dst = append(dst, p.sub(start, len(p.s)))
	}
	return dst
}

// whitespacePre keeps runs of word characters and runs of other
// non-space characters, as the regex \w+|[^\w\s]+.
type whitespacePre struct{}

func isWordChar(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || unicode.Is(unicode.Nl, r) || unicode.Is(unicode.Pc, r)
}

func (whitespacePre) preTokenize(dst []piece, p piece) []piece {
	start, kind := -1, 0 // kind 1 = word, 2 = other
	for i, r := range p.s {
		k := 2
		switch {
		case isWhitespace(r):
			k = 0
		case isWordChar(r):
			k = 1
		}
		if k != kind && start >= 0 {
			dst = append(dst, p.sub(start, i))
			start = -1
		}
		if k != 0 && start < 0 {
			start = i
		}
		kind = k
	}
	if start >= 0 {
		dst = append(dst, p.sub(start, len(p.s)))
	}
	return dst
}

func parsePunctuation(raw json.RawMessage) (preTokenizer, error) {
	var c struct {
		Behavior string `json:"behavior"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	b, err := parseBehavior(c.Behavior)
	if err != nil {
		return nil, err
	}
	return runeSplit{isPunct, b}, nil
}

func parseDigits(raw json.RawMessage) (preTokenizer, error) {
	var c struct {
		Individual bool `json:"individual_digits"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	if c.Individual {
		return runeSplit{unicode.IsNumber, isolated}, nil
	}
	return runeSplit{unicode.IsNumber, contiguous}, nil
}

func parseCharDelimiter(raw json.RawMessage) (preTokenizer, error) {
	var c struct {
		Delimiter string `json:"delimiter"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(c.Delimiter) != 1 {
		return nil, fmt.Errorf("delimiter %q: want one character", c.Delimiter)
	}
	d, _ := utf8.DecodeRuneInString(c.Delimiter)
	return runeSplit{func(r rune) bool { return r == d }, removed}, nil
}

type preSequence []preTokenizer

func parsePreSequence(raw json.RawMessage) (preTokenizer, error) {
	var c struct {
		PreTokenizers []json.RawMessage `json:"pretokenizers"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	var seq preSequence
	for i, r := range c.PreTokenizers {
		p, err := preTokenizers.parse(r)
		if err != nil {
			return nil, fmt.Errorf("pretokenizers[%d]: %w", i, err)
		}
		if p != nil {
			seq = append(seq, p)
		}
	}
	return seq, nil
}

func (s preSequence) preTokenize(dst []piece, p piece) []piece {
	cur := []piece{p}
	var next []piece
	for k, x := range s {
		if k == len(s)-1 {
			for _, q := range cur {
				dst = x.preTokenize(dst, q)
			}
			return dst
		}
		next = next[:0]
		for _, q := range cur {
			next = x.preTokenize(next, q)
		}
		cur, next = next, cur
	}
	return append(dst, cur...)
}
