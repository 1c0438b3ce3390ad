package dataio

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadLabels(t *testing.T) {
	tests := []struct {
		name, content string
		ids           []int
		names         []string
		err           string // substring of the error; "" means success
	}{
		{"text", "cat\ndog\ncat\nbird\n", []int{0, 1, 0, 2}, []string{"cat", "dog", "bird"}, ""},
		{"text crlf no final newline", "b\r\na\r\nb", []int{0, 1, 0}, []string{"b", "a"}, ""},
		{"text numbers", "3\n1\n3\n", []int{0, 1, 0}, []string{"3", "1"}, ""},
		{"text trailing blank lines", "x\ny\n\n\n", []int{0, 1}, []string{"x", "y"}, ""},
		{"text blank inside", "x\n\ny\n", nil, nil, "labels.txt:2: empty label"},
		{"text empty", "", nil, nil, "labels.txt: no labels"},
		{"jsonl", "{\"label\":\"a\",\"text\":\"t\"}\n{\"label\":\"b\"}\n\n{\"label\":\"a\"}\n", []int{0, 1, 0}, []string{"a", "b"}, ""},
		{"jsonl numeric", "{\"label\":7}\n{\"label\":2}\n{\"label\":7}\n", []int{0, 1, 0}, []string{"7", "2"}, ""},
		{"jsonl missing label", "{\"label\":1}\n{\"text\":\"x\"}\n", nil, nil, "labels.txt:2: missing field \"label\""},
		{"jsonl bad json", "{\"label\":1}\n{oops\n", nil, nil, "labels.txt:2: not JSON"},
		{"jsonl object label", "{\"label\":{}}\n", nil, nil, "labels.txt:1: field \"label\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "labels.txt")
			if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadLabels(p)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.IDs, tc.ids) || !reflect.DeepEqual(got.Names, tc.names) {
				t.Errorf("got %v %v, want %v %v", got.IDs, got.Names, tc.ids, tc.names)
			}
		})
	}
}

func TestReadLabelsMissingFile(t *testing.T) {
	_, err := ReadLabels(filepath.Join(t.TempDir(), "nope.txt"))
	if err == nil || !strings.Contains(err.Error(), "nope.txt") {
		t.Fatalf("err = %v, want one naming the file", err)
	}
}

func ExampleReadLabels() {
	dir, _ := os.MkdirTemp("", "labels")
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "labels.jsonl")
	os.WriteFile(p, []byte(`{"text":"a cat","label":"animal"}
{"text":"a rose","label":"plant"}
{"text":"a dog","label":"animal"}
`), 0o644)
	l, err := ReadLabels(p)
	if err != nil {
		panic(err)
	}
	fmt.Println(l.IDs, l.Names)
	// Output: [0 1 0] [animal plant]
}
