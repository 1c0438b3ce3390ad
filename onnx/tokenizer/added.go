package tokenizer

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// addedToken is one entry of tokenizer.json's added_tokens.
type addedToken struct {
	ID         int64  `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized *bool  `json:"normalized"`
	Special    bool   `json:"special"`

	match string // what is searched for: Content, normalized when Normalized
}

// isNormalized is the token's "normalized" flag; absent, it is true for
// non-special tokens, as in Hugging Face.
func (a *addedToken) isNormalized() bool {
	if a.Normalized != nil {
		return *a.Normalized
	}
	return !a.Special
}

// matcher finds added tokens in a text: leftmost match first, the longest
// one among those starting there (Aho-Corasick's leftmost-longest).
type matcher struct {
	byFirst [256][]*addedToken // by first byte, longest first
	any     bool
}

func newMatcher(tokens []*addedToken) *matcher {
	m := &matcher{}
	for _, a := range tokens {
		if a.match == "" {
			continue
		}
		m.byFirst[a.match[0]] = append(m.byFirst[a.match[0]], a)
		m.any = true
	}
	for i := range m.byFirst {
		l := m.byFirst[i]
		sort.SliceStable(l, func(a, b int) bool { return len(l[a].match) > len(l[b].match) })
	}
	return m
}

// cut is a part of a text: either plain text or an added token.
type cut struct {
	start, end int
	tok        *addedToken
}

func isWordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) }

// split cuts s around the added tokens it contains, as Hugging Face's
// AddedVocabulary::find_matches does (single_word, lstrip, rstrip).
func (m *matcher) split(s string, dst []cut) []cut {
	if !m.any {
		return append(dst, cut{0, len(s), nil})
	}
	last := 0
	for i := 0; i < len(s); {
		var hit *addedToken
		for _, a := range m.byFirst[s[i]] {
			if strings.HasPrefix(s[i:], a.match) {
				hit = a
				break
			}
		}
		if hit == nil {
			i++
			continue
		}
		start, stop := i, i+len(hit.match)
		if hit.SingleWord {
			before, _ := utf8.DecodeLastRuneInString(s[:start])
			after, _ := utf8.DecodeRuneInString(s[stop:])
			if start > 0 && isWordRune(before) || stop < len(s) && isWordRune(after) {
				i++
				continue
			}
		}
		if hit.LStrip {
			start = max(len(strings.TrimRightFunc(s[:start], unicode.IsSpace)), last)
		}
		if hit.RStrip {
			stop = len(s) - len(strings.TrimLeftFunc(s[stop:], unicode.IsSpace))
		}
		if start > last {
			dst = append(dst, cut{last, start, nil})
		}
		dst = append(dst, cut{start, stop, hit})
		last = stop
		i = stop
	}
	if last < len(s) {
		dst = append(dst, cut{last, len(s), nil})
	}
	return dst
}
