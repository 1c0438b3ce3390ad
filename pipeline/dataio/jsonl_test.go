package dataio

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestJSONLReader(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		lines   []int    // line numbers of the records read
		texts   []string // their "text" fields
		wantErr string   // error of the call after the last record ("" = io.EOF)
	}{
		{"two lines", `{"text":"a"}` + "\n" + `{"text":"b"}` + "\n", []int{1, 2}, []string{"a", "b"}, ""},
		{"no final newline, CRLF, blank lines", "\xef\xbb\xbf{\"text\":\"a\"}\r\n\r\n\n{\"text\":\"b\"}", []int{1, 4}, []string{"a", "b"}, ""},
		{"not JSON", `{"text":"a"}` + "\n" + `{"text": oops}` + "\n", []int{1}, []string{"a"}, "in.jsonl:2: not JSON"},
		{"not an object", `{"text":"a"}` + "\n\n" + `["x"]` + "\n", []int{1}, []string{"a"}, "in.jsonl:3: want a JSON object"},
		{"trailing data", `{"text":"a"} {"text":"b"}`, nil, nil, "in.jsonl:1: not JSON"},
		{"empty", "", nil, nil, "in.jsonl: empty input"},
		{"only blank lines", "\n  \n", nil, nil, "in.jsonl: empty input"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewJSONLReader("in.jsonl", strings.NewReader(tc.input))
			var lines []int
			var texts []string
			var err error
			for {
				var rec Record
				rec, err = r.Next()
				if err != nil {
					break
				}
				s, serr := rec.String("text")
				if serr != nil {
					t.Fatal(serr)
				}
				lines = append(lines, rec.Line)
				texts = append(texts, s)
			}
			if !reflect.DeepEqual(lines, tc.lines) || !reflect.DeepEqual(texts, tc.texts) {
				t.Errorf("read lines %v texts %q, want %v %q", lines, texts, tc.lines, tc.texts)
			}
			if tc.wantErr == "" {
				if err != io.EOF {
					t.Errorf("final err = %v, want io.EOF", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Errorf("final err = %v, want prefix %q", err, tc.wantErr)
			}
		})
	}
}

func TestJSONLEmptyIsErrEmptyInput(t *testing.T) {
	_, err := NewJSONLReader("x", strings.NewReader("")).Next()
	if !errors.Is(err, ErrEmptyInput) {
		t.Fatalf("err = %v, want ErrEmptyInput", err)
	}
}

func TestRecordFields(t *testing.T) {
	r := NewJSONLReader("d.jsonl", strings.NewReader(
		`{"text":"hi","id":7,"label":"noun.animal","n":null,"obj":{"a":1},"list":["x","y"],"num":2.50}`))
	rec, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		field  string
		get    func(string) (string, error)
		want   string
		errSub string
	}{
		{"text", rec.String, "hi", ""},
		{"missing", rec.String, "", `d.jsonl:1: missing field "missing"`},
		{"n", rec.String, "", `d.jsonl:1: missing field "n"`},
		{"id", rec.String, "", `d.jsonl:1: field "id" is not a string`},
		{"id", scalar(rec), "7", ""},
		{"num", scalar(rec), "2.50", ""},
		{"label", scalar(rec), "noun.animal", ""},
		{"n", scalar(rec), "<absent>", ""},
		{"obj", scalar(rec), "", `d.jsonl:1: field "obj" must be a string or number`},
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			got, err := tc.get(tc.field)
			if tc.errSub != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errSub) {
					t.Fatalf("err = %v, want %q", err, tc.errSub)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if ss, err := rec.Strings("list"); err != nil || !reflect.DeepEqual(ss, []string{"x", "y"}) {
		t.Errorf("Strings(list) = %q, %v", ss, err)
	}
	if ss, err := rec.Strings("text"); err != nil || !reflect.DeepEqual(ss, []string{"hi"}) {
		t.Errorf("Strings(text) = %q, %v", ss, err)
	}
	if !rec.Has("text") || rec.Has("n") || rec.Has("missing") {
		t.Error("Has is wrong")
	}
}

func scalar(rec Record) func(string) (string, error) {
	return func(f string) (string, error) {
		s, ok, err := rec.Scalar(f)
		if err == nil && !ok {
			return "<absent>", nil
		}
		return s, err
	}
}

func TestReadJSONLFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "d.jsonl")
	if err := os.WriteFile(p, []byte("{\"text\":\"a\"}\n{\"label\":1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := ReadJSONL(p, func(r Record) error {
		s, err := r.String("text")
		got = append(got, s)
		return err
	})
	want := fmt.Sprintf(`%s:2: missing field "text"`, p)
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if len(got) != 2 || got[0] != "a" {
		t.Fatalf("got %q", got)
	}
	if err := ReadJSONL(filepath.Join(t.TempDir(), "nope.jsonl"), func(Record) error { return nil }); err == nil || !strings.Contains(err.Error(), "nope.jsonl") {
		t.Fatalf("missing file err = %v", err)
	}
}

func ExampleReadJSONL() {
	f, _ := os.CreateTemp("", "example-*.jsonl")
	defer os.Remove(f.Name())
	f.WriteString(`{"text": "a cat", "label": "noun.animal"}` + "\n" + `{"text": "to run", "label": "verb.motion"}` + "\n")
	f.Close()
	_ = ReadJSONL(f.Name(), func(r Record) error {
		text, err := r.String("text")
		if err != nil {
			return err
		}
		label, _, err := r.Scalar("label")
		fmt.Println(r.Line, text, label)
		return err
	})
	// Output:
	// 1 a cat noun.animal
	// 2 to run verb.motion
}
