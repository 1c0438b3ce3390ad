package tokenizer

import "unicode/utf8"

// span is a byte range of the original input.
type span struct{ start, end int32 }

// normalized is a text being normalized together with, for each of its
// bytes, the range of the original input it came from, so that tokens can
// report offsets into the text the caller gave.
type normalized struct {
	s string
	// align holds one span per byte of s; nil means s is the original
	// input itself (byte i came from byte i).
	align []span
	// base is added to identity offsets (the section's place in the input).
	base int32
}

func newNormalized(s string, base int) *normalized {
	return &normalized{s: s, base: int32(base)}
}

// spanOf returns the original range of the bytes s[i:j].
func (n *normalized) spanOf(i, j int) span {
	if n.align == nil {
		return span{n.base + int32(i), n.base + int32(j)}
	}
	switch {
	case len(n.align) == 0:
		return span{n.base, n.base}
	case i >= len(n.align):
		e := n.align[len(n.align)-1].end
		return span{e, e}
	case j <= i:
		s := n.align[i].start
		return span{s, s}
	}
	return span{n.align[i].start, n.align[j-1].end}
}

// builder assembles the next form of a normalized text.
type builder struct {
	b []byte
	a []span
}

func (n *normalized) builder() *builder {
	return &builder{b: make([]byte, 0, len(n.s)+8), a: make([]span, 0, len(n.s)+8)}
}

// add appends out, every byte of which comes from the original range sp.
func (b *builder) add(out string, sp span) {
	b.b = append(b.b, out...)
	for range len(out) {
		b.a = append(b.a, sp)
	}
}

// addRune appends r, which comes from sp.
func (b *builder) addRune(r rune, sp span) {
	n := len(b.b)
	b.b = utf8.AppendRune(b.b, r)
	for range len(b.b) - n {
		b.a = append(b.a, sp)
	}
}

// set replaces n's text with the builder's.
func (n *normalized) set(b *builder) {
	n.s = string(b.b)
	n.align = b.a
}

// mapRunes replaces every rune of n by f's output (which may be empty or
// several runes); each output rune keeps the original range of its input
// rune. When no rune changes, n is left as it is.
func (n *normalized) mapRunes(f func(r rune, dst []rune) []rune) {
	var tmp [4]rune
	var b *builder
	for i, r := range n.s {
		size := utf8.RuneLen(r)
		if r == utf8.RuneError {
			_, size = utf8.DecodeRuneInString(n.s[i:])
		}
		out := f(r, tmp[:0])
		if b == nil {
			if len(out) == 1 && out[0] == r {
				continue
			}
			b = n.builder()
			b.b = append(b.b, n.s[:i]...)
			for k := range i {
				b.a = append(b.a, n.spanOf(k, k+1))
			}
		}
		sp := n.spanOf(i, i+size)
		if len(out) == 1 && out[0] == r {
			b.b = append(b.b, n.s[i:i+size]...)
			for k := range size {
				b.a = append(b.a, n.spanOf(i+k, i+k+1))
			}
			continue
		}
		for _, o := range out {
			b.addRune(o, sp)
		}
	}
	if b != nil {
		n.set(b)
	}
}

// replaceRange builds the text with each [start,end) of ranges (sorted,
// disjoint) replaced by repl(k); the replacement keeps the range's
// original span.
func (n *normalized) replaceRanges(ranges [][2]int, repl func(k int) string) {
	if len(ranges) == 0 {
		return
	}
	b := n.builder()
	prev := 0
	for k, r := range ranges {
		for i := prev; i < r[0]; i++ {
			b.b = append(b.b, n.s[i])
			b.a = append(b.a, n.spanOf(i, i+1))
		}
		b.add(repl(k), n.spanOf(r[0], r[1]))
		prev = r[1]
	}
	for i := prev; i < len(n.s); i++ {
		b.b = append(b.b, n.s[i])
		b.a = append(b.a, n.spanOf(i, i+1))
	}
	n.set(b)
}

// slice keeps s[i:j].
func (n *normalized) slice(i, j int) {
	if i == 0 && j == len(n.s) {
		return
	}
	if n.align == nil {
		n.align = make([]span, 0, j-i)
		for k := i; k < j; k++ {
			n.align = append(n.align, span{n.base + int32(k), n.base + int32(k) + 1})
		}
	} else {
		n.align = n.align[i:j]
	}
	n.s = n.s[i:j]
}

// prepend puts p before the text; its bytes map to the first byte's range.
func (n *normalized) prepend(p string) {
	if p == "" || n.s == "" {
		return
	}
	b := n.builder()
	first := n.spanOf(0, 1)
	b.add(p, first)
	for i := range len(n.s) {
		b.b = append(b.b, n.s[i])
		b.a = append(b.a, n.spanOf(i, i+1))
	}
	n.set(b)
}
