package tokenizer

import (
	"testing"
	"unicode/utf8"
)

// FuzzTokenizerJSON checks that no tokenizer.json makes Parse panic and
// that a tokenizer it accepts encodes text without panicking, within the
// length limit, with one token per id.
func FuzzTokenizerJSON(f *testing.F) {
	f.Add([]byte(`{"model":{"type":"WordLevel","vocab":{"[PAD]":0,"[UNK]":1,"hello":2},"unk_token":"[UNK]"},"normalizer":{"type":"BertNormalizer","lowercase":true},"pre_tokenizer":{"type":"BertPreTokenizer"}}`), "Hello, world!")
	f.Add([]byte(`{"model":{"type":"WordPiece","vocab":{"[UNK]":0,"[CLS]":1,"[SEP]":2,"un":3,"##aff":4},"unk_token":"[UNK]","continuing_subword_prefix":"##"},"post_processor":{"type":"BertProcessing","sep":["[SEP]",2],"cls":["[CLS]",1]},"truncation":{"max_length":4}}`), "unaff unaff")
	f.Add([]byte(`{"model":{"type":"BPE"}}`), "x")
	f.Add([]byte(`{"added_tokens":[{"id":5,"content":"<x>","special":true}],"model":{"type":"WordLevel","vocab":{"a":0},"unk_token":"a"}}`), "a<x>a")
	f.Fuzz(func(t *testing.T, data []byte, text string) {
		tk, err := Parse(data)
		if err != nil {
			return
		}
		for _, max := range []int{0, 1, 3, 512} {
			e := tk.Encode(text, max)
			// A limit below the template's special tokens still keeps them.
			if max > 0 && len(e.IDs) > max && len(e.IDs) > tk.NumSpecialTokens() {
				t.Fatalf("Encode(%q, %d): %d ids", text, max, len(e.IDs))
			}
			if len(e.Tokens) != len(e.IDs) {
				t.Fatalf("%d tokens for %d ids", len(e.Tokens), len(e.IDs))
			}
			for _, tok := range e.Tokens {
				if !utf8.ValidString(tok) && utf8.ValidString(text) {
					t.Fatalf("invalid UTF-8 token %q from valid text", tok)
				}
			}
		}
	})
}
