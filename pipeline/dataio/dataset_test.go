package dataio

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadDataset(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	pairs := write("pairs.jsonl", `{"anchor":"a","positive":"b"}
{"anchor":"c","positive":"d","negative":"e"}
{"anchor":"f","positive":"g","negative_1":"h","negative_2":"i"}
{"anchor":"j","positive":"k","negative":["l","m"]}
`)
	d, err := ReadDataset(pairs, DataFields{})
	if err != nil {
		t.Fatal(err)
	}
	want := []PairText{{"a", "b", nil}, {"c", "d", []string{"e"}}, {"f", "g", []string{"h", "i"}}, {"j", "k", []string{"l", "m"}}}
	if !reflect.DeepEqual(d.Pairs, want) || d.Items != nil {
		t.Errorf("pairs: %+v", d.Pairs)
	}
	items := write("items.jsonl", "{\"text\":\"x\",\"label\":3}\n\n{\"text\":\"y\",\"label\":\"noun.Tops\"}\n")
	d, err = ReadDataset(items, DataFields{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d.Items, []LabelledText{{"x", "3"}, {"y", "noun.Tops"}}) {
		t.Errorf("items: %+v", d.Items)
	}
	custom := write("custom.jsonl", `{"q":"a","doc":"b"}`+"\n")
	if d, err := ReadDataset(custom, DataFields{Anchor: "q", Positive: "doc"}); err != nil || len(d.Pairs) != 1 {
		t.Errorf("custom fields: %v %+v", err, d)
	}
	for _, tc := range []struct{ body, want string }{
		{`{"anchor":"a","positive":"b"}` + "\n" + `{"anchor":"c"}`, ":2: missing field \"positive\""},
		{`{"anchor":"a","positive":""}`, ":1: field \"positive\" is empty"},
		{`{"text":"a","label":1}` + "\n" + `{"text":"b"}`, ":2: missing field \"label\""},
		{`{"query":"a"}`, ":1: want fields"},
		{`{"anchor":"a","positive":"b","negative_1":3}`, ":1: field \"negative_1\" is not a string"},
		{"", "empty input"},
		{"not json\n", ":1: not JSON"},
	} {
		p := write("bad.jsonl", tc.body)
		_, err := ReadDataset(p, DataFields{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%q: err %v, want %q with the file name", tc.body, err, tc.want)
		}
	}
}
