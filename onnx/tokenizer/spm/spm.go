// Package spm converts a SentencePiece model (the ModelProto of a .model
// file) to a Hugging Face tokenizer.json the way Hugging Face's
// SpmConverter does: the pieces and scores as a Unigram model, the
// precompiled character map as a Precompiled normalizer followed by a
// right Strip and runs of spaces replaced by one "▁", a Metaspace
// pre-tokenizer that always prepends "▁", control and user-defined pieces
// as added tokens, and the XLM-RoBERTa template <s> $A </s> (pair
// <s> $A </s> </s> $B </s>).
package spm

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Piece types of sentencepiece_model.proto.
const (
	typeNormal      = 1
	typeUnknown     = 2
	typeControl     = 3
	typeUserDefined = 4
	typeUnused      = 5
	typeByte        = 6
)

// Piece is one vocabulary entry.
type Piece struct {
	Piece string
	Score float32
	Type  int
}

// Model is the part of a ModelProto the conversion needs.
type Model struct {
	Pieces            []Piece
	ModelType         int // 1 unigram, 2 BPE, 3 word, 4 char
	UnkID             int
	ByteFallback      bool
	Charsmap          []byte
	AddDummyPrefix    bool
	NormalizerName    string
	RemoveExtraSpaces bool
}

// Parse reads a serialized ModelProto.
func Parse(b []byte) (*Model, error) {
	m := &Model{ModelType: 1, AddDummyPrefix: true, RemoveExtraSpaces: true}
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			p := Piece{Type: typeNormal}
			err := fields(v, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
				switch {
				case num == 1 && typ == protowire.BytesType:
					p.Piece = string(v)
				case num == 2 && typ == protowire.Fixed32Type:
					p.Score = math.Float32frombits(uint32(x))
				case num == 3 && typ == protowire.VarintType:
					p.Type = int(x)
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("pieces[%d]: %w", len(m.Pieces), err)
			}
			m.Pieces = append(m.Pieces, p)
		case num == 2 && typ == protowire.BytesType: // trainer_spec
			return fields(v, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
				switch {
				case num == 3 && typ == protowire.VarintType:
					m.ModelType = int(x)
				case num == 35 && typ == protowire.VarintType:
					m.ByteFallback = x != 0
				case num == 40 && typ == protowire.VarintType:
					m.UnkID = int(int32(x))
				}
				return nil
			})
		case num == 3 && typ == protowire.BytesType: // normalizer_spec
			return fields(v, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
				switch {
				case num == 1 && typ == protowire.BytesType:
					m.NormalizerName = string(v)
				case num == 2 && typ == protowire.BytesType:
					m.Charsmap = append([]byte(nil), v...)
				case num == 3 && typ == protowire.VarintType:
					m.AddDummyPrefix = x != 0
				case num == 4 && typ == protowire.VarintType:
					m.RemoveExtraSpaces = x != 0
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("not a SentencePiece model: %w", err)
	}
	if len(m.Pieces) == 0 {
		return nil, errors.New("not a SentencePiece model: no pieces")
	}
	if m.UnkID < 0 || m.UnkID >= len(m.Pieces) {
		return nil, fmt.Errorf("unk_id %d is not a piece", m.UnkID)
	}
	return m, nil
}

// fields calls f for each field of a protobuf message: v is the payload
// of length-delimited fields, x the value of varint and fixed ones.
func fields(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var u uint32
			u, n = protowire.ConsumeFixed32(b)
			x = uint64(u)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := f(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

// TokenizerJSON returns the tokenizer.json of a unigram model.
func (m *Model) TokenizerJSON() ([]byte, error) {
	if m.ModelType != 1 {
		return nil, fmt.Errorf("model type %d: only unigram (1) models are converted", m.ModelType)
	}
	type obj = map[string]any
	vocab := make([][2]any, len(m.Pieces))
	var added []obj
	id := func(piece string) (int, bool) {
		for i, p := range m.Pieces {
			if p.Piece == piece {
				return i, true
			}
		}
		return 0, false
	}
	for i, p := range m.Pieces {
		vocab[i] = [2]any{p.Piece, float64(p.Score)}
		if p.Type == typeControl || p.Type == typeUserDefined {
			added = append(added, obj{"id": i, "content": p.Piece, "single_word": false, "lstrip": false,
				"rstrip": false, "normalized": false, "special": p.Type == typeControl})
		}
	}
	norms := []any{
		obj{"type": "Strip", "strip_left": false, "strip_right": true},
		obj{"type": "Replace", "pattern": obj{"Regex": " {2,}"}, "content": "▁"},
	}
	if len(m.Charsmap) > 0 {
		norms = append([]any{obj{"type": "Precompiled", "precompiled_charsmap": m.Charsmap}}, norms...)
	}
	prepend := "always"
	if !m.AddDummyPrefix {
		prepend = "never"
	}
	doc := obj{
		"version":       "1.0",
		"truncation":    nil,
		"padding":       nil,
		"added_tokens":  added,
		"normalizer":    obj{"type": "Sequence", "normalizers": norms},
		"pre_tokenizer": obj{"type": "Metaspace", "replacement": "▁", "prepend_scheme": prepend, "split": true},
		"decoder":       obj{"type": "Metaspace", "replacement": "▁", "prepend_scheme": prepend, "split": true},
		"model":         obj{"type": "Unigram", "unk_id": m.UnkID, "vocab": vocab, "byte_fallback": m.ByteFallback},
	}
	bos, okB := id("<s>")
	eos, okE := id("</s>")
	if okB && okE {
		doc["post_processor"] = obj{
			"type": "TemplateProcessing",
			"single": []any{
				obj{"SpecialToken": obj{"id": "<s>", "type_id": 0}}, obj{"Sequence": obj{"id": "A", "type_id": 0}},
				obj{"SpecialToken": obj{"id": "</s>", "type_id": 0}},
			},
			"pair": []any{
				obj{"SpecialToken": obj{"id": "<s>", "type_id": 0}}, obj{"Sequence": obj{"id": "A", "type_id": 0}},
				obj{"SpecialToken": obj{"id": "</s>", "type_id": 0}}, obj{"SpecialToken": obj{"id": "</s>", "type_id": 0}},
				obj{"Sequence": obj{"id": "B", "type_id": 0}}, obj{"SpecialToken": obj{"id": "</s>", "type_id": 0}},
			},
			"special_tokens": obj{
				"<s>":  obj{"id": "<s>", "ids": []int{bos}, "tokens": []string{"<s>"}},
				"</s>": obj{"id": "</s>", "ids": []int{eos}, "tokens": []string{"</s>"}},
			},
		}
	} else {
		doc["post_processor"] = nil
	}
	return json.MarshalIndent(doc, "", " ")
}
