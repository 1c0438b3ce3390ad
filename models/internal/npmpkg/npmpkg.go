// Package npmpkg reads files out of npm package tarballs (the .tgz files
// that `npm pack` writes) without extracting them to disk, and computes the
// checksums that recipes record in their manifests.
package npmpkg

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/embfit/embfit/internal/digest"
)

// ErrNotFound is returned (wrapped) by Open when the tarball has no such member.
var ErrNotFound = errors.New("not in the package")

// Open streams the tarball member named member (e.g.
// "package/dict/data.noun") to fn. The reader is valid only during fn. The
// error names the tarball and the member.
func Open(tgz, member string, fn func(io.Reader) error) error {
	found, err := Walk(tgz, func(name string, r io.Reader) (bool, error) {
		if name != member {
			return false, nil
		}
		return true, fn(r)
	})
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%s: %s: %w", tgz, member, ErrNotFound)
	}
	return nil
}

// Walk calls fn for every regular file in the tarball, in archive order,
// with its name (as stored, e.g. "package/README.md") and contents. fn
// returns stop=true to end the walk early; Walk then reports found=true.
func Walk(tgz string, fn func(name string, r io.Reader) (stop bool, err error)) (found bool, err error) {
	f, err := os.Open(tgz)
	if err != nil {
		return false, fmt.Errorf("%s: %w (run `make setup`)", tgz, err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return false, fmt.Errorf("%s: %w", tgz, err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("%s: %w", tgz, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		stop, err := fn(h.Name, tr)
		if err != nil {
			return false, fmt.Errorf("%s: %s: %w", tgz, h.Name, err)
		}
		if stop {
			return true, nil
		}
	}
}

// SHA256Bytes returns the lower-case hex SHA-256 of b.
func SHA256Bytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// ModuleRoot returns the directory holding go.mod, searching from the
// current directory upwards. Tests use it to find setup's artifacts
// (.cache/npm, models/glove-100d, data/wordnet) from any package directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot locate the module root (no go.mod in the current directory or above)")
		}
		dir = parent
	}
}

// ReadJSON decodes the JSON file at path into v (a recipe or manifest
// written by a builder), naming the file in errors.
func ReadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// FilesIntact reports whether every file named in sums exists in dir with
// that hex sha256; false for an empty map (nothing recorded yet).
func FilesIntact(dir string, sums map[string]string) bool {
	if len(sums) == 0 {
		return false
	}
	for name, want := range sums {
		got, err := digest.File(filepath.Join(dir, name))
		if err != nil || got != want {
			return false
		}
	}
	return true
}
