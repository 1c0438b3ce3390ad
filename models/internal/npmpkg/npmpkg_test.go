package npmpkg

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTGZ(t *testing.T, files map[string]string, order []string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "p.tgz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "package/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	for _, name := range order {
		body := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, body); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []io.Closer{tw, zw, f} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestOpenAndWalk(t *testing.T) {
	files := map[string]string{"package/a.txt": "alpha", "package/dict/b": "beta"}
	tgz := writeTGZ(t, files, []string{"package/a.txt", "package/dict/b"})
	for name, want := range files {
		var got []byte
		if err := Open(tgz, name, func(r io.Reader) (err error) { got, err = io.ReadAll(r); return }); err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	err := Open(tgz, "package/missing", func(io.Reader) error { return nil })
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "p.tgz: package/missing") {
		t.Errorf("missing member: %v", err)
	}
	boom := errors.New("boom")
	if err := Open(tgz, "package/a.txt", func(io.Reader) error { return boom }); !errors.Is(err, boom) || !strings.Contains(err.Error(), "package/a.txt: boom") {
		t.Errorf("callback error: %v", err)
	}
	var names []string
	found, err := Walk(tgz, func(name string, _ io.Reader) (bool, error) { names = append(names, name); return false, nil })
	if err != nil || found || strings.Join(names, ",") != "package/a.txt,package/dict/b" {
		t.Errorf("Walk: %v %v %v (directories must be skipped)", names, found, err)
	}
	if _, err := Walk(filepath.Join(t.TempDir(), "none.tgz"), nil); err == nil || !strings.Contains(err.Error(), "run `make setup`") {
		t.Errorf("missing tarball: %v", err)
	}
	notGzip := filepath.Join(t.TempDir(), "x.tgz")
	os.WriteFile(notGzip, []byte("plain"), 0o644)
	if _, err := Walk(notGzip, nil); err == nil || !strings.Contains(err.Error(), "x.tgz") {
		t.Errorf("not gzip: %v", err)
	}
}

func TestSHA256Bytes(t *testing.T) {
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" // FIPS 180-2 "abc"
	if got := SHA256Bytes([]byte("abc")); got != want {
		t.Errorf("SHA256Bytes = %s, want %s", got, want)
	}
}

func TestModuleRoot(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil || !strings.HasSuffix(filepath.ToSlash(wd(t)), "models/internal/npmpkg") {
		t.Errorf("root %s: %v", root, err)
	}
	if rel, _ := filepath.Rel(root, wd(t)); filepath.ToSlash(rel) != "models/internal/npmpkg" {
		t.Errorf("root %s is not two levels above the package", root)
	}
}

func wd(t *testing.T) string {
	d, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
