package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestLinesWhenNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf, "embed", 10, "items", time.Nanosecond)
	if IsTerminal(&buf) {
		t.Fatal("a buffer is not a terminal")
	}
	r.Set(5)
	time.Sleep(time.Millisecond)
	r.Set(10)
	if el := r.Finish(); el <= 0 {
		t.Errorf("elapsed %v", el)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "embed: 5/10 items (50%)") || !strings.HasPrefix(lines[1], "embed: 10/10 items (100%)") {
		t.Fatalf("output %q", buf.String())
	}
}

func TestThrottled(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf, "x", 100, "items", time.Hour)
	for i := 1; i <= 100; i++ {
		r.Set(i)
	}
	r.Finish()
	if buf.Len() != 0 {
		t.Fatalf("printed %q within the period", buf.String())
	}
}

func TestRate(t *testing.T) {
	tests := []struct {
		n    int
		d    time.Duration
		want float64
	}{{100, 2 * time.Second, 50}, {5, 0, 0}, {0, time.Second, 0}}
	for _, tc := range tests {
		if got := Rate(tc.n, tc.d); got != tc.want {
			t.Errorf("Rate(%d, %v) = %v, want %v", tc.n, tc.d, got, tc.want)
		}
	}
}
