package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// A normalizer rewrites the text before pre-tokenization, keeping the
// alignment to the original input.
type normalizer interface {
	normalize(n *normalized)
}

// normalizers maps a tokenizer.json normalizer "type" to its parser.
var normalizers = registry[normalizer]{}

func isNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null"
}

func init() {
	normalizers.register("BertNormalizer", parseBertNormalizer)
	normalizers.register("Lowercase", func(json.RawMessage) (normalizer, error) { return lowercase{}, nil })
	normalizers.register("StripAccents", func(json.RawMessage) (normalizer, error) { return stripAccents{}, nil })
	for _, f := range []struct {
		name string
		form norm.Form
	}{{"NFC", norm.NFC}, {"NFD", norm.NFD}, {"NFKC", norm.NFKC}, {"NFKD", norm.NFKD}} {
		normalizers.register(f.name, func(json.RawMessage) (normalizer, error) { return unicodeNorm{f.form}, nil })
	}
	normalizers.register("Strip", parseStrip)
	normalizers.register("Replace", parseReplace)
	normalizers.register("Prepend", parsePrepend)
	normalizers.register("Sequence", parseNormSequence)
	normalizers.register("Precompiled", parsePrecompiled)
}

// ---- BertNormalizer ----

type bertNormalizer struct {
	clean, chinese, strip, lower bool
}

func parseBertNormalizer(raw json.RawMessage) (normalizer, error) {
	var c struct {
		CleanText          *bool `json:"clean_text"`
		HandleChineseChars *bool `json:"handle_chinese_chars"`
		StripAccents       *bool `json:"strip_accents"`
		Lowercase          *bool `json:"lowercase"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	orTrue := func(b *bool) bool { return b == nil || *b }
	b := bertNormalizer{clean: orTrue(c.CleanText), chinese: orTrue(c.HandleChineseChars), lower: orTrue(c.Lowercase)}
	b.strip = b.lower // strip_accents: null follows lowercase
	if c.StripAccents != nil {
		b.strip = *c.StripAccents
	}
	return b, nil
}

func (b bertNormalizer) normalize(n *normalized) {
	if isASCII(n.s) {
		// One pass: no accents or CJK can occur.
		n.mapRunes(func(r rune, dst []rune) []rune {
			if b.clean {
				switch {
				case r == '\t' || r == '\n' || r == '\r':
					r = ' '
				case r < 0x20 || r == 0x7f:
					return dst
				}
			}
			if b.lower && r >= 'A' && r <= 'Z' {
				r += 'a' - 'A'
			}
			return append(dst, r)
		})
		return
	}
	if b.clean {
		n.mapRunes(func(r rune, dst []rune) []rune {
			switch {
			case r == 0 || r == utf8.RuneError || isControl(r):
				return dst
			case isWhitespace(r):
				return append(dst, ' ')
			}
			return append(dst, r)
		})
	}
	if b.chinese {
		n.mapRunes(func(r rune, dst []rune) []rune {
			if isChinese(r) {
				return append(dst, ' ', r, ' ')
			}
			return append(dst, r)
		})
	}
	if b.strip {
		unicodeNorm{norm.NFD}.normalize(n)
		n.mapRunes(func(r rune, dst []rune) []rune {
			if unicode.Is(unicode.Mn, r) {
				return dst
			}
			return append(dst, r)
		})
	}
	if b.lower {
		lowercase{}.normalize(n)
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
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

// ---- Lowercase, StripAccents, NF* ----

// lowercase maps each character to its lower case, one character at a
// time as Rust's char::to_lowercase does (no final-sigma rule).
type lowercase struct{}

func (lowercase) normalize(n *normalized) {
	n.mapRunes(func(r rune, dst []rune) []rune {
		if r < utf8.RuneSelf {
			if r >= 'A' && r <= 'Z' {
				r += 'a' - 'A'
			}
			return append(dst, r)
		}
		if r == 'İ' { // the one unconditional multi-character lower case
			return append(dst, 'i', '\u0307')
		}
		return append(dst, unicode.ToLower(r))
	})
}

// stripAccents removes combining marks (it does not decompose first).
type stripAccents struct{}

func (stripAccents) normalize(n *normalized) {
	n.mapRunes(func(r rune, dst []rune) []rune {
		if unicode.Is(unicode.Mn, r) {
			return dst
		}
		return append(dst, r)
	})
}

type unicodeNorm struct{ form norm.Form }

func (u unicodeNorm) normalize(n *normalized) {
	if u.form.IsNormalString(n.s) {
		return
	}
	b := n.builder()
	var it norm.Iter
	it.InitString(u.form, n.s)
	for !it.Done() {
		start := it.Pos()
		seg := it.Next()
		end := it.Pos()
		if string(seg) == n.s[start:end] {
			for i := start; i < end; i++ {
				b.b = append(b.b, n.s[i])
				b.a = append(b.a, n.spanOf(i, i+1))
			}
			continue
		}
		b.add(string(seg), n.spanOf(start, end))
	}
	n.set(b)
}

// ---- Strip, Replace, Prepend, Sequence ----

type strip struct{ left, right bool }

func parseStrip(raw json.RawMessage) (normalizer, error) {
	var c struct {
		Left  *bool `json:"strip_left"`
		Right *bool `json:"strip_right"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	return strip{left: c.Left == nil || *c.Left, right: c.Right == nil || *c.Right}, nil
}

func (s strip) normalize(n *normalized) {
	i, j := 0, len(n.s)
	if s.left {
		i = len(n.s) - len(strings.TrimLeftFunc(n.s, isWhitespace))
	}
	if s.right {
		j = len(strings.TrimRightFunc(n.s, isWhitespace))
	}
	if j < i {
		j = i
	}
	n.slice(i, j)
}

type replace struct {
	pat     pattern
	content string
}

func parseReplace(raw json.RawMessage) (normalizer, error) {
	var c struct {
		Pattern json.RawMessage `json:"pattern"`
		Content string          `json:"content"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	p, err := parsePattern(c.Pattern)
	if err != nil {
		return nil, fmt.Errorf("pattern: %w", err)
	}
	return replace{pat: p, content: c.Content}, nil
}

func (r replace) normalize(n *normalized) {
	var ms [][2]int
	for _, m := range r.pat.findAll(n.s, nil) {
		if m[1] > m[0] {
			ms = append(ms, m)
		}
	}
	n.replaceRanges(ms, func(int) string { return r.content })
}

type prepend struct{ s string }

func parsePrepend(raw json.RawMessage) (normalizer, error) {
	var c struct {
		Prepend string `json:"prepend"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	return prepend{c.Prepend}, nil
}

func (p prepend) normalize(n *normalized) { n.prepend(p.s) }

type normSequence []normalizer

func parseNormSequence(raw json.RawMessage) (normalizer, error) {
	var c struct {
		Normalizers []json.RawMessage `json:"normalizers"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	var seq normSequence
	for i, r := range c.Normalizers {
		n, err := normalizers.parse(r)
		if err != nil {
			return nil, fmt.Errorf("normalizers[%d]: %w", i, err)
		}
		if n != nil {
			seq = append(seq, n)
		}
	}
	return seq, nil
}

func (s normSequence) normalize(n *normalized) {
	for _, x := range s {
		x.normalize(n)
	}
}
