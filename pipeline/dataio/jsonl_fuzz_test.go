package dataio

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzJSONL checks that no input makes the JSONL reader or the record
// accessors panic, that line numbers increase, and that an error, when
// there is one, ends the reading.
func FuzzJSONL(f *testing.F) {
	for _, s := range []string{
		`{"text":"a","label":1}` + "\n" + `{"anchor":"q","positive":["p1","p2"]}` + "\n",
		"\xef\xbb\xbf{\"text\":\"bom\"}\r\n\r\n{\"label\":1.0e0}",
		`{"text":` + "\n", `[1,2]`, `{"a":1}{"b":2}`, "{\"text\":\"\\ud800\"}\n", `{"label":null,"id":{"x":[1]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewJSONLReader("fuzz.jsonl", bytes.NewReader(data))
		last := 0
		for n := 0; ; n++ {
			rec, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				if err.Error() == "" {
					t.Fatal("empty error")
				}
				return
			}
			if rec.Line <= last {
				t.Fatalf("line %d after line %d", rec.Line, last)
			}
			last = rec.Line
			for k := range rec.Fields {
				rec.String(k)
				rec.Strings(k)
				rec.Scalar(k)
				if s, ok, err := rec.Label(k); err == nil && ok && rec.Fields[k][0] != '"' && CanonicalLabel(s) != s {
					t.Fatalf("label %q not canonical", s)
				}
			}
			if n > 1<<16 {
				t.Fatal("more records than bytes")
			}
		}
	})
}

// FuzzReadLabels checks that ReadLabels never panics and that what it
// accepts is consistent: every row has a class, every class a row.
func FuzzReadLabels(f *testing.F) {
	for _, s := range []string{"a\nb\na\n", "1\r\n2\r\n", "{\"label\":1}\n{\"label\":\"1\"}\n{\"label\":1.0}\n", "\n\n", "{\"label\":[1]}\n", "a\n\nb\n", "{\"x\":1}\n"} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "labels")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := ReadLabels(p)
		if err != nil {
			return
		}
		seen := make([]bool, len(l.Names))
		for _, id := range l.IDs {
			if id < 0 || id >= len(l.Names) {
				t.Fatalf("class %d of %d", id, len(l.Names))
			}
			seen[id] = true
		}
		for c, ok := range seen {
			if !ok {
				t.Fatalf("class %d (%q) has no row", c, l.Names[c])
			}
		}
	})
}
