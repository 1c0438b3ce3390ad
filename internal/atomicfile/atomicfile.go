// Package atomicfile writes files so that readers never see a partial one:
// data goes to a temporary file in the destination's directory, which is
// renamed over the destination only on Commit.
//
// Only regular files are ever replaced. A destination that exists and is
// not a regular file (a character or block device such as /dev/null or
// /dev/stdout, a named pipe, a socket) is opened and written in place:
// renaming over it would destroy it. So is anything under /dev/ or
// /proc/ (/dev/stdout redirected to a file is written through, never
// renamed over). Such a File is Direct; what was written to it cannot be taken back by Abort, so callers that write
// companion files (sidecars, manifests) beside a destination should ask
// Direct and skip them. A destination that is a folder is an error.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// File is an output file being written. Write to it (it is buffered), then
// call Commit to publish it or Abort to discard it. Abort after Commit is a
// no-op, so `defer f.Abort()` is the usual pattern.
type File struct {
	*bufio.Writer
	f      *os.File  // the temporary file, or the opened non-regular destination
	w      io.Writer // set by NewDirect: written through, never closed
	dest   string
	direct bool
	done   bool
	// set by prepare (CommitAll's first phase)
	prepared bool
}

// ErrIsDir is returned (wrapped) by Create when the destination is a
// folder.
var ErrIsDir = errors.New("is a folder")

// Create starts writing dest. The file appears under dest's name only when
// Commit succeeds. If noClobber is true and dest exists, Create fails.
// If dest exists and is not a regular file, or lies under /dev/ or
// /proc/, it is written directly (see the package documentation);
// noClobber does not apply to it. A symbolic link to a regular file is
// kept: the file it points to is replaced.
func Create(dest string, noClobber bool) (*File, error) {
	name := dest
	if st, err := os.Stat(dest); err == nil {
		switch {
		case st.IsDir():
			return nil, fmt.Errorf("%s: cannot write: %w", dest, ErrIsDir)
		case !st.Mode().IsRegular() || special(dest):
			flag := os.O_WRONLY
			if st.Mode().IsRegular() {
				// /dev/stdout redirected to a file: write at its end,
				// after whatever else went to standard output.
				flag |= os.O_APPEND
			}
			f, err := os.OpenFile(dest, flag, 0)
			if err != nil {
				return nil, fmt.Errorf("%s: cannot write: %w", dest, err)
			}
			return &File{Writer: bufio.NewWriterSize(f, 1<<20), f: f, dest: dest, direct: true}, nil
		case noClobber:
			return nil, fmt.Errorf("%s: already exists (refusing to overwrite)", dest)
		}
		if lst, err := os.Lstat(dest); err == nil && lst.Mode()&os.ModeSymlink != 0 {
			if target, err := filepath.EvalSymlinks(dest); err == nil {
				dest = target // replace the file, keep the link
			}
		}
	}
	dir := filepath.Dir(dest)
	f, err := os.CreateTemp(dir, "."+filepath.Base(dest)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("%s: cannot write: %w", name, err)
	}
	return &File{Writer: bufio.NewWriterSize(f, 1<<20), f: f, dest: dest}, nil
}

// special reports whether path lies under /dev/ or /proc/, where files
// are written in place, never replaced.
func special(path string) bool {
	a, err := filepath.Abs(path)
	if err != nil {
		return true
	}
	return strings.HasPrefix(a, "/dev/") || strings.HasPrefix(a, "/proc/")
}

// Check reports whether Create(dest, false) would succeed, without
// opening dest: a folder is an error, a non-regular file (written
// directly) is fine, and otherwise a temporary file must be creatable in
// dest's folder. Use it to fail before long work on an unusable output.
func Check(dest string) error {
	if st, err := os.Stat(dest); err == nil {
		if st.IsDir() {
			return fmt.Errorf("%s: cannot write: %w", dest, ErrIsDir)
		}
		if !st.Mode().IsRegular() || special(dest) {
			return nil
		}
		if target, err := filepath.EvalSymlinks(dest); err == nil {
			dest = target
		}
	}
	f, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".tmp-*")
	if err != nil {
		return fmt.Errorf("%s: cannot write: %w", dest, err)
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// IsDirect reports whether Create would write dest directly (it exists
// and is not a regular file or folder).
func IsDirect(dest string) bool {
	st, err := os.Stat(dest)
	return err == nil && !st.IsDir() && (!st.Mode().IsRegular() || special(dest))
}

// NewDirect returns a File that writes through to w (for example standard
// output for a destination named "-"), under the given name for error
// messages. It is Direct: Commit flushes, Abort only stops; w is never
// closed.
func NewDirect(w io.Writer, name string) *File {
	return &File{Writer: bufio.NewWriterSize(w, 1<<16), w: w, dest: name, direct: true}
}

// Direct reports whether the file is written in place (a device, a pipe,
// or a writer given to NewDirect) rather than renamed into place on
// Commit.
func (a *File) Direct() bool { return a.direct }

// Name returns the destination's name.
func (a *File) Name() string { return a.dest }

// prepare flushes, syncs and closes the temporary file, leaving only the
// rename. A failure removes the temporary file.
func (a *File) prepare() error {
	if a.done || a.prepared {
		return fmt.Errorf("%s: already committed or aborted", a.dest)
	}
	a.prepared = true
	err := a.Flush()
	if a.direct {
		if a.f != nil {
			if cerr := a.f.Close(); err == nil {
				err = cerr
			}
		}
		a.done = true
		if err != nil {
			return fmt.Errorf("%s: %w", a.dest, err)
		}
		return nil
	}
	if err == nil {
		err = a.f.Sync()
	}
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(a.f.Name(), 0o644)
	}
	if err != nil {
		a.done = true
		os.Remove(a.f.Name())
		return fmt.Errorf("%s: %w", a.dest, err)
	}
	return nil
}

// publish renames a prepared file into place.
func (a *File) publish() error {
	if a.done {
		return nil
	}
	a.done = true
	if err := os.Rename(a.f.Name(), a.dest); err != nil {
		os.Remove(a.f.Name())
		return fmt.Errorf("%s: %w", a.dest, err)
	}
	return nil
}

// discard removes a prepared, unpublished temporary file.
func (a *File) discard() {
	if !a.done {
		a.done = true
		os.Remove(a.f.Name())
	}
}

// Commit flushes, syncs and renames the file into place.
func (a *File) Commit() error {
	if err := a.prepare(); err != nil {
		return err
	}
	return a.publish()
}

// CommitAll commits files together: every file is flushed, synced and
// closed first (where a full disk shows), and only when all of them
// succeeded are they renamed into place. If a rename fails, the files
// already renamed are put back as they were (the previous version
// restored, or removed if there was none), so the destinations change
// all together or not at all. Direct files are flushed in the first phase
// and cannot be rolled back.
func CommitAll(files ...*File) error {
	for i, f := range files {
		if err := f.prepare(); err != nil {
			for _, g := range files[i+1:] {
				g.Abort()
			}
			for _, g := range files[:i] {
				g.discard()
			}
			return err
		}
	}
	type undo struct {
		dest, backup string // backup "" = there was no previous file
	}
	var done []undo
	rollback := func() {
		for k := len(done) - 1; k >= 0; k-- {
			u := done[k]
			if u.backup == "" {
				os.Remove(u.dest)
			} else {
				os.Rename(u.backup, u.dest)
			}
		}
	}
	for i, f := range files {
		if f.done { // direct
			continue
		}
		u := undo{dest: f.dest}
		if st, err := os.Lstat(f.dest); err == nil && st.Mode().IsRegular() {
			u.backup = f.f.Name() + ".old"
			if err := os.Link(f.dest, u.backup); err != nil {
				u.backup = ""
				if len(files) > 1 {
					// Without a backup the rename could not be undone.
					for _, g := range files[i:] {
						g.discard()
					}
					rollback()
					return fmt.Errorf("%s: %w", f.dest, err)
				}
			}
		}
		if err := f.publish(); err != nil {
			if u.backup != "" {
				os.Remove(u.backup)
			}
			for _, g := range files[i+1:] {
				g.discard()
			}
			rollback()
			return err
		}
		done = append(done, u)
	}
	for _, u := range done {
		if u.backup != "" {
			os.Remove(u.backup)
		}
	}
	return nil
}

// Abort discards the temporary file. It is safe to call more than once and
// after Commit. For a Direct file it only closes what it opened.
func (a *File) Abort() {
	if a.done {
		return
	}
	a.done = true
	if a.f != nil {
		a.f.Close()
		if !a.direct {
			os.Remove(a.f.Name())
		}
	}
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
