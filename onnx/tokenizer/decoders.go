package tokenizer

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A decoder turns token strings back into text pieces (Hugging Face's
// decode_chain); Decode joins what the chain returns.
type decoder interface {
	decodeChain(tokens []string) []string
}

var decoders = registry[decoder]{}

func init() {
	decoders.register("ByteLevel", func(json.RawMessage) (decoder, error) { return byteLevelDec{}, nil })
	decoders.register("WordPiece", parseWordPieceDec)
	decoders.register("Metaspace", parseMetaspaceDec)
	decoders.register("BPEDecoder", parseBPEDec)
	decoders.register("ByteFallback", func(json.RawMessage) (decoder, error) { return byteFallbackDec{}, nil })
	decoders.register("Fuse", func(json.RawMessage) (decoder, error) { return fuseDec{}, nil })
	decoders.register("Replace", parseReplaceDec)
	decoders.register("Strip", parseStripDec)
	decoders.register("Sequence", parseDecSequence)
}

// runeByte inverts byteRune.
var runeByte = func() map[rune]byte {
	m := make(map[rune]byte, 256)
	for b, r := range byteRune {
		m[r] = byte(b)
	}
	return m
}()

// byteLevelDec maps GPT-2 runes back to bytes; invalid UTF-8 becomes
// U+FFFD.
type byteLevelDec struct{}

func (byteLevelDec) decodeChain(tokens []string) []string {
	var b []byte
	for _, t := range tokens {
		for _, r := range t {
			if c, ok := runeByte[r]; ok {
				b = append(b, c)
			} else {
				b = utf8.AppendRune(b, r)
			}
		}
	}
	return []string{strings.ToValidUTF8(string(b), "\uFFFD")}
}

type wordPieceDec struct {
	prefix  string
	cleanup bool
}

func parseWordPieceDec(raw json.RawMessage) (decoder, error) {
	c := struct {
		Prefix  *string `json:"prefix"`
		Cleanup *bool   `json:"cleanup"`
	}{}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	d := wordPieceDec{prefix: "##", cleanup: c.Cleanup == nil || *c.Cleanup}
	if c.Prefix != nil {
		d.prefix = *c.Prefix
	}
	return d, nil
}

// cleanupSpaces is Hugging Face's decoders::wordpiece::cleanup.
var cleanupSpaces = strings.NewReplacer(" .", ".", " ?", "?", " !", "!", " ,", ",", " ' ", "'", " n't", "n't",
	" 'm", "'m", " do not", " don't", " 's", "'s", " 've", "'ve", " 're", "'re")

func (d wordPieceDec) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		if i > 0 {
			if strings.HasPrefix(t, d.prefix) {
				t = strings.Replace(t, d.prefix, "", 1)
			} else {
				t = " " + t
			}
		}
		if d.cleanup {
			t = cleanupSpaces.Replace(t)
		}
		out[i] = t
	}
	return out
}

type metaspaceDec struct {
	repl        string
	stripPrefix bool
}

func parseMetaspaceDec(raw json.RawMessage) (decoder, error) {
	p, err := parseMetaspace(raw)
	if err != nil {
		return nil, err
	}
	m := p.(metaspace)
	return metaspaceDec{repl: m.repl, stripPrefix: m.prepend != "never"}, nil
}

func (d metaspaceDec) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		t = strings.ReplaceAll(t, d.repl, " ")
		if i == 0 && d.stripPrefix {
			t = strings.TrimPrefix(t, " ")
		}
		out[i] = t
	}
	return out
}

type bpeDec struct{ suffix string }

func parseBPEDec(raw json.RawMessage) (decoder, error) {
	c := struct {
		Suffix *string `json:"suffix"`
	}{}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	d := bpeDec{suffix: "</w>"}
	if c.Suffix != nil {
		d.suffix = *c.Suffix
	}
	return d, nil
}

func (d bpeDec) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		repl := " "
		if i == len(tokens)-1 {
			repl = ""
		}
		if d.suffix != "" {
			t = strings.ReplaceAll(t, d.suffix, repl)
		}
		out[i] = t
	}
	return out
}

// byteFallbackDec turns runs of <0xNN> tokens into the text they encode
// (U+FFFD for each byte when the run is not valid UTF-8).
type byteFallbackDec struct{}

func byteToken(t string) (byte, bool) {
	if len(t) != 6 || !strings.HasPrefix(t, "<0x") || t[5] != '>' {
		return 0, false
	}
	v, err := strconv.ParseUint(t[3:5], 16, 8)
	return byte(v), err == nil
}

func (byteFallbackDec) decodeChain(tokens []string) []string {
	var out []string
	var run []byte
	flush := func() {
		if len(run) == 0 {
			return
		}
		if utf8.Valid(run) {
			out = append(out, string(run))
		} else {
			for range run {
				out = append(out, "\uFFFD")
			}
		}
		run = run[:0]
	}
	for _, t := range tokens {
		if b, ok := byteToken(t); ok {
			run = append(run, b)
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out
}

type fuseDec struct{}

func (fuseDec) decodeChain(tokens []string) []string { return []string{strings.Join(tokens, "")} }

type replaceDec struct {
	pat     pattern
	content string
}

func parseReplaceDec(raw json.RawMessage) (decoder, error) {
	n, err := parseReplace(raw)
	if err != nil {
		return nil, err
	}
	return replaceDec(n.(replace)), nil
}

func (d replaceDec) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		var b strings.Builder
		prev := 0
		for _, m := range d.pat.findAll(t, nil) {
			if m[1] == m[0] {
				continue
			}
			b.WriteString(t[prev:m[0]])
			b.WriteString(d.content)
			prev = m[1]
		}
		b.WriteString(t[prev:])
		out[i] = b.String()
	}
	return out
}

type stripDec struct {
	content     rune
	start, stop int
}

func parseStripDec(raw json.RawMessage) (decoder, error) {
	c := struct {
		Content string `json:"content"`
		Start   int    `json:"start"`
		Stop    int    `json:"stop"`
	}{}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(c.Content) != 1 {
		return nil, &FieldError{Field: "content", Err: fmt.Errorf("%q: want one character", c.Content)}
	}
	r, _ := utf8.DecodeRuneInString(c.Content)
	return stripDec{content: r, start: c.Start, stop: c.Stop}, nil
}

func (d stripDec) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		for k := 0; k < d.start && strings.HasPrefix(t, string(d.content)); k++ {
			t = t[utf8.RuneLen(d.content):]
		}
		for k := 0; k < d.stop && strings.HasSuffix(t, string(d.content)); k++ {
			t = t[:len(t)-utf8.RuneLen(d.content)]
		}
		out[i] = t
	}
	return out
}

type decSequence []decoder

func parseDecSequence(raw json.RawMessage) (decoder, error) {
	c := struct {
		Decoders []json.RawMessage `json:"decoders"`
	}{}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	var s decSequence
	for i, r := range c.Decoders {
		d, err := decoders.parse(r)
		if err != nil {
			return nil, fmt.Errorf("decoders[%d]: %w", i, err)
		}
		if d != nil {
			s = append(s, d)
		}
	}
	return s, nil
}

func (s decSequence) decodeChain(tokens []string) []string {
	for _, d := range s {
		tokens = d.decodeChain(tokens)
	}
	return tokens
}

// Decode turns ids back into text with the file's decoder (tokens joined
// by spaces when it has none). Ids that are neither vocabulary entries nor
// added tokens are skipped, as are special added tokens when skipSpecial.
func (t *Tokenizer) Decode(ids []int64, skipSpecial bool) string {
	tokens := make([]string, 0, len(ids))
	for _, id := range ids {
		if skipSpecial && t.specialIDs[id] {
			continue
		}
		if s, ok := t.addedByID[id]; ok {
			tokens = append(tokens, s)
			continue
		}
		if s, ok := t.model.IDToken(id); ok {
			tokens = append(tokens, s)
		}
	}
	if t.dec == nil {
		return strings.Join(tokens, " ")
	}
	return strings.Join(t.dec.decodeChain(tokens), "")
}
