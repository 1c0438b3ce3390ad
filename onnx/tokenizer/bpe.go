package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// BPE is the byte-pair-encoding model: a word starts as its characters
// (or their <0xNN> byte tokens, or the unknown token) and the pair of
// adjacent symbols with the lowest merge rank is merged until none is
// left.
type BPE struct {
	vocab
	merges      map[uint64]merge // (left id, right id) → rank and result
	unk         string           // "" if none
	unkID       int64
	fuseUnk     bool
	byteFall    bool
	ignoreMerge bool
	prefix      string     // continuing_subword_prefix
	suffix      string     // end_of_word_suffix
	byteIDs     [256]int64 // id of <0xNN>, -1 if absent

	mu    sync.RWMutex
	cache map[string][]Token
}

var _ Model = (*BPE)(nil)

type merge struct {
	rank  int32
	newID int64
}

const (
	bpeCacheCap    = 10000 // entries, as Hugging Face's default
	bpeCacheMaxLen = 256   // longer words are not cached
)

func parseBPE(raw json.RawMessage) (Model, error) {
	var c struct {
		Vocab                   json.RawMessage `json:"vocab"`
		Merges                  json.RawMessage `json:"merges"`
		UnkToken                *string         `json:"unk_token"`
		ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
		FuseUnk                 bool            `json:"fuse_unk"`
		ByteFallback            bool            `json:"byte_fallback"`
		IgnoreMerges            bool            `json:"ignore_merges"`
		Dropout                 *float64        `json:"dropout"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	if c.Dropout != nil && (*c.Dropout < 0 || *c.Dropout > 1) {
		return nil, fieldErrorf("dropout", "%g is not in [0, 1]", *c.Dropout)
	}
	v, err := parseVocab(c.Vocab)
	if err != nil {
		return nil, err
	}
	b := &BPE{vocab: v, unkID: -1, fuseUnk: c.FuseUnk, byteFall: c.ByteFallback, ignoreMerge: c.IgnoreMerges,
		cache: make(map[string][]Token)}
	if c.UnkToken != nil {
		b.unk = *c.UnkToken
		if id, ok := v.ids[b.unk]; ok {
			b.unkID = id
		}
	}
	if c.ContinuingSubwordPrefix != nil {
		b.prefix = *c.ContinuingSubwordPrefix
	}
	if c.EndOfWordSuffix != nil {
		b.suffix = *c.EndOfWordSuffix
	}
	for i := range b.byteIDs {
		b.byteIDs[i] = -1
		if id, ok := v.ids[fmt.Sprintf("<0x%02X>", i)]; ok {
			b.byteIDs[i] = id
		}
	}
	pairs, err := parseMerges(c.Merges)
	if err != nil {
		return nil, err
	}
	b.merges = make(map[uint64]merge, len(pairs))
	for rank, p := range pairs {
		field := fmt.Sprintf("merges[%d]", rank)
		a, ok := v.ids[p[0]]
		if !ok {
			return nil, fieldErrorf(field, "token %q is not in the vocabulary", p[0])
		}
		bid, ok := v.ids[p[1]]
		if !ok {
			return nil, fieldErrorf(field, "token %q is not in the vocabulary", p[1])
		}
		right := p[1]
		if b.prefix != "" && strings.HasPrefix(right, b.prefix) {
			right = right[len(b.prefix):]
		}
		nid, ok := v.ids[p[0]+right]
		if !ok {
			return nil, fieldErrorf(field, "merged token %q is not in the vocabulary", p[0]+right)
		}
		if a > 1<<31 || bid > 1<<31 {
			return nil, fieldErrorf(field, "ids above 2^31 are not supported")
		}
		b.merges[uint64(a)<<32|uint64(bid)] = merge{rank: int32(rank), newID: nid}
	}
	return b, nil
}

// parseMerges reads merges as ["a b", …] or [["a", "b"], …].
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var lines []string
	if err := json.Unmarshal(raw, &lines); err == nil {
		out := make([][2]string, len(lines))
		for i, l := range lines {
			a, b, ok := strings.Cut(l, " ")
			if !ok || a == "" || b == "" || strings.Contains(b, " ") {
				return nil, fieldErrorf(fmt.Sprintf("merges[%d]", i), "%q is not two tokens separated by one space", l)
			}
			out[i] = [2]string{a, b}
		}
		return out, nil
	}
	var pairs [][]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, fieldErrorf("merges", `want ["a b", …] or [["a", "b"], …]`)
	}
	out := make([][2]string, len(pairs))
	for i, p := range pairs {
		if len(p) != 2 {
			return nil, fieldErrorf(fmt.Sprintf("merges[%d]", i), "want two tokens, have %d", len(p))
		}
		out[i] = [2]string{p[0], p[1]}
	}
	return out, nil
}

// Tokenize implements Model.
func (b *BPE) Tokenize(dst []Token, word string) ([]Token, error) {
	if word == "" {
		return dst, nil
	}
	if b.ignoreMerge {
		if id, ok := b.ids[word]; ok {
			return append(dst, Token{ID: id, Value: b.token(id), End: len(word)}), nil
		}
	}
	cacheable := len(word) <= bpeCacheMaxLen
	if cacheable {
		b.mu.RLock()
		hit, ok := b.cache[word]
		b.mu.RUnlock()
		if ok {
			return append(dst, hit...), nil
		}
	}
	n := len(dst)
	dst, err := b.mergeWord(dst, word)
	if err != nil {
		return dst, err
	}
	if cacheable {
		b.mu.Lock()
		if len(b.cache) < bpeCacheCap {
			b.cache[word] = append([]Token(nil), dst[n:]...)
		}
		b.mu.Unlock()
	}
	return dst, nil
}

// symbol is one symbol of a word being merged: a doubly linked list
// over a slice.
type symbol struct {
	id         int64
	start, end int
	prev, next int
}

func (b *BPE) mergeWord(dst []Token, word string) ([]Token, error) {
	syms := make([]symbol, 0, len(word))
	add := func(id int64, start, end int) {
		syms = append(syms, symbol{id: id, start: start, end: end, prev: len(syms) - 1, next: len(syms) + 1})
	}
	unkStart, unkEnd := -1, -1
	flushUnk := func() {
		if unkStart >= 0 {
			add(b.unkID, unkStart, unkEnd)
			unkStart = -1
		}
	}
	var buf []byte
	for i := 0; i < len(word); {
		_, size := utf8.DecodeRuneInString(word[i:])
		end := i + size
		buf = buf[:0]
		if i > 0 {
			buf = append(buf, b.prefix...)
		}
		buf = append(buf, word[i:end]...)
		if end == len(word) {
			buf = append(buf, b.suffix...)
		}
		if id, ok := b.ids[string(buf)]; ok {
			flushUnk()
			add(id, i, end)
			i = end
			continue
		}
		if b.byteFall {
			all := true
			for _, c := range buf {
				if b.byteIDs[c] < 0 {
					all = false
					break
				}
			}
			if all {
				flushUnk()
				for k, c := range buf {
					// Each byte token covers one byte of the word (the
					// prefix and suffix bytes sit at the character).
					s := min(i+k, end-1)
					add(b.byteIDs[c], s, s+1)
				}
				i = end
				continue
			}
		}
		if b.unk != "" {
			if b.unkID < 0 {
				return dst, fmt.Errorf("BPE: %w (%q)", errNoUnk, b.unk)
			}
			switch {
			case unkStart >= 0 && b.fuseUnk:
				unkEnd = end
			default:
				flushUnk()
				unkStart, unkEnd = i, end
			}
		}
		i = end
	}
	flushUnk()
	if len(syms) == 0 {
		return dst, nil
	}
	syms[len(syms)-1].next = -1
	b.mergeAll(syms)
	for k := 0; k >= 0 && k < len(syms); k = syms[k].next {
		s := syms[k]
		dst = append(dst, Token{ID: s.id, Value: b.token(s.id), Start: s.start, End: s.end})
	}
	return dst, nil
}

// cand is a possible merge of the symbol at pos with its next.
type cand struct {
	rank int32
	pos  int
	left int64 // ids the merge was computed for, to detect stale entries
	rght int64
	new  int64
}

func candLess(a, b cand) bool { return a.rank < b.rank || a.rank == b.rank && a.pos < b.pos }

// mergeAll applies merges lowest rank first (leftmost first among equal
// ranks), as Hugging Face's Word::merge_all does.
func (b *BPE) mergeAll(syms []symbol) {
	h := make([]cand, 0, len(syms))
	push := func(c cand) {
		h = append(h, c)
		for i := len(h) - 1; i > 0; {
			p := (i - 1) / 2
			if !candLess(h[i], h[p]) {
				break
			}
			h[i], h[p] = h[p], h[i]
			i = p
		}
	}
	pop := func() cand {
		top := h[0]
		last := len(h) - 1
		h[0] = h[last]
		h = h[:last]
		for i := 0; ; {
			l, r, m := 2*i+1, 2*i+2, i
			if l < len(h) && candLess(h[l], h[m]) {
				m = l
			}
			if r < len(h) && candLess(h[r], h[m]) {
				m = r
			}
			if m == i {
				break
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
		return top
	}
	pairAt := func(i int) {
		j := syms[i].next
		if j < 0 {
			return
		}
		if m, ok := b.merges[uint64(syms[i].id)<<32|uint64(syms[j].id)]; ok {
			push(cand{rank: m.rank, pos: i, left: syms[i].id, rght: syms[j].id, new: m.newID})
		}
	}
	for i := 0; i < len(syms)-1; i++ {
		pairAt(i)
	}
	for len(h) > 0 {
		c := pop()
		s := &syms[c.pos]
		if s.end < 0 || s.id != c.left || s.next < 0 || syms[s.next].id != c.rght {
			continue // stale
		}
		j := s.next
		s.id = c.new
		s.end = syms[j].end
		s.next = syms[j].next
		syms[j].end = -1 // removed
		if s.next >= 0 {
			syms[s.next].prev = c.pos
		}
		if s.prev >= 0 {
			pairAt(s.prev)
		}
		pairAt(c.pos)
	}
}
