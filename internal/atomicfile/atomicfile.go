// Package atomicfile writes files so that readers never see a partial one:
// data goes to a temporary file in the destination's directory, which is
// renamed over the destination only on Commit.
package atomicfile

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
)

// File is an output file being written. Write to it (it is buffered), then
// call Commit to publish it or Abort to discard it. Abort after Commit is a
// no-op, so `defer f.Abort()` is the usual pattern.
type File struct {
	*bufio.Writer
	f    *os.File
	dest string
	done bool
}

// Create starts writing dest. The file appears under dest's name only when
// Commit succeeds. If noClobber is true and dest exists, Create fails.
func Create(dest string, noClobber bool) (*File, error) {
	if noClobber {
		if _, err := os.Stat(dest); err == nil {
			return nil, fmt.Errorf("%s: already exists (refusing to overwrite)", dest)
		}
	}
	dir := filepath.Dir(dest)
	f, err := os.CreateTemp(dir, "."+filepath.Base(dest)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("%s: cannot write: %w", dest, err)
	}
	return &File{Writer: bufio.NewWriterSize(f, 1<<20), f: f, dest: dest}, nil
}

// Commit flushes, syncs and renames the file into place.
func (a *File) Commit() error {
	if a.done {
		return fmt.Errorf("%s: already committed or aborted", a.dest)
	}
	a.done = true
	err := a.Flush()
	if err == nil {
		err = a.f.Sync()
	}
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(a.f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(a.f.Name(), a.dest)
	}
	if err != nil {
		os.Remove(a.f.Name())
		return fmt.Errorf("%s: %w", a.dest, err)
	}
	return nil
}

// Abort discards the temporary file. It is safe to call more than once and
// after Commit.
func (a *File) Abort() {
	if a.done {
		return
	}
	a.done = true
	a.f.Close()
	os.Remove(a.f.Name())
}

// WriteFile writes data to dest atomically.
func WriteFile(dest string, data []byte) error {
	f, err := Create(dest, false)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("%s: %w", dest, err)
	}
	return f.Commit()
}
