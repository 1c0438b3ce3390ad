package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// The split patterns of GPT-2 (also ByteLevel's use_regex), Llama-3 and
// Qwen2/3, scanned by hand: the same matches as the regex engine (tests
// compare both), several times faster.
const (
	gpt2Pattern  = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	llama3Patten = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	qwenPattern  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

var knownScanners = map[string]pattern{
	gpt2Pattern:  scanner{gpt2: true},
	llama3Patten: scanner{maxDigits: 3},
	qwenPattern:  scanner{maxDigits: 1},
}

// scanner matches one of the known patterns. gpt2 selects the GPT-2
// pattern; otherwise it is the Llama-3 form with runs of at most
// maxDigits numbers.
type scanner struct {
	gpt2      bool
	maxDigits int
}

func isL(r rune) bool {
	return r < utf8.RuneSelf && ('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') || r >= utf8.RuneSelf && unicode.IsLetter(r)
}
func isN(r rune) bool {
	return r < utf8.RuneSelf && '0' <= r && r <= '9' || r >= utf8.RuneSelf && unicode.IsNumber(r)
}
func isS(r rune) bool {
	if r < utf8.RuneSelf {
		return r == ' ' || '\t' <= r && r <= '\r'
	}
	return unicode.IsSpace(r)
}

// other is [^\s\p{L}\p{N}].
func other(r rune) bool { return !isS(r) && !isL(r) && !isN(r) }

func decode(s string, i int) (rune, int) {
	if i >= len(s) {
		return -1, 0
	}
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// run returns the end of the run of runes from i that f accepts.
func run(s string, i int, f func(rune) bool) int {
	for i < len(s) {
		r, n := decode(s, i)
		if !f(r) {
			break
		}
		i += n
	}
	return i
}

func (sc scanner) findAll(s string, dst [][2]int) [][2]int {
	for i := 0; i < len(s); {
		n := sc.match(s, i)
		if n <= i { // cannot happen: every rune starts a match
			_, w := decode(s, i)
			n = i + w
		}
		dst = append(dst, [2]int{i, n})
		i = n
	}
	return dst
}

// contraction matches 's|'t|'re|'ve|'m|'ll|'d at i (case-insensitively
// unless gpt2) and returns its end, or -1.
func (sc scanner) contraction(s string, i int) int {
	if s[i] != '\'' || i+1 >= len(s) {
		return -1
	}
	lower := func(c byte) byte {
		if !sc.gpt2 && 'A' <= c && c <= 'Z' {
			return c + 'a' - 'A'
		}
		return c
	}
	c := lower(s[i+1])
	switch c {
	case 's', 't', 'm', 'd':
		return i + 2
	}
	if i+2 < len(s) {
		d := lower(s[i+2])
		switch {
		case c == 'r' && d == 'e', c == 'v' && d == 'e', c == 'l' && d == 'l':
			return i + 3
		}
	}
	if !sc.gpt2 {
		// (?i) also folds 'ſ' (U+017F) to s.
		if r, _ := decode(s, i+1); r == 'ſ' {
			return i + 1 + utf8.RuneLen(r)
		}
	}
	return -1
}

func (sc scanner) match(s string, i int) int {
	if e := sc.contraction(s, i); e >= 0 {
		return e
	}
	r, w := decode(s, i)
	if sc.gpt2 {
		// ` ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+`
		j := i
		if r == ' ' {
			j = i + 1
		}
		if q, _ := decode(s, j); q >= 0 {
			switch {
			case isL(q):
				return run(s, j, isL)
			case isN(q):
				return run(s, j, isN)
			case other(q):
				return run(s, j, other)
			}
		}
		return sc.spaces(s, i)
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if isL(r) {
		return run(s, i, isL)
	}
	if r != '\r' && r != '\n' && !isN(r) {
		if q, _ := decode(s, i+w); q >= 0 && isL(q) {
			return run(s, i+w, isL)
		}
	}
	// \p{N}{1,maxDigits}
	if isN(r) {
		j := i
		for k := 0; k < sc.maxDigits && j < len(s); k++ {
			q, n := decode(s, j)
			if !isN(q) {
				break
			}
			j += n
		}
		return j
	}
	// ` ?[^\s\p{L}\p{N}]+[\r\n]*`
	j := i
	if r == ' ' {
		j = i + 1
	}
	if q, _ := decode(s, j); q >= 0 && other(q) {
		j = run(s, j, other)
		return run(s, j, func(r rune) bool { return r == '\r' || r == '\n' })
	}
	// \s*[\r\n]+
	end := run(s, i, isS)
	last := -1
	for k := i; k < end; {
		q, n := decode(s, k)
		if q == '\r' || q == '\n' {
			last = k
		}
		k += n
	}
	if last >= 0 {
		return last + 1
	}
	return sc.spaces(s, i)
}

// spaces matches `\s+(?!\S)|\s+` at i.
func (sc scanner) spaces(s string, i int) int {
	end := run(s, i, isS)
	if end == len(s) {
		return end
	}
	// Back off one whitespace rune so that it stays with the next word.
	_, n := utf8.DecodeLastRuneInString(s[:end])
	if end-n > i {
		return end - n
	}
	return end
}
