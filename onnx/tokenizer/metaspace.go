package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
)

// metaspace replaces spaces by the replacement character (▁), prepends
// one to the text (always, on the first section only, or never) and
// splits before each of them.
type metaspace struct {
	repl    string
	prepend string // "always", "first" or "never"
	split   bool
}

func parseMetaspace(raw json.RawMessage) (preTokenizer, error) {
	var c struct {
		Replacement    *string `json:"replacement"`
		AddPrefixSpace *bool   `json:"add_prefix_space"`
		PrependScheme  *string `json:"prepend_scheme"`
		Split          *bool   `json:"split"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	m := metaspace{repl: "▁", prepend: "always", split: c.Split == nil || *c.Split}
	if c.Replacement != nil {
		if len([]rune(*c.Replacement)) != 1 {
			return nil, fmt.Errorf("replacement %q: want one character", *c.Replacement)
		}
		m.repl = *c.Replacement
	}
	switch {
	case c.PrependScheme != nil:
		switch *c.PrependScheme {
		case "always", "first", "never":
			m.prepend = *c.PrependScheme
		default:
			return nil, fmt.Errorf("prepend_scheme %q is not one of always, first, never", *c.PrependScheme)
		}
	case c.AddPrefixSpace != nil && !*c.AddPrefixSpace:
		m.prepend = "never"
	}
	return m, nil
}

func (ms metaspace) preTokenize(dst []piece, p piece) []piece {
	q := piece{first: p.first}
	if strings.IndexByte(p.s, ' ') >= 0 {
		var b strings.Builder
		q.m = make([]int32, 0, len(p.s)+8)
		for k := 0; k < len(p.s); k++ {
			at := int32(p.at(k))
			if p.s[k] == ' ' {
				b.WriteString(ms.repl)
				for range len(ms.repl) {
					q.m = append(q.m, at)
				}
				continue
			}
			b.WriteByte(p.s[k])
			q.m = append(q.m, at)
		}
		q.m = append(q.m, int32(p.at(len(p.s))))
		q.s = b.String()
		q.start = q.m[0]
	} else {
		q = p
	}
	if q.s != "" && !strings.HasPrefix(q.s, ms.repl) && (ms.prepend == "always" || ms.prepend == "first" && p.first) {
		q = prependPiece(q, ms.repl)
	}
	if !ms.split {
		if q.s != "" {
			dst = append(dst, q)
		}
		return dst
	}
	return splitByMatches(dst, q, literal(ms.repl).findAll(q.s, nil), mergedWithNext, false)
}
