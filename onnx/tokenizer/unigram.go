package tokenizer

import (
	"encoding/json"
	"fmt"
	"math"
	"unicode/utf8"
)

// Unigram is SentencePiece's unigram language model: a word is cut into
// the pieces whose summed log-probabilities (scores) are highest (Viterbi),
// characters no piece covers scoring as the unknown token.
type Unigram struct {
	pieces   []string
	scores   []float64
	ids      map[string]int64
	trie     trie
	unkID    int64 // -1: none
	byteFall bool
	fuseUnk  bool
	unkScore float64
	byteIDs  [256]int64
}

var _ Model = (*Unigram)(nil)

// unkPenalty is subtracted from the lowest piece score to score unknown
// characters, as in SentencePiece and Hugging Face.
const unkPenalty = 10.0

func parseUnigram(raw json.RawMessage) (Model, error) {
	var c struct {
		Vocab        []json.RawMessage `json:"vocab"`
		UnkID        *int64            `json:"unk_id"`
		ByteFallback bool              `json:"byte_fallback"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fieldErrorf("vocab", "want a list of [piece, score] pairs: %v", err)
	}
	u := &Unigram{unkID: -1, byteFall: c.ByteFallback, fuseUnk: true, ids: make(map[string]int64, len(c.Vocab))}
	minScore := math.Inf(1)
	for i, r := range c.Vocab {
		var pair []json.RawMessage
		var p string
		var s float64
		if json.Unmarshal(r, &pair) != nil || len(pair) != 2 || json.Unmarshal(pair[0], &p) != nil || json.Unmarshal(pair[1], &s) != nil {
			return nil, fieldErrorf(fmt.Sprintf("vocab[%d]", i), "want [piece, score], have %.40s", r)
		}
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return nil, fieldErrorf(fmt.Sprintf("vocab[%d]", i), "score %g is not finite", s)
		}
		if j, dup := u.ids[p]; dup {
			return nil, fieldErrorf(fmt.Sprintf("vocab[%d]", i), "piece %q is also vocab[%d]", p, j)
		}
		u.ids[p] = int64(i)
		u.pieces = append(u.pieces, p)
		u.scores = append(u.scores, s)
		minScore = min(minScore, s)
	}
	if len(u.pieces) == 0 {
		return nil, fieldErrorf("vocab", "empty")
	}
	if c.UnkID != nil {
		if *c.UnkID < 0 || *c.UnkID >= int64(len(u.pieces)) {
			return nil, fieldErrorf("unk_id", "%d is not an index of vocab (%d pieces)", *c.UnkID, len(u.pieces))
		}
		u.unkID = *c.UnkID
	}
	u.unkScore = minScore - unkPenalty
	u.trie = newTrie(u.pieces)
	for i := range u.byteIDs {
		u.byteIDs[i] = -1
		if id, ok := u.ids[fmt.Sprintf("<0x%02X>", i)]; ok {
			u.byteIDs[i] = id
		}
	}
	return u, nil
}

// TokenID implements Model.
func (u *Unigram) TokenID(t string) (int64, bool) { id, ok := u.ids[t]; return id, ok }

// IDToken implements Model.
func (u *Unigram) IDToken(id int64) (string, bool) {
	if id < 0 || id >= int64(len(u.pieces)) {
		return "", false
	}
	return u.pieces[id], true
}

// VocabSize implements Model.
func (u *Unigram) VocabSize() int { return len(u.pieces) }

// MaxID implements Model.
func (u *Unigram) MaxID() int64 { return int64(len(u.pieces)) - 1 }

type bestNode struct {
	score float64
	start int // -1: unreached
	id    int64
}

// Tokenize implements Model.
func (u *Unigram) Tokenize(dst []Token, word string) ([]Token, error) {
	if word == "" {
		return dst, nil
	}
	n := len(word)
	best := make([]bestNode, n+1)
	for i := 1; i <= n; i++ {
		best[i].start = -1
	}
	for at := 0; at < n; {
		_, mb := utf8.DecodeRuneInString(word[at:])
		base := best[at].score
		single := false
		u.trie.prefixes(word[at:], func(length int, id int64) {
			t := &best[at+length]
			if s := base + u.scores[id]; t.start < 0 || s > t.score {
				t.score, t.start, t.id = s, at, id
			}
			if length == mb {
				single = true
			}
		})
		if !single {
			if u.unkID < 0 {
				return dst, fmt.Errorf("Unigram: %w (no unk_id)", errNoUnk)
			}
			t := &best[at+mb]
			if s := base + u.unkScore; t.start < 0 || s > t.score {
				t.score, t.start, t.id = s, at, u.unkID
			}
		}
		at += mb
	}
	// Walk back; consecutive unknown pieces are fused into one.
	var rev [][2]int
	for end := n; end > 0; {
		b := best[end]
		if u.fuseUnk && b.id == u.unkID && len(rev) > 0 && best[rev[len(rev)-1][1]].id == u.unkID && rev[len(rev)-1][0] == end {
			rev[len(rev)-1][0] = b.start
		} else {
			rev = append(rev, [2]int{b.start, end})
		}
		end = b.start
	}
	for k := len(rev) - 1; k >= 0; k-- {
		s, e := rev[k][0], rev[k][1]
		str := word[s:e]
		if id, ok := u.ids[str]; ok {
			dst = append(dst, Token{ID: id, Value: u.pieces[id], Start: s, End: e})
			continue
		}
		if u.byteFall {
			all := true
			for i := s; i < e; i++ {
				if u.byteIDs[word[i]] < 0 {
					all = false
					break
				}
			}
			if all {
				for i := s; i < e; i++ {
					id := u.byteIDs[word[i]]
					dst = append(dst, Token{ID: id, Value: u.pieces[id], Start: s, End: e})
				}
				continue
			}
		}
		if u.unkID < 0 {
			return dst, fmt.Errorf("Unigram: %w (no unk_id)", errNoUnk)
		}
		dst = append(dst, Token{ID: u.unkID, Value: u.pieces[u.unkID], Start: s, End: e})
	}
	return dst, nil
}

// trie finds the vocabulary pieces that are prefixes of a string.
type trie struct {
	next map[uint64]int32 // node<<8 | byte → child node
	id   []int64          // per node: piece id ending here, -1 if none
}

func newTrie(pieces []string) trie {
	t := trie{next: make(map[uint64]int32, 4*len(pieces)), id: []int64{-1}}
	for pid, p := range pieces {
		node := int32(0)
		for i := 0; i < len(p); i++ {
			k := uint64(node)<<8 | uint64(p[i])
			c, ok := t.next[k]
			if !ok {
				c = int32(len(t.id))
				t.id = append(t.id, -1)
				t.next[k] = c
			}
			node = c
		}
		if p != "" && t.id[node] < 0 {
			t.id[node] = int64(pid)
		}
	}
	return t
}

// prefixes calls f(length, id) for every piece that is a prefix of s,
// shortest first.
func (t *trie) prefixes(s string, f func(length int, id int64)) {
	node := int32(0)
	for i := 0; i < len(s); i++ {
		c, ok := t.next[uint64(node)<<8|uint64(s[i])]
		if !ok {
			return
		}
		node = c
		if id := t.id[node]; id >= 0 {
			f(i+1, id)
		}
	}
}
