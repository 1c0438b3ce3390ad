package glove

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

// winkJSON renders a small wink-embeddings-like file with 3-d vectors.
func winkJSON(words []string, vecs [][]float64, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"precision":8,"l2NormIndex":3,"wordIndex":4,"size":%d,"dimensions":3,"words":[`, len(words))
	for i, w := range words {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q", w)
	}
	b.WriteString(`],"vectors":{`)
	for i, w := range words {
		if i > 0 {
			b.WriteByte(',')
		}
		v := vecs[i]
		fmt.Fprintf(&b, "%q:[%v,%v,%v,%v,%d]", w, v[0], v[1], v[2], math.Sqrt(v[0]*v[0]+v[1]*v[1]+v[2]*v[2]), i)
	}
	b.WriteString(`},"unkVector":[0,0,0,0,-1]` + extra + `}`)
	return b.String()
}

var (
	testWords = []string{"the", ",", "quick", "brown", "fox"}
	testVecs  = [][]float64{{1, 0, 0}, {0, 1, 0}, {0.5, -0.25, 2}, {3, 4, 0}, {-1, -2, -3.5}}
)

func TestReadWink(t *testing.T) {
	for _, keep := range []int{0, 3, 5, 10} {
		t.Run(fmt.Sprint("keep ", keep), func(t *testing.T) {
			v, err := ReadWink(strings.NewReader(winkJSON(testWords, testVecs, `,"other":{"x":[1]}`)), "wink.json", keep)
			if err != nil {
				t.Fatal(err)
			}
			n := len(testWords)
			if keep > 0 && keep < n {
				n = keep
			}
			if !reflect.DeepEqual(v.Words, testWords[:n]) || v.Dim != 3 || v.SourceWords != 5 || len(v.Data) != 3*n {
				t.Fatalf("got %+v", v)
			}
			for i := 0; i < n; i++ {
				for j := 0; j < 3; j++ {
					if v.Row(i)[j] != float32(testVecs[i][j]) {
						t.Fatalf("row %d = %v, want %v", i, v.Row(i), testVecs[i])
					}
				}
			}
			if !reflect.DeepEqual(v.Unk, []float32{0, 0, 0}) {
				t.Errorf("unk %v", v.Unk)
			}
		})
	}
}

func TestReadWinkVectorsFirst(t *testing.T) {
	// Fields in another order: vectors before words.
	in := `{"dimensions":2,"l2NormIndex":2,"wordIndex":3,"vectors":{"b":[0,1,1,1],"a":[3,4,5,0]},"words":["a","b"]}`
	v, err := ReadWink(strings.NewReader(in), "wink.json", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v.Words, []string{"a", "b"}) || !reflect.DeepEqual(v.Data, []float32{3, 4, 0, 1}) {
		t.Fatalf("got %+v", v)
	}
}

func TestReadWinkErrors(t *testing.T) {
	good := winkJSON(testWords, testVecs, "")
	tests := []struct {
		name, in, want string
	}{
		{"not json", "nope", "wink.json: byte 0: invalid character"},
		{"not an object", "[1]", `want "{"`},
		{"bad norm", strings.Replace(good, `"fox":[-1,-2,-3.5,4.153311931459037`, `"fox":[-1,-2,-3.5,4.2`, 1), `vectors["fox"]: stored L2 norm 4.2, computed 4.15`},
		{"wrong word index", strings.Replace(good, `0,0,1,0]`, `0,0,1,7]`, 1), `vectors["the"]: word index 7, but it is words[0]`},
		{"short vector", strings.Replace(good, `"the":[1,0,0,1,0]`, `"the":[1,0,0,1]`, 1), `vectors["the"]: 4 values, want 5`},
		{"missing vector", strings.Replace(good, `"the":[1,0,0,1,0],`, ``, 1), `word "the" (words[0]) has no vector`},
		{"duplicate word", strings.Replace(good, `"words":["the"`, `"words":[","`, 1), `words: "," appears twice`},
		{"size mismatch", strings.Replace(good, `"size":5`, `"size":6`, 1), "size 6 but 5 words"},
		{"no dimensions", strings.Replace(good, `"dimensions":3,`, ``, 1), `"vectors" before a positive "dimensions"`},
		{"no words", `{"dimensions":1,"l2NormIndex":1,"wordIndex":2,"vectors":{}}`, `no "words" field`},
		{"truncated", good[:len(good)/2], "unexpected EOF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadWink(strings.NewReader(tc.in), "wink.json", 0)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "wink.json") {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	for w, want := range map[string]bool{"the": false, ",": false, "so-called": true, "u.s.": true, "café": false, "’": false, "'s": true, "1990s": false} {
		if got := Unreachable(w); got != want {
			t.Errorf("Unreachable(%q) = %v, want %v", w, got, want)
		}
	}
}
