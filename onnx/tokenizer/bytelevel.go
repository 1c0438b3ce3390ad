package tokenizer

import (
	"encoding/json"
	"strings"
)

// byteRune is GPT-2's reversible map from bytes to printable runes:
// printable Latin-1 bytes map to themselves, the others to U+0100 onward.
var byteRune = func() (t [256]rune) {
	n := 0
	for b := 0; b < 256; b++ {
		if '!' <= b && b <= '~' || '¡' <= b && b <= '¬' || '®' <= b && b <= 'ÿ' {
			t[b] = rune(b)
		} else {
			t[b] = rune(256 + n)
			n++
		}
	}
	return t
}()

// byteLevelPre is the ByteLevel pre-tokenizer: an optional leading space,
// an optional GPT-2 regex split, then every byte mapped to its rune.
type byteLevelPre struct {
	addPrefixSpace bool
	useRegex       bool
}

func parseByteLevelPre(raw json.RawMessage) (preTokenizer, error) {
	var c struct {
		AddPrefixSpace *bool `json:"add_prefix_space"`
		UseRegex       *bool `json:"use_regex"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	return byteLevelPre{addPrefixSpace: c.AddPrefixSpace == nil || *c.AddPrefixSpace, useRegex: c.UseRegex == nil || *c.UseRegex}, nil
}

var gpt2Scanner = scanner{gpt2: true}

func (b byteLevelPre) preTokenize(dst []piece, p piece) []piece {
	if b.addPrefixSpace && p.s != "" && p.s[0] != ' ' {
		p = prependPiece(p, " ")
	}
	if !b.useRegex {
		return append(dst, byteMap(p))
	}
	n := len(dst)
	dst = splitByMatches(dst, p, gpt2Scanner.findAll(p.s, nil), isolated, false)
	for i := n; i < len(dst); i++ {
		dst[i] = byteMap(dst[i])
	}
	return dst
}

// prependPiece puts s before p; its bytes sit at p's first offset.
func prependPiece(p piece, s string) piece {
	q := piece{s: s + p.s, m: make([]int32, 0, len(s)+len(p.s)+1), first: p.first}
	at := int32(p.at(0))
	for range len(s) {
		q.m = append(q.m, at)
	}
	for k := 0; k <= len(p.s); k++ {
		q.m = append(q.m, int32(p.at(k)))
	}
	q.start = q.m[0]
	return q
}

// byteStr is byteRune as UTF-8 strings.
var byteStr = func() (t [256]string) {
	for b, r := range byteRune {
		t[b] = string(r)
	}
	return t
}()

// byteMap maps every byte of p to its GPT-2 rune.
func byteMap(p piece) piece {
	var sb strings.Builder
	sb.Grow(2 * len(p.s))
	for k := 0; k < len(p.s); k++ {
		sb.WriteString(byteStr[p.s[k]])
	}
	s := sb.String()
	if p.m == nil && !p.byteLevel {
		return piece{s: s, start: p.start, first: p.first, byteLevel: true}
	}
	m := make([]int32, 0, len(s)+1)
	for k := 0; k < len(p.s); k++ {
		at := int32(p.at(k))
		for range len(byteStr[p.s[k]]) {
			m = append(m, at)
		}
	}
	m = append(m, int32(p.at(len(p.s))))
	return piece{s: s, m: m, start: m[0], first: p.first}
}
