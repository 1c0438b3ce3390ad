package wordnet

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestSplitGloss(t *testing.T) {
	tests := []struct {
		name     string
		gloss    string
		def      string
		examples []string
	}{
		{"definition only", "inaccessible and sparsely populated", "inaccessible and sparsely populated", nil},
		{"dog", `a member of the genus Canis (probably descended from the common wolf) that has been domesticated by man since prehistoric times; occurs in many breeds; "the dog barked all night"`,
			"a member of the genus Canis (probably descended from the common wolf) that has been domesticated by man since prehistoric times; occurs in many breeds",
			[]string{"the dog barked all night"}},
		{"two examples", `(usually followed by ` + "`to'" + `) having the necessary means; "able to swim"; "she was able to program her computer"`,
			"(usually followed by `to') having the necessary means", []string{"able to swim", "she was able to program her computer"}},
		{"semicolon inside an example", `a test; "first; second"`, "a test", []string{"first; second"}},
		{"attribution dropped", `to be; "to be or not to be"- Shakespeare`, "to be", []string{"to be or not to be"}},
		{"colon introduces example", `act of assembling: "mobilization of the troops"`, "act of assembling", []string{"mobilization of the troops"}},
		{"quoted term in definition kept", `promise of reward as in "carrot and stick"`, `promise of reward as in "carrot and stick"`, nil},
		{"unterminated quote", `a thing; "half an example`, "a thing", []string{"half an example"}},
		{"empty", "", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			def, ex := SplitGloss(tc.gloss)
			if def != tc.def {
				t.Errorf("definition = %q, want %q", def, tc.def)
			}
			if !reflect.DeepEqual(ex, tc.examples) {
				t.Errorf("examples = %q, want %q", ex, tc.examples)
			}
		})
	}
}

const header = "  1 This software and database is being provided to you, the LICENSEE, by  \n  2 Princeton University  \n"

func TestParseData(t *testing.T) {
	line1 := `00000000 00 s 02 outback(a) 0 remote 0 003 & 00019912 a 0000 + 05092372 n 0202 + 08522131 n 0101 | inaccessible and sparsely populated  ` + "\n"
	line2 := `00000000 29 v 01 breathe 0 001 @ 00001740 v 0000 02 + 02 00 + 08 00 | draw air into, and expel out of, the lungs; "I can breathe better when the air is clean"  ` + "\n"
	// Offsets are byte offsets: fix them up for this little file.
	off1 := len(header)
	line1 = strings.Replace(line1, "00000000", pad8(off1), 1)
	line2 = strings.Replace(line2, "00000000", pad8(off1+len(line1)), 1)
	var got []*Synset
	err := ParseData(strings.NewReader(header+line1+line2), "data.test", func(s *Synset) error {
		got = append(got, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []*Synset{
		{Offset: int64(off1), POS: 's', LexFile: 0, Words: []string{"outback", "remote"}, Definition: "inaccessible and sparsely populated"},
		{Offset: int64(off1 + len(line1)), POS: 'v', LexFile: 29, Words: []string{"breathe"},
			Definition: "draw air into, and expel out of, the lungs", Examples: []string{"I can breathe better when the air is clean"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if got[0].Label() != "adj.all" || got[1].Label() != "verb.body" {
		t.Errorf("labels %s, %s", got[0].Label(), got[1].Label())
	}
	if got[0].Lemmas() != "outback, remote" {
		t.Errorf("lemmas %q", got[0].Lemmas())
	}
}

func pad8(n int) string { return fmt.Sprintf("%08d", n) }

func TestParseDataErrors(t *testing.T) {
	tests := []struct {
		name, input, want string
	}{
		{"wrong offset", header + "00000001 05 n 01 dog 0 000 | a dog\n", "data.test:3: synset_offset 00000001 but the line starts at byte"},
		{"bad lex_filenum", "00000000 45 n 01 dog 0 000 | a dog\n", `data.test:1: bad lex_filenum "45"`},
		{"bad ss_type", "00000000 05 x 01 dog 0 000 | a dog\n", `data.test:1: bad ss_type "x"`},
		{"bad w_cnt", "00000000 05 n zz dog 0 000 | a dog\n", `data.test:1: bad w_cnt "zz"`},
		{"too few words", "00000000 05 n 03 dog 0 000 | a dog\n", "data.test:1: w_cnt 3 but only"},
		{"bad p_cnt", "00000000 05 n 01 dog 0 009 @ 1 n 0000 | a dog\n", `data.test:1: bad p_cnt "009"`},
		{"too short", "00000000 05 n\n", "data.test:1: too few fields"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ParseData(strings.NewReader(tc.input), "data.test", func(*Synset) error { return nil })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParseIndexAndAssignIDs(t *testing.T) {
	idx := SenseIndex{}
	index := header +
		"dog n 3 2 @ ~ 3 1 00000100 00000200 00000300  \n" +
		"good a 2 1 ! 2 2 00000500 00000600  \n"
	if err := ParseIndex(strings.NewReader(index), "index.test", idx); err != nil {
		t.Fatal(err)
	}
	if got := idx["dog"]['n']; !reflect.DeepEqual(got, []int64{100, 200, 300}) {
		t.Fatalf("dog senses %v", got)
	}
	synsets := []*Synset{
		{Offset: 200, POS: 'n', Words: []string{"Dog", "frump"}},
		{Offset: 600, POS: 's', Words: []string{"good"}},
		{Offset: 500, POS: 'a', Words: []string{"good"}},
	}
	if err := AssignIDs(synsets, idx); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range synsets {
		ids = append(ids, s.ID)
	}
	if want := []string{"dog.n.02", "good.s.02", "good.a.01"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("ids %v, want %v", ids, want)
	}

	err := AssignIDs([]*Synset{{Offset: 999, POS: 'n', Words: []string{"dog"}}}, idx)
	if err == nil || !strings.Contains(err.Error(), `lemma "dog" does not list it in index.noun`) {
		t.Fatalf("unlisted synset: error %v", err)
	}

	bad := []struct{ name, line, want string }{
		{"counts", "dog n 3 2 @ ~ 3 1 00000100\n", "index.test:1: field counts do not add up"},
		{"pos", "dog x 1 0 1 1 00000100\n", `index.test:1: bad pos "x"`},
		{"offset", "dog n 1 0 1 1 0000x100\n", `index.test:1: bad synset_offset "0000x100"`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			err := ParseIndex(strings.NewReader(tc.line), "index.test", SenseIndex{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
