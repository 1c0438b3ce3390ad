package tokenizer

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/embfit/embfit/internal/procstat"
)

// synthetic is a small SentencePiece-style BPE tokenizer exercising the
// components the reference files do not: Replace and Prepend normalizers,
// Metaspace without split, byte fallback, fused unknowns and added tokens
// with single_word, lstrip and rstrip.
const synthetic = `{
 "added_tokens": [
  {"id": 0, "content": "<unk>", "special": true, "normalized": false},
  {"id": 1, "content": "<s>", "special": true, "normalized": false, "lstrip": true},
  {"id": 2, "content": "</s>", "special": true, "normalized": false, "rstrip": true},
  {"id": 3, "content": "word", "special": false, "normalized": true, "single_word": true}
 ],
 "normalizer": {"type": "Sequence", "normalizers": [
  {"type": "Prepend", "prepend": "▁"},
  {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
  {"type": "NFKC"}, {"type": "Lowercase"}, {"type": "Strip", "strip_left": false, "strip_right": true}]},
 "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
  {"type": "Digits", "individual_digits": true},
  {"type": "Punctuation", "behavior": "MergedWithNext"}]},
 "post_processor": {"type": "TemplateProcessing",
  "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
  "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
  "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
 "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true,
  "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "word": 3, "▁": 4, "a": 5, "b": 6, "c": 7, "▁a": 8, "ab": 9, "▁ab": 10,
   "<0x41>": 11, "<0xC3>": 12, "<0xA9>": 13, "<0x7A>": 14, "1": 15},
  "merges": [["▁", "a"], ["a", "b"], ["▁a", "b"]]}
}`

var fuzzTokenizers = struct {
	once sync.Once
	tks  []*Tokenizer
}{}

// fuzzSet is the synthetic tokenizer and, from make setup, one file of
// each reference family.
func fuzzSet(t testing.TB) []*Tokenizer {
	fuzzTokenizers.once.Do(func() {
		s, err := Parse([]byte(synthetic))
		if err != nil {
			t.Fatal(err)
		}
		fuzzTokenizers.tks = append(fuzzTokenizers.tks, s)
		for _, name := range []string{"all-minilm-l6-v2", "llama3", "wordnet-unigram", "cohere"} {
			tk, err := Load(refPath(t, name))
			if err != nil {
				t.Fatal(err)
			}
			fuzzTokenizers.tks = append(fuzzTokenizers.tks, tk)
		}
	})
	if fuzzTokenizers.tks == nil {
		t.Fatal("fuzz tokenizers failed to load")
	}
	return fuzzTokenizers.tks
}

// checkEncoding checks what every encoding of text must satisfy.
func checkEncoding(t *testing.T, tk *Tokenizer, text string, e Encoding) {
	t.Helper()
	n := len(e.IDs)
	if len(e.Tokens) != n || len(e.TypeIDs) != n || len(e.Offsets) != n || len(e.SpecialTokensMask) != n {
		t.Fatalf("%q: lengths %d %d %d %d %d", text, n, len(e.Tokens), len(e.TypeIDs), len(e.Offsets), len(e.SpecialTokensMask))
	}
	for i, id := range e.IDs {
		if id < 0 || id > tk.MaxID() {
			t.Fatalf("%q: id %d outside [0, %d]", text, id, tk.MaxID())
		}
		o := e.Offsets[i]
		if o[0] < 0 || o[1] < o[0] || o[1] > len(text) {
			t.Fatalf("%q: offset %v outside the text", text, o)
		}
	}
}

func FuzzEncode(f *testing.F) {
	for _, s := range []string{"", " ", "Hello, world!", "ab 1a\u00e9z word<s> x </s>y", "a  b\t\n", "👍🏽", "\x80\xff", "'s 'S ſ"} {
		f.Add(s)
	}
	tks := fuzzSet(f)
	f.Fuzz(func(t *testing.T, text string) {
		for _, tk := range tks {
			start := time.Now()
			e, err := tk.EncodeText(text, 0)
			if err != nil && !errors.Is(err, errNoUnk) {
				t.Fatalf("%q: %v", text, err)
			}
			if err == nil {
				checkEncoding(t, tk, text, e)
			}
			if d := time.Since(start); d > time.Second+time.Duration(len(text))*time.Millisecond {
				t.Fatalf("%d bytes took %v", len(text), d)
			}
			if p, err := tk.EncodePair(text, text, 0); err == nil {
				checkEncoding(t, tk, text, p)
			}
		}
		// The hand-written scanners agree with the regex engine.
		for expr, sc := range knownScanners {
			eng, err := compileEngine(expr)
			if err != nil {
				t.Fatal(err)
			}
			if utf8.ValidString(text) {
				if got, want := sc.findAll(text, nil), eng.findAll(text, nil); !slices.Equal(got, want) {
					t.Fatalf("%q: scanner %v, engine %v", text, got, want)
				}
			}
		}
	})
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(synthetic))
	f.Add([]byte(wordLevelJSON))
	f.Add([]byte(`{"model":{"type":"Unigram","vocab":[["<unk>",0],["a",-1]],"unk_id":0},"pre_tokenizer":{"type":"Metaspace"}}`))
	f.Add([]byte(`{"normalizer":{"type":"Precompiled","precompiled_charsmap":"AAAAAA=="},"model":{"type":"WordLevel","vocab":{"a":0},"unk_token":"a"}}`))
	f.Add([]byte(`{"pre_tokenizer":{"type":"Split","pattern":{"Regex":"\\s+(?!\\S)"},"behavior":"Isolated"},"model":{"type":"WordPiece","vocab":{"a":0}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		defer func() {
			if d := time.Since(start); d > time.Second+time.Duration(len(data))*time.Millisecond {
				t.Fatalf("%d bytes took %v", len(data), d)
			}
		}()
		tk, err := Parse(data)
		if err != nil {
			if utf8.RuneCountInString(err.Error()) > 0 && !validOneLine(err.Error()) {
				t.Fatalf("error spans lines: %q", err)
			}
			return
		}
		for _, text := range []string{"", "Hello, wörld! 123 <s>", "a  b\t\n👍🏽"} {
			e, err := tk.EncodeText(text, 0)
			if err == nil {
				checkEncoding(t, tk, text, e)
			}
		}
	})
}

func validOneLine(s string) bool {
	for _, r := range s {
		if r == '\n' {
			return false
		}
	}
	return true
}

// TestLinearTime checks that encoding cost grows linearly with the input
// on inputs without spaces (one long word for the model). Costs are the
// process's CPU time (best of five), which a loaded machine inflates less
// than wall time.
func TestLinearTime(t *testing.T) {
	if raceEnabled {
		t.Skip("timing test")
	}
	for _, tk := range fuzzSet(t) {
		cost := func(n int) time.Duration {
			text := make([]byte, 0, n)
			for i := 0; len(text) < n; i++ {
				text = append(text, "ab1é👍x"[i%6])
			}
			best := time.Duration(1 << 62)
			for range 5 {
				c0 := procstat.CPUTime()
				tk.Encode(string(text), 0)
				best = min(best, procstat.CPUTime()-c0)
			}
			return best
		}
		small, large := cost(20000), cost(80000)
		t.Logf("tokenizer with %d tokens: 20 kB %v, 80 kB %v of CPU", tk.VocabSize(), small, large)
		if large > 12*small+30*time.Millisecond {
			t.Errorf("tokenizer with %d tokens: 20 kB in %v, 80 kB in %v: not linear", tk.VocabSize(), small, large)
		}
	}
}
