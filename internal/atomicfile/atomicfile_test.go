package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

func TestNonRegularDestinationWrittenInPlace(t *testing.T) {
	// /dev/null must stay a device: before, Commit renamed a regular
	// file over it.
	f, err := Create(os.DevNull, false)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Direct() {
		t.Fatal("/dev/null not written directly")
	}
	f.WriteString("discarded")
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(os.DevNull)
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("/dev/null is no longer a character device: %v %v", st.Mode(), err)
	}

	// A FIFO is written to, not replaced.
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("mkfifo:", err)
	}
	got := make(chan []byte)
	go func() {
		r, err := os.Open(fifo)
		if err != nil {
			got <- nil
			return
		}
		b, _ := io.ReadAll(r)
		r.Close()
		got <- b
	}()
	g, err := Create(fifo, true) // noClobber does not apply to a pipe
	if err != nil {
		t.Fatal(err)
	}
	g.WriteString("through the pipe")
	if err := g.Commit(); err != nil {
		t.Fatal(err)
	}
	if b := <-got; string(b) != "through the pipe" {
		t.Fatalf("reader got %q", b)
	}
	if st, err := os.Lstat(fifo); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("FIFO replaced: %v %v", st.Mode(), err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("files left behind: %v", entries)
	}
}

func TestFolderDestinationRefused(t *testing.T) {
	dir := t.TempDir()
	_, err := Create(dir, false)
	if !errors.Is(err, ErrIsDir) {
		t.Fatalf("Create(folder) = %v, want ErrIsDir", err)
	}
}

func TestNewDirect(t *testing.T) {
	var b bytes.Buffer
	f := NewDirect(&b, "-")
	f.WriteString("x")
	if !f.Direct() || f.Name() != "-" {
		t.Fatal("NewDirect: not direct or wrong name")
	}
	if err := CommitAll(f); err != nil || b.String() != "x" {
		t.Fatalf("CommitAll(direct) = %v, wrote %q", err, b.String())
	}
}

func TestCommitAll(t *testing.T) {
	tests := []struct {
		name    string
		breakB  bool // make b's rename fail after both were prepared
		wantA   string
		wantB   string
		wantErr bool
	}{
		{name: "both", wantA: "new a", wantB: "new b"},
		{name: "second rename fails", breakB: true, wantA: "old a", wantB: "", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pa, pb := filepath.Join(dir, "a"), filepath.Join(dir, "b")
			if err := os.WriteFile(pa, []byte("old a"), 0o644); err != nil {
				t.Fatal(err)
			}
			a, err := Create(pa, false)
			if err != nil {
				t.Fatal(err)
			}
			b, err := Create(pb, false)
			if err != nil {
				t.Fatal(err)
			}
			a.WriteString("new a")
			b.WriteString("new b")
			if tc.breakB {
				// A non-empty folder appears at b's name: rename fails.
				os.MkdirAll(filepath.Join(pb, "x"), 0o755)
			}
			err = CommitAll(a, b)
			if (err != nil) != tc.wantErr {
				t.Fatalf("CommitAll = %v, want error %v", err, tc.wantErr)
			}
			if got, _ := os.ReadFile(pa); string(got) != tc.wantA {
				t.Errorf("a = %q, want %q", got, tc.wantA)
			}
			if !tc.breakB {
				if got, _ := os.ReadFile(pb); string(got) != tc.wantB {
					t.Errorf("b = %q, want %q", got, tc.wantB)
				}
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), ".") {
					t.Errorf("temporary file left: %s", e.Name())
				}
			}
		})
	}
}

func TestSymlinkKept(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	link := filepath.Join(dir, "link")
	if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(link, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("link replaced: %v %v", st.Mode(), err)
	}
	if b, _ := os.ReadFile(target); string(b) != "new" {
		t.Fatalf("target = %q", b)
	}
}

func TestDevStdoutRedirectedToAFile(t *testing.T) {
	// /dev/stdout (or /proc/self/fd/N) resolving to a regular file is
	// written through: renaming over it would replace the /dev link.
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	path := fmt.Sprintf("/proc/self/fd/%d", out.Fd())
	f, err := Create(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Direct() {
		t.Fatal("a /proc path is not written directly")
	}
	f.WriteString("through")
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out")); string(b) != "through" {
		t.Fatalf("file = %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("files: %v", entries)
	}
}
