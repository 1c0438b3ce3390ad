package dataio

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCanonicalLabel(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"1", "1"}, {"1.0", "1"}, {"1e0", "1"}, {"1E0", "1"}, {"1.00", "1"}, {"-0", "0"}, {"-0.0", "0"},
		{"0.50", "0.5"}, {"1e3", "1000"}, {"2.5e-7", "2.5e-07"}, {"12345678901234567890123", "12345678901234567890123"},
		{"1e400", "1e400"}, {"true", "true"}, {"-3", "-3"}, {"-3.0", "-3"},
	} {
		if got := CanonicalLabel(tc.in); got != tc.want {
			t.Errorf("CanonicalLabel(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Label identity is one rule everywhere: a labels file, a labelled
// dataset and labelled texts all put 1, 1.0, 1e0 and "1" in one class.
func TestLabelIdentity(t *testing.T) {
	lines := []string{`{"text":"a","label":1}`, `{"text":"b","label":1.0}`, `{"text":"c","label":"1"}`, `{"text":"d","label":2}`, `{"text":"e","label":1e0}`, `{"text":"f","label":"x"}`}
	p := filepath.Join(t.TempDir(), "l.jsonl")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := ReadLabels(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 0, 0, 1, 0, 2}; !slices.Equal(l.IDs, want) || !slices.Equal(l.Names, []string{"1", "2", "x"}) {
		t.Errorf("ReadLabels: ids %v names %q, want %v [1 2 x]", l.IDs, l.Names, want)
	}
	d, err := ReadDataset(p, DataFields{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range d.Items {
		got = append(got, it.Label)
	}
	if want := []string{"1", "1", "1", "2", "1", "x"}; !slices.Equal(got, want) {
		t.Errorf("ReadDataset labels %q, want %q", got, want)
	}
	// The plain-text form agrees with the JSON form.
	txt, err := readTextLabels("t", bufio.NewReader(bytes.NewReader([]byte("1\n1\n1\n2\n1\nx\n"))))
	if err != nil || !slices.Equal(txt.IDs, l.IDs) {
		t.Errorf("text labels %v (%v), want %v", txt.IDs, err, l.IDs)
	}
}
