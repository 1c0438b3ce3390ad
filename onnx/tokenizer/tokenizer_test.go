package tokenizer

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestReferenceEncodings(t *testing.T) {
	tests := []struct {
		file   string
		text   string
		maxLen int
		ids    []int64
		tokens []string
	}{
		// Published in github.com/daulet/tokenizers' tokenizer_test.go.
		{"bert-base-uncased.json", "brown fox jumps over the lazy dog", 0,
			[]int64{101, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 102},
			[]string{"[CLS]", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "[SEP]"}},
		// Worked out by hand from all-minilm-l6-v2.json's vocabulary:
		//  - BertNormalizer lowercases and, strip_accents being null, strips
		//    accents too: "naïve café-goers in zürich say: ☃!" →
		//    "naive cafe-goers in zurich say: ☃!";
		//  - BertPreTokenizer splits on spaces and isolates punctuation:
		//    naive cafe - goers in zurich say : ☃ !
		//  - WordPiece, greedy longest match: naive=15743, cafe=7668,
		//    "-"=1011; "goers", "goer", "goe" are not in the vocabulary, so
		//    go=2175 + ##ers=2545; in=1999, zurich=10204, say=2360,
		//    ":"=1024; "☃" (a symbol, not punctuation) has no piece at all
		//    → [UNK]=100; "!"=999;
		//  - TemplateProcessing adds [CLS]=101 … [SEP]=102.
		{"all-minilm-l6-v2.json", "Naïve café-goers in ZÜRICH say: ☃!", 0,
			[]int64{101, 15743, 7668, 1011, 2175, 2545, 1999, 10204, 2360, 1024, 100, 999, 102},
			[]string{"[CLS]", "naive", "cafe", "-", "go", "##ers", "in", "zurich", "say", ":", "[UNK]", "!", "[SEP]"}},
		// Truncation keeps room for the two special tokens.
		{"all-minilm-l6-v2.json", "Naïve café-goers in ZÜRICH say: ☃!", 5,
			[]int64{101, 15743, 7668, 1011, 102},
			[]string{"[CLS]", "naive", "cafe", "-", "[SEP]"}},
		// Added tokens are matched verbatim before normalization; control
		// characters vanish, CJK characters become words.
		{"bert-base-uncased.json", "the [MASK]\x00 東京", 0,
			[]int64{101, 1996, 103, 1879, 1755, 102},
			[]string{"[CLS]", "the", "[MASK]", "東", "京", "[SEP]"}},
		{"bert-base-uncased.json", "", 0, []int64{101, 102}, []string{"[CLS]", "[SEP]"}},
	}
	for _, tc := range tests {
		t.Run(tc.file+"/"+tc.text, func(t *testing.T) {
			tk, err := Load(refFile(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			e := tk.Encode(tc.text, tc.maxLen)
			if !reflect.DeepEqual(e.IDs, tc.ids) {
				t.Errorf("ids %v, want %v", e.IDs, tc.ids)
			}
			if !reflect.DeepEqual(e.Tokens, tc.tokens) {
				t.Errorf("tokens %q, want %q", e.Tokens, tc.tokens)
			}
			if len(e.TypeIDs) != len(e.IDs) {
				t.Errorf("%d type ids for %d ids", len(e.TypeIDs), len(e.IDs))
			}
		})
	}
}

func TestFileSettings(t *testing.T) {
	mini, err := Load(refFile(t, "all-minilm-l6-v2.json"))
	if err != nil {
		t.Fatal(err)
	}
	if mini.MaxLength() != 256 || mini.PadID() != 0 || mini.PadToken() != "[PAD]" || mini.VocabSize() != 30522 || mini.NumSpecialTokens() != 2 {
		t.Errorf("all-minilm: max %d pad %d %q vocab %d special %d", mini.MaxLength(), mini.PadID(), mini.PadToken(), mini.VocabSize(), mini.NumSpecialTokens())
	}
	long := strings.Repeat("dog ", 300)
	if n := len(mini.Encode(long, 0).IDs); n != 256 {
		t.Errorf("file truncation: %d ids, want 256", n)
	}
	if n := len(mini.Encode(long, 10).IDs); n != 10 {
		t.Errorf("maxLen 10: %d ids", n)
	}
}

// wordLevelJSON is a WordLevel tokenizer like the GloVe encoder's: BERT
// normalizer and pre-tokenizer, no special tokens.
const wordLevelJSON = `{
  "version": "1.0", "truncation": null, "padding": null,
  "added_tokens": [{"id":0,"content":"[PAD]","special":true,"normalized":false},{"id":1,"content":"[UNK]","special":true,"normalized":false}],
  "normalizer": {"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,"strip_accents":null,"lowercase":true},
  "pre_tokenizer": {"type":"BertPreTokenizer"},
  "post_processor": null,
  "model": {"type":"WordLevel","vocab":{"[PAD]":0,"[UNK]":1,"the":2,"quick":3,"brown":4,"fox":5,".":6,"café":7},"unk_token":"[UNK]"}
}`

func TestWordLevel(t *testing.T) {
	tk, err := Parse([]byte(wordLevelJSON))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		text string
		ids  []int64
	}{
		{"The quick brown fox.", []int64{2, 3, 4, 5, 6}},
		{"the  QUICK\tbrown\nwolf", []int64{2, 3, 4, 1}},
		// accents are stripped before lookup: "café" → "cafe", not in vocab
		{"Café", []int64{1}},
		{"", nil},
	}
	for _, tc := range tests {
		e := tk.Encode(tc.text, 0)
		if !slices.Equal(e.IDs, tc.ids) {
			t.Errorf("%q: ids %v, want %v", tc.text, e.IDs, tc.ids)
		}
	}
	if tk.PadID() != 0 || tk.NumSpecialTokens() != 0 {
		t.Errorf("pad %d special %d", tk.PadID(), tk.NumSpecialTokens())
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"not json", `{"model": `, "not a tokenizer.json"},
		{"unknown model", `{"model":{"type":"Magic","vocab":{"a":0}}}`, `model.type: model "Magic" not supported`},
		{"no unk", `{"model":{"type":"WordLevel","vocab":{"a":0},"unk_token":"[UNK]"}}`, `model.unk_token: "[UNK]" is not in the vocabulary`},
		{"unknown pre", `{"pre_tokenizer":{"type":"Magic"},"model":{"type":"WordLevel","vocab":{"a":0},"unk_token":"a"}}`, `pre_tokenizer: type "Magic" not supported`},
	}
	for _, tc := range tests {
		if _, err := Parse([]byte(tc.json)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestPreTokenizers(t *testing.T) {
	tests := []struct {
		p    preTokenizer
		in   string
		want []string
	}{
		{bertPre{}, "Hello, world!  a$b", []string{"Hello", ",", "world", "!", "a", "$", "b"}},
		{bertPre{}, "l'état «oui»", []string{"l", "'", "état", "«", "oui", "»"}},
		{whitespacePre{}, "Hello, world!! a_b", []string{"Hello", ",", "world", "!!", "a_b"}},
	}
	for _, tc := range tests {
		var got []string
		for _, p := range tc.p.preTokenize(nil, piece{s: tc.in}) {
			got = append(got, p.s)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q → %q, want %q", tc.in, got, tc.want)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	tk, err := Load(refFile(b, "all-minilm-l6-v2.json"))
	if err != nil {
		b.Fatal(err)
	}
	text := "a large natural or artificial body of water, such as the Mediterranean, surrounded by land"
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tk.Encode(text, 256)
	}
}
