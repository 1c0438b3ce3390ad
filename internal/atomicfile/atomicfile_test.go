package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCommitAndAbort(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "out.txt")

	f, err := Create(dest, false)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("hello")
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Fatalf("destination visible before Commit: %v", err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Abort() // no-op after Commit
	if b, _ := os.ReadFile(dest); string(b) != "hello" {
		t.Fatalf("got %q", b)
	}

	g, err := Create(dest, false)
	if err != nil {
		t.Fatal(err)
	}
	g.WriteString("partial")
	g.Abort()
	if b, _ := os.ReadFile(dest); string(b) != "hello" {
		t.Fatalf("Abort changed destination: %q", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}

	if _, err := Create(dest, true); err == nil {
		t.Fatal("noClobber did not refuse an existing file")
	}
	if _, err := Create(filepath.Join(dir, "missing", "x"), false); err == nil {
		t.Fatal("expected error for a missing directory")
	}
}
