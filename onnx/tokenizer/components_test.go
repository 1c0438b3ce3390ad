package tokenizer

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/embfit/embfit/internal/inputerr"
)

// mustParse builds a tokenizer from parts of a tokenizer.json.
func mustParse(t *testing.T, doc string) *Tokenizer {
	t.Helper()
	tk, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	return tk
}

func tokensOf(t *testing.T, tk *Tokenizer, text string) []string {
	t.Helper()
	e, err := tk.EncodeText(text, 0)
	if err != nil {
		t.Fatalf("%q: %v", text, err)
	}
	return e.Tokens
}

func TestBPE(t *testing.T) {
	const vocab = `{"<unk>":0,"a":1,"b":2,"c":3,"ab":4,"abc":5,"<0x61>":6,"<0x7A>":7,"<0xC3>":8,"<0xA9>":9,"bc":10,"##b":11,"##c":12,"a##":13,"ab</w>":14,"c</w>":15,"b</w>":16}`
	tests := []struct {
		name, model, text string
		want              []string
	}{
		{"string merges", `"merges":["a b","ab c"]`, "abc", []string{"abc"}},
		{"pair merges", `"merges":[["a","b"],["ab","c"]]`, "abc", []string{"abc"}},
		// Lower rank first: "b c" (rank 0) beats "a b" (rank 1).
		{"rank order", `"merges":["b c","a b"]`, "abc", []string{"a", "bc"}},
		{"unk", `"merges":[],"unk_token":"<unk>"`, "axxb", []string{"a", "<unk>", "<unk>", "b"}},
		{"fuse unk", `"merges":[],"unk_token":"<unk>","fuse_unk":true`, "axxb", []string{"a", "<unk>", "b"}},
		{"no unk drops", `"merges":[]`, "axb", []string{"a", "b"}},
		{"byte fallback", `"merges":[],"byte_fallback":true,"unk_token":"<unk>"`, "azé", []string{"a", "<0x7A>", "<0xC3>", "<0xA9>"}},
		{"byte fallback partial", `"merges":[],"byte_fallback":true,"unk_token":"<unk>"`, "aq", []string{"a", "<unk>"}},
		{"ignore merges", `"merges":[],"ignore_merges":true`, "abc", []string{"abc"}},
		{"merges without ignore", `"merges":[]`, "abc", []string{"a", "b", "c"}},
		{"prefix", `"merges":["a ##b"],"continuing_subword_prefix":"##"`, "abc", []string{"ab", "##c"}},
		{"suffix", `"merges":["a b</w>"],"end_of_word_suffix":"</w>"`, "ab", []string{"ab</w>"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk := mustParse(t, `{"model":{"type":"BPE","vocab":`+vocab+`,`+tc.model+`}}`)
			for range 2 { // the second pass is served from the cache
				if got := tokensOf(t, tk, tc.text); !slices.Equal(got, tc.want) {
					t.Errorf("%q → %q, want %q", tc.text, got, tc.want)
				}
			}
		})
	}
}

func TestBPELongWordIsFast(t *testing.T) {
	tk := mustParse(t, `{"model":{"type":"BPE","vocab":{"a":0,"aa":1,"aaaa":2},"merges":["a a","aa aa"]}}`)
	e, err := tk.EncodeText(strings.Repeat("a", 200000), 0)
	if err != nil || len(e.IDs) != 50000 || e.IDs[0] != 2 {
		t.Fatalf("%d ids (%v), err %v", len(e.IDs), e.IDs[:2], err)
	}
}

func TestUnigram(t *testing.T) {
	const vocab = `[["<unk>",0],["▁",-2],["a",-3],["b",-3],["ab",-4],["▁ab",-3.5],["<0x63>",-8],["c",-9]]`
	tests := []struct {
		name, model, text string
		want              []string
	}{
		// "▁ab" (-3.5) beats "▁"+"ab" (-6) and "▁"+"a"+"b" (-8).
		{"viterbi", `"unk_id":0`, "ab", []string{"▁ab"}},
		{"viterbi 2", `"unk_id":0`, "abab", []string{"▁ab", "ab"}},
		// Unknown characters fuse into one <unk>.
		{"unk fused", `"unk_id":0`, "axyb", []string{"▁", "a", "<unk>", "b"}},
		{"byte fallback", `"unk_id":0,"byte_fallback":true`, "ac", []string{"▁", "a", "c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk := mustParse(t, `{"pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true},
				"model":{"type":"Unigram","vocab":`+vocab+`,`+tc.model+`}}`)
			if got := tokensOf(t, tk, tc.text); !slices.Equal(got, tc.want) {
				t.Errorf("%q → %q, want %q", tc.text, got, tc.want)
			}
		})
	}
	// Byte fallback when the piece is missing: "q" has no piece and its
	// byte token is missing too → <unk>; "c" scores -9 as a piece but the
	// byte route is only taken for strings that are not pieces.
	tk := mustParse(t, `{"model":{"type":"Unigram","vocab":[["<unk>",0],["a",-1],["<0x71>",-5]],"unk_id":0,"byte_fallback":true}}`)
	if got := tokensOf(t, tk, "aqa"); !slices.Equal(got, []string{"a", "<0x71>", "a"}) {
		t.Errorf("byte fallback: %q", got)
	}
	noUnk := mustParse(t, `{"model":{"type":"Unigram","vocab":[["a",-1]]}}`)
	if _, err := noUnk.EncodeText("ab", 0); !errors.Is(err, errNoUnk) {
		t.Errorf("no unk_id: err %v", err)
	}
}

func TestPreTokenizerComponents(t *testing.T) {
	tests := []struct {
		pre, text string
		want      []string
	}{
		{`{"type":"Split","pattern":{"String":"-"},"behavior":"Removed"}`, "a-b--c", []string{"a", "b", "c"}},
		{`{"type":"Split","pattern":{"String":"-"},"behavior":"Isolated"}`, "a-b--c", []string{"a", "-", "b", "-", "-", "c"}},
		{`{"type":"Split","pattern":{"String":"-"},"behavior":"MergedWithPrevious"}`, "a-b--c", []string{"a-", "b-", "-", "c"}},
		{`{"type":"Split","pattern":{"String":"-"},"behavior":"MergedWithNext"}`, "a-b--c", []string{"a", "-b", "-", "-c"}},
		{`{"type":"Split","pattern":{"String":"-"},"behavior":"Contiguous"}`, "a-b--c", []string{"a", "-", "b", "--", "c"}},
		{`{"type":"Split","pattern":{"Regex":"\\d+"},"behavior":"Removed","invert":true}`, "ab12cd345", []string{"12", "345"}},
		{`{"type":"Digits","individual_digits":true}`, "a123b", []string{"a", "1", "2", "3", "b"}},
		{`{"type":"Digits","individual_digits":false}`, "a123b", []string{"a", "123", "b"}},
		{`{"type":"Punctuation","behavior":"Isolated"}`, "hi!?x", []string{"hi", "!", "?", "x"}},
		{`{"type":"WhitespaceSplit"}`, " a\tb  c ", []string{"a", "b", "c"}},
		{`{"type":"CharDelimiterSplit","delimiter":"|"}`, "a|b||c", []string{"a", "b", "c"}},
		{`{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true}`, "hello big world", []string{"▁hello", "▁big", "▁world"}},
		{`{"type":"Metaspace","replacement":"▁","prepend_scheme":"never","split":true}`, "hello  world", []string{"hello", "▁", "▁world"}},
		{`{"type":"Metaspace","replacement":"▁","add_prefix_space":true,"split":false}`, "a b", []string{"▁a▁b"}},
		{`{"type":"ByteLevel","add_prefix_space":true,"use_regex":true}`, "Hello world's", []string{"ĠHello", "Ġworld", "'s"}},
		{`{"type":"ByteLevel","add_prefix_space":false,"use_regex":false}`, "é a", []string{"Ã©Ġa"}},
		{`{"type":"Sequence","pretokenizers":[{"type":"WhitespaceSplit"},{"type":"Digits","individual_digits":true}]}`, "a1 22", []string{"a", "1", "2", "2"}},
	}
	for _, tc := range tests {
		var raw json.RawMessage = []byte(tc.pre)
		p, err := preTokenizers.parse(raw)
		if err != nil {
			t.Errorf("%s: %v", tc.pre, err)
			continue
		}
		var got []string
		for _, q := range p.preTokenize(nil, piece{s: tc.text, first: true}) {
			got = append(got, q.s)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s on %q → %q, want %q", tc.pre, tc.text, got, tc.want)
		}
	}
}

// TestScannerMatchesEngine runs the hand-written scanners and the regex
// engine on the same inputs.
func TestScannerMatchesEngine(t *testing.T) {
	inputs := []string{
		"Hello world's   test\t\tand\n\n  new lines\r\n end  ",
		"I'M YOU'RE we'Ve 'll 'd 's 'x ''",
		"1 12 123 1234 12345 ١٢٣٤ ½",
		"  leading and trailing  ",
		"emoji 👍🏽 café naïve 東京 Привет",
		"code: f(x) = x**2; // ok?!\n\tindent",
		"a\u00a0b\u2003c\u3000d",
		" \n \n",
		"'s's's",
		"!!!\n\n???",
		"ſ 'ſ 'S",
		"\x80\xff invalid utf8",
		"",
	}
	inputs = append(inputs, referenceSentences(t)...)
	for expr, sc := range knownScanners {
		eng, err := compileEngine(expr)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range inputs {
			got := sc.findAll(in, nil)
			want := eng.findAll(in, nil)
			if !slices.Equal(got, want) {
				t.Errorf("pattern %.30q… on %q:\nscanner %v\nengine  %v", expr, in, got, want)
			}
		}
	}
}

// referenceSentences are the texts of the reference fixture.
func referenceSentences(t *testing.T) []string {
	return loadReference(t, "testdata/ref/hf-reference.json").Texts
}

func TestAddedTokens(t *testing.T) {
	doc := func(flags string) string {
		return `{"added_tokens":[{"id":9,"content":"<x>",` + flags + `}],
			"pre_tokenizer":{"type":"WhitespaceSplit"},
			"model":{"type":"WordLevel","vocab":{"<unk>":0,"a":1,"b":2,"ab<x>":3},"unk_token":"<unk>"}}`
	}
	tests := []struct {
		flags, text string
		want        []string
	}{
		{`"special":true`, "a<x>b", []string{"a", "<x>", "b"}},
		{`"special":true,"single_word":true`, "a<x>b", []string{"<unk>"}},
		{`"special":true,"single_word":true`, "a <x> b", []string{"a", "<x>", "b"}},
		{`"special":true,"lstrip":true,"rstrip":true`, "a  <x>  b", []string{"a", "<x>", "b"}},
		{`"special":false,"normalized":true`, "a<x>b", []string{"a", "<x>", "b"}},
	}
	for _, tc := range tests {
		tk := mustParse(t, doc(tc.flags))
		e, err := tk.EncodeText(tc.text, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(e.Tokens, tc.want) {
			t.Errorf("%s %q → %q, want %q", tc.flags, tc.text, e.Tokens, tc.want)
		}
		if tc.flags == `"special":true,"lstrip":true,"rstrip":true` {
			// The stripped spaces belong to the added token.
			if e.Offsets[1] != [2]int{1, 8} {
				t.Errorf("lstrip/rstrip offsets %v", e.Offsets)
			}
		}
	}
	// A normalized added token is matched after normalization.
	tk := mustParse(t, `{"added_tokens":[{"id":5,"content":"HELLO","special":false,"normalized":true}],
		"normalizer":{"type":"Lowercase"},"pre_tokenizer":{"type":"WhitespaceSplit"},
		"model":{"type":"WordLevel","vocab":{"<unk>":0,"x":1},"unk_token":"<unk>"}}`)
	if e, _ := tk.EncodeText("x Hello x", 0); !slices.Equal(e.IDs, []int64{1, 5, 1}) {
		t.Errorf("normalized added token: %v %q", e.IDs, e.Tokens)
	}
}

func TestOffsets(t *testing.T) {
	tk, err := Load(refPath(t, "all-minilm-l6-v2"))
	if err != nil {
		t.Fatal(err)
	}
	text := "Naïve café-goers"
	e, _ := tk.EncodeText(text, 0)
	var got []string
	for _, o := range e.Offsets[1 : len(e.Offsets)-1] {
		got = append(got, text[o[0]:o[1]])
	}
	if want := []string{"Naïve", "café", "-", "go", "ers"}; !slices.Equal(got, want) {
		t.Errorf("offsets %v → %q, want %q", e.Offsets, got, want)
	}
	llama, err := Load(refPath(t, "llama3"))
	if err != nil {
		t.Fatal(err)
	}
	text = "Hi café 👍"
	e, _ = llama.EncodeText(text, 0)
	got = got[:0]
	for _, o := range e.Offsets[1:] {
		got = append(got, text[o[0]:o[1]])
	}
	if strings.Join(got, "") != text {
		t.Errorf("byte-level offsets %v cover %q, not %q", e.Offsets, got, text)
	}
}

func TestPairsAndTruncation(t *testing.T) {
	base := `{"truncation":{"max_length":0,"strategy":"%s","direction":"%s"},
		"pre_tokenizer":{"type":"WhitespaceSplit"},
		"post_processor":{"type":"BertProcessing","cls":["[CLS]",1],"sep":["[SEP]",2]},
		"model":{"type":"WordLevel","vocab":{"[UNK]":0,"[CLS]":1,"[SEP]":2,"a":3,"b":4,"c":5,"d":6,"e":7},"unk_token":"[UNK]"}}`
	tests := []struct {
		strategy, direction string
		maxLen              int
		a, b                string
		want                []int64
		wantErr             bool
	}{
		{"LongestFirst", "Right", 0, "a b", "c", []int64{1, 3, 4, 2, 5, 2}, false},
		{"LongestFirst", "Right", 6, "a b c d", "e", []int64{1, 3, 4, 2, 7, 2}, false},
		{"LongestFirst", "Right", 7, "a b c d", "e b c", []int64{1, 3, 4, 2, 7, 4, 2}, false},
		{"LongestFirst", "Left", 6, "a b c d", "e", []int64{1, 5, 6, 2, 7, 2}, false},
		{"OnlySecond", "Right", 6, "a", "b c d", []int64{1, 3, 2, 4, 5, 2}, false},
		{"OnlyFirst", "Right", 5, "a", "b c d", nil, true},
	}
	for _, tc := range tests {
		tk := mustParse(t, fmt.Sprintf(base, tc.strategy, tc.direction))
		e, err := tk.EncodePair(tc.a, tc.b, tc.maxLen)
		if (err != nil) != tc.wantErr {
			t.Errorf("%+v: err %v", tc, err)
			continue
		}
		if !tc.wantErr && !slices.Equal(e.IDs, tc.want) {
			t.Errorf("%s %s %d %q+%q → %v, want %v", tc.strategy, tc.direction, tc.maxLen, tc.a, tc.b, e.IDs, tc.want)
		}
		if !tc.wantErr && e.TypeIDs[len(e.TypeIDs)-1] != 1 {
			t.Errorf("type ids %v", e.TypeIDs)
		}
	}
}

func TestPadding(t *testing.T) {
	tk := mustParse(t, `{"padding":{"direction":"Left","pad_id":7,"pad_type_id":0,"pad_token":"<|pad|>"},
		"model":{"type":"WordLevel","vocab":{"a":0,"<|pad|>":7},"unk_token":"a"}}`)
	if !tk.PadLeft() || tk.PadID() != 7 || tk.PadToken() != "<|pad|>" {
		t.Errorf("left %v id %d token %q", tk.PadLeft(), tk.PadID(), tk.PadToken())
	}
}

func TestBadFiles(t *testing.T) {
	charsmap := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	tests := []struct {
		name, doc, field, want string
	}{
		{"negative id", `{"model":{"type":"WordLevel","vocab":{"the":-5,"a":0},"unk_token":"a"}}`, "model.vocab", "negative id -5"},
		{"duplicate id", `{"model":{"type":"WordPiece","vocab":{"the":3,"a":3}}}`, "model.vocab", `tokens "a" and "the" share id 3`},
		{"merge unknown", `{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a c"]}}`, "model.merges[0]", `token "c" is not in the vocabulary`},
		{"merge result unknown", `{"model":{"type":"BPE","vocab":{"a":0,"b":1},"merges":["a b"]}}`, "model.merges[0]", `merged token "ab"`},
		{"bad merge line", `{"model":{"type":"BPE","vocab":{"a":0},"merges":["ab"]}}`, "model.merges[0]", "not two tokens"},
		{"bad regex", `{"pre_tokenizer":{"type":"Split","pattern":{"Regex":"(a"},"behavior":"Isolated"},"model":{"type":"WordLevel","vocab":{"a":0},"unk_token":"a"}}`, "pre_tokenizer.pattern", "regex"},
		{"bad charsmap base64", `{"normalizer":{"type":"Precompiled","precompiled_charsmap":"!!"},"model":{"type":"WordLevel","vocab":{"a":0},"unk_token":"a"}}`, "normalizer.precompiled_charsmap", "not base64"},
		{"not a charsmap", `{"normalizer":{"type":"Precompiled","precompiled_charsmap":"` + charsmap([]byte{0xff, 0, 0, 0, 1, 2}) + `"},"model":{"type":"WordLevel","vocab":{"a":0},"unk_token":"a"}}`, "normalizer.precompiled_charsmap", "not a charsmap"},
		{"unigram dup", `{"model":{"type":"Unigram","vocab":[["a",-1],["a",-2]]}}`, "model.vocab[1]", `piece "a" is also vocab[0]`},
		{"unigram unk", `{"model":{"type":"Unigram","vocab":[["a",-1]],"unk_id":4}}`, "model.unk_id", "not an index"},
		{"added negative", `{"added_tokens":[{"id":-1,"content":"x"}],"model":{"type":"WordLevel","vocab":{"a":0},"unk_token":"a"}}`, "added_tokens[0].id", "negative"},
		{"template unknown", `{"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"[X]","type_id":0}}],"special_tokens":{}},"model":{"type":"WordLevel","vocab":{"a":0},"unk_token":"a"}}`, "post_processor.single[0]", `"[X]"`},
		{"behavior", `{"pre_tokenizer":{"type":"Split","pattern":{"String":"a"},"behavior":"Sideways"},"model":{"type":"WordLevel","vocab":{"a":0},"unk_token":"a"}}`, "pre_tokenizer.behavior", "Sideways"},
	}
	for _, tc := range tests {
		_, err := Parse([]byte(tc.doc))
		ie, ok := inputerr.As(err)
		if !ok || ie.Field != tc.field || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v (field %q), want field %q and %q", tc.name, err, fieldOf(ie), tc.field, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error spans lines: %q", tc.name, err)
		}
	}
}

func fieldOf(e *inputerr.Error) string {
	if e == nil {
		return ""
	}
	return e.Field
}

func TestLoadNamesFile(t *testing.T) {
	p := t.TempDir() + "/tokenizer.json"
	if err := writeFile(p, `{"model":{"type":"WordLevel","vocab":{"the":-5},"unk_token":"the"}}`); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if want := p + ": model.vocab: token \"the\" has negative id -5"; err == nil || err.Error() != want {
		t.Errorf("err %v, want %s", err, want)
	}
}

func TestWordPieceMissingUnk(t *testing.T) {
	// Loads (Hugging Face does); fails only on an unknown word.
	tk := mustParse(t, `{"pre_tokenizer":{"type":"WhitespaceSplit"},"model":{"type":"WordPiece","vocab":{"a":0,"b":1}}}`)
	if _, err := tk.EncodeText("a b", 0); err != nil {
		t.Errorf("known words: %v", err)
	}
	if _, err := tk.EncodeText("a z", 0); !errors.Is(err, errNoUnk) {
		t.Errorf("unknown word: err %v", err)
	}
	if e := tk.Encode("a z b", 0); !slices.Equal(e.IDs, []int64{0, 1}) {
		t.Errorf("lenient Encode: %v", e.IDs)
	}
}

func TestPrecompiledOnRealMap(t *testing.T) {
	tk, err := Load(refPath(t, "wordnet-unigram"))
	if err != nil {
		t.Fatal(err)
	}
	// nmt_nfkc: full-width letters and ligatures fold, the zero-width
	// space becomes a space, the zero-width joiner stays.
	for _, tc := range []struct{ in, want string }{
		{"ＡＢＣ", "ABC"}, {"ﬁ", "fi"}, {"a\u200bb", "a b"}, {"a\u200db", "a\u200db"}, {"①", "1"},
	} {
		n := newNormalized(tc.in, 0)
		tk.norm.normalize(n)
		if strings.TrimRight(n.s, " ") != tc.want {
			t.Errorf("%q → %q, want %q", tc.in, n.s, tc.want)
		}
	}
}

// TestConcurrentEncode: one Tokenizer used from several goroutines (the
// BPE merge cache is shared) gives the sequential results.
func TestConcurrentEncode(t *testing.T) {
	tk, err := Load(refPath(t, "llama3"))
	if err != nil {
		t.Fatal(err)
	}
	texts := referenceSentences(t)
	want := make([][]int64, len(texts))
	for i, s := range texts {
		e, err := tk.EncodeText(s, 0)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = e.IDs
	}
	fresh, err := Load(refPath(t, "llama3"))
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for w := range 4 {
		go func() {
			for k := range texts {
				i := (k*7 + w*13) % len(texts)
				e, err := fresh.EncodeText(texts[i], 0)
				if err == nil && !slices.Equal(e.IDs, want[i]) {
					err = fmt.Errorf("text %d: %v, want %v", i, e.IDs, want[i])
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
