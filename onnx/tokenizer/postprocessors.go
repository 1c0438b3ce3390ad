package tokenizer

import (
	"encoding/json"
	"fmt"
)

// seq is one tokenized text before post-processing.
type seq struct {
	ids     []int64
	tokens  []string
	offsets [][2]int
}

// A postProcessor adds special tokens around one text or a pair.
type postProcessor interface {
	// numAdded is how many tokens process adds.
	numAdded(pair bool) int
	// process builds the final encoding of a (and b when pair).
	process(a, b *seq, pair bool) Encoding
}

var postProcessors = registry[postProcessor]{}

func init() {
	postProcessors.register("TemplateProcessing", parseTemplate)
	postProcessors.register("BertProcessing", func(raw json.RawMessage) (postProcessor, error) { return parseClsSep(raw, false) })
	postProcessors.register("RobertaProcessing", func(raw json.RawMessage) (postProcessor, error) { return parseClsSep(raw, true) })
	// ByteLevel only trims offsets.
	postProcessors.register("ByteLevel", func(json.RawMessage) (postProcessor, error) { return nil, nil })
	postProcessors.register("Sequence", parsePostSequence)
}

// templatePiece is a special token or one of the input sequences.
type templatePiece struct {
	seq    int // 0: special tokens, 1: A, 2: B
	typeID int64
	ids    []int64
	tokens []string
}

type template struct{ single, pair []templatePiece }

func parseTemplate(raw json.RawMessage) (postProcessor, error) {
	type item struct {
		SpecialToken *struct {
			ID     string `json:"id"`
			TypeID int64  `json:"type_id"`
		} `json:"SpecialToken"`
		Sequence *struct {
			ID     string `json:"id"`
			TypeID int64  `json:"type_id"`
		} `json:"Sequence"`
	}
	var c struct {
		Single        []item `json:"single"`
		Pair          []item `json:"pair"`
		SpecialTokens map[string]struct {
			IDs    []int64  `json:"ids"`
			Tokens []string `json:"tokens"`
		} `json:"special_tokens"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	for _, name := range sortedKeys(c.SpecialTokens) {
		st := c.SpecialTokens[name]
		if len(st.IDs) != len(st.Tokens) {
			return nil, fieldErrorf("special_tokens."+name, "%d ids for %d tokens", len(st.IDs), len(st.Tokens))
		}
		for _, id := range st.IDs {
			if id < 0 {
				return nil, fieldErrorf("special_tokens."+name, "negative id %d", id)
			}
		}
	}
	conv := func(field string, items []item) ([]templatePiece, error) {
		var out []templatePiece
		for i, s := range items {
			switch {
			case s.Sequence != nil:
				switch s.Sequence.ID {
				case "A":
					out = append(out, templatePiece{seq: 1, typeID: s.Sequence.TypeID})
				case "B":
					out = append(out, templatePiece{seq: 2, typeID: s.Sequence.TypeID})
				default:
					return nil, fieldErrorf(fmt.Sprintf("%s[%d]", field, i), "sequence %q is not A or B", s.Sequence.ID)
				}
			case s.SpecialToken != nil:
				st, ok := c.SpecialTokens[s.SpecialToken.ID]
				if !ok {
					return nil, fieldErrorf(fmt.Sprintf("%s[%d]", field, i), "special token %q is not in special_tokens", s.SpecialToken.ID)
				}
				out = append(out, templatePiece{typeID: s.SpecialToken.TypeID, ids: st.IDs, tokens: st.Tokens})
			default:
				return nil, fieldErrorf(fmt.Sprintf("%s[%d]", field, i), "want SpecialToken or Sequence")
			}
		}
		return out, nil
	}
	var t template
	var err error
	if t.single, err = conv("single", c.Single); err != nil {
		return nil, err
	}
	if t.pair, err = conv("pair", c.Pair); err != nil {
		return nil, err
	}
	if len(t.single) == 0 {
		t.single = []templatePiece{{seq: 1}}
	}
	if len(t.pair) == 0 {
		t.pair = []templatePiece{{seq: 1}, {seq: 2, typeID: 1}}
	}
	return &t, nil
}

func (t *template) numAdded(pair bool) int {
	ps := t.single
	if pair {
		ps = t.pair
	}
	n := 0
	for _, p := range ps {
		n += len(p.ids)
	}
	return n
}

func (t *template) process(a, b *seq, pair bool) Encoding {
	ps := t.single
	if pair {
		ps = t.pair
	}
	n := t.numAdded(pair) + len(a.ids)
	if b != nil {
		n += len(b.ids)
	}
	e := Encoding{IDs: make([]int64, 0, n), TypeIDs: make([]int64, 0, n), Tokens: make([]string, 0, n),
		Offsets: make([][2]int, 0, n), SpecialTokensMask: make([]int8, 0, n)}
	for _, p := range ps {
		var s *seq
		switch p.seq {
		case 0:
			e.IDs = append(e.IDs, p.ids...)
			e.Tokens = append(e.Tokens, p.tokens...)
			for range p.ids {
				e.TypeIDs = append(e.TypeIDs, p.typeID)
				e.Offsets = append(e.Offsets, [2]int{0, 0})
				e.SpecialTokensMask = append(e.SpecialTokensMask, 1)
			}
			continue
		case 1:
			s = a
		case 2:
			s = b
		}
		if s == nil {
			continue
		}
		e.IDs = append(e.IDs, s.ids...)
		e.Tokens = append(e.Tokens, s.tokens...)
		e.Offsets = append(e.Offsets, s.offsets...)
		for range s.ids {
			e.TypeIDs = append(e.TypeIDs, p.typeID)
			e.SpecialTokensMask = append(e.SpecialTokensMask, 0)
		}
	}
	return e
}

// parseClsSep reads BertProcessing and RobertaProcessing: CLS A SEP and
// CLS A SEP B SEP (Bert) or CLS A SEP SEP B SEP (RoBERTa); what follows
// the first SEP is typed 1.
func parseClsSep(raw json.RawMessage, roberta bool) (postProcessor, error) {
	var c struct {
		Sep []json.RawMessage `json:"sep"`
		Cls []json.RawMessage `json:"cls"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	tok := func(field string, pair []json.RawMessage) (templatePiece, error) {
		var s string
		var id int64
		if len(pair) != 2 || json.Unmarshal(pair[0], &s) != nil || json.Unmarshal(pair[1], &id) != nil {
			return templatePiece{}, fieldErrorf(field, "want [token, id]")
		}
		if id < 0 {
			return templatePiece{}, fieldErrorf(field, "negative id %d", id)
		}
		return templatePiece{ids: []int64{id}, tokens: []string{s}}, nil
	}
	cls, err := tok("cls", c.Cls)
	if err != nil {
		return nil, err
	}
	sep, err := tok("sep", c.Sep)
	if err != nil {
		return nil, err
	}
	t := &template{single: []templatePiece{cls, {seq: 1}, sep}}
	sep1 := sep
	sep1.typeID = 1
	if roberta {
		t.pair = []templatePiece{cls, {seq: 1}, sep, sep1, {seq: 2, typeID: 1}, sep1}
	} else {
		t.pair = []templatePiece{cls, {seq: 1}, sep, {seq: 2, typeID: 1}, sep1}
	}
	return t, nil
}

// postSequence applies its processors in turn: the first one sees the
// pair, later ones its single result.
type postSequence []postProcessor

func parsePostSequence(raw json.RawMessage) (postProcessor, error) {
	var c struct {
		Processors []json.RawMessage `json:"processors"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	var s postSequence
	for i, r := range c.Processors {
		p, err := postProcessors.parse(r)
		if err != nil {
			return nil, fmt.Errorf("processors[%d]: %w", i, err)
		}
		if p != nil {
			s = append(s, p)
		}
	}
	switch len(s) {
	case 0:
		return nil, nil
	case 1:
		return s[0], nil
	}
	return s, nil
}

func (s postSequence) numAdded(pair bool) int {
	n := s[0].numAdded(pair)
	for _, p := range s[1:] {
		n += p.numAdded(false)
	}
	return n
}

func (s postSequence) process(a, b *seq, pair bool) Encoding {
	e := s[0].process(a, b, pair)
	for _, p := range s[1:] {
		e = p.process(&seq{ids: e.IDs, tokens: e.Tokens, offsets: e.Offsets}, nil, false)
	}
	return e
}
