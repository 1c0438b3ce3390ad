package audit

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestReadLabelTexts(t *testing.T) {
	tests := []struct {
		name, content string
		n             int
		want          []string
	}{
		{"jsonl", `{"text":"a","label":"x"}` + "\n" + `{"text":"b","label":"y"}` + "\n", 2, []string{"a", "b"}},
		{"plain labels", "x\ny\n", 2, nil},
		{"missing field", `{"text":"a","label":"x"}` + "\n" + `{"label":"y"}` + "\n", 2, nil},
		{"row count differs", `{"text":"a","label":"x"}` + "\n", 2, nil},
		{"not JSON later", `{"text":"a","label":"x"}` + "\n" + `oops` + "\n", 2, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "labels")
			if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := ReadLabelTexts(p, "text", tc.n); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	if got := ReadLabelTexts(filepath.Join(t.TempDir(), "none"), "text", 0); got != nil {
		t.Errorf("missing file: got %q", got)
	}
}
