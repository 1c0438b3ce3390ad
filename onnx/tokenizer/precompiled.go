package tokenizer

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rivo/uniseg"
)

// precompiled is SentencePiece's precompiled character map: a
// double-array trie (Darts) over UTF-8 keys whose values index a table of
// NUL-terminated replacement strings. Each grapheme cluster shorter than
// six bytes is looked up whole first, then each character on its own, as
// Hugging Face's Precompiled normalizer does.
type precompiled struct {
	array      []uint32
	normalized string
}

func parsePrecompiled(raw json.RawMessage) (normalizer, error) {
	var c struct {
		Charsmap *string `json:"precompiled_charsmap"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	if c.Charsmap == nil || *c.Charsmap == "" {
		// Hugging Face accepts an empty map and changes nothing.
		return normSequence(nil), nil
	}
	blob, err := base64.StdEncoding.DecodeString(*c.Charsmap)
	if err != nil {
		return nil, &FieldError{Field: "precompiled_charsmap", Err: fmt.Errorf("not base64: %v", err)}
	}
	p, err := newPrecompiled(blob)
	if err != nil {
		return nil, &FieldError{Field: "precompiled_charsmap", Err: err}
	}
	return p, nil
}

// newPrecompiled parses the blob: a little-endian uint32 byte size of the
// trie, the trie's uint32 units, then the replacement strings.
func newPrecompiled(blob []byte) (*precompiled, error) {
	if len(blob) < 4 {
		return nil, errors.New("not a charsmap: shorter than its 4-byte header")
	}
	size := binary.LittleEndian.Uint32(blob)
	if size%4 != 0 || size == 0 || uint64(size) > uint64(len(blob)-4) {
		return nil, fmt.Errorf("not a charsmap: trie size %d does not fit the %d-byte blob", size, len(blob))
	}
	p := &precompiled{array: make([]uint32, size/4), normalized: string(blob[4+size:])}
	for i := range p.array {
		p.array[i] = binary.LittleEndian.Uint32(blob[4+4*i:])
	}
	if len(p.normalized) > 0 && p.normalized[len(p.normalized)-1] != 0 {
		return nil, errors.New("not a charsmap: its string table does not end in NUL")
	}
	return p, nil
}

func hasLeaf(u uint32) bool  { return (u>>8)&1 == 1 }
func value(u uint32) uint32  { return u & (1<<31 - 1) }
func label(u uint32) uint32  { return u & (1<<31 | 0xff) }
func offset(u uint32) uint32 { return (u >> 10) << ((u & (1 << 9)) >> 6) }

// lookup returns the replacement of the first (shortest) key that is a
// prefix of s, as Darts' commonPrefixSearch()[0].
func (p *precompiled) lookup(s string) (string, bool) {
	if len(p.array) == 0 {
		return "", false
	}
	pos := uint32(0)
	pos ^= offset(p.array[0])
	for i := 0; i < len(s); i++ {
		c := uint32(s[i])
		if c == 0 {
			break
		}
		pos ^= c
		if int(pos) >= len(p.array) {
			return "", false
		}
		u := p.array[pos]
		if label(u) != c {
			return "", false
		}
		pos ^= offset(u)
		if int(pos) >= len(p.array) {
			return "", false
		}
		if hasLeaf(u) {
			v := int(value(p.array[pos]))
			if v >= len(p.normalized) {
				return "", false
			}
			end := v
			for end < len(p.normalized) && p.normalized[end] != 0 {
				end++
			}
			return p.normalized[v:end], true
		}
	}
	return "", false
}

func (p *precompiled) normalize(n *normalized) {
	b := n.builder()
	changed := false
	state := -1
	rest := n.s
	at := 0
	for len(rest) > 0 {
		var g string
		g, rest, _, state = uniseg.FirstGraphemeClusterInString(rest, state)
		gs := at
		at += len(g)
		if len(g) < 6 {
			if r, ok := p.lookup(g); ok {
				b.add(r, n.spanOf(gs, gs+len(g)))
				changed = true
				continue
			}
		}
		for i := 0; i < len(g); {
			_, size := decode(g, i)
			ch := g[i : i+size]
			if r, ok := p.lookup(ch); ok {
				b.add(r, n.spanOf(gs+i, gs+i+size))
				changed = true
			} else {
				for k := 0; k < size; k++ {
					b.b = append(b.b, ch[k])
					b.a = append(b.a, n.spanOf(gs+i+k, gs+i+k+1))
				}
			}
			i += size
		}
	}
	if changed {
		n.set(b)
	}
}
