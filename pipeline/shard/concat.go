package shard

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/embfit/embfit/internal/atomicfile"
	"github.com/embfit/embfit/internal/inputerr"
	"github.com/embfit/embfit/pipeline/dataio"
)

// ConcatEmbeddings joins the outputs of `embfit embed --shard i/n`, given
// in shard order, into out and its sidecar (dataio.SidecarPath): the
// same bytes as one unsharded run. Every shard must be a float32 .npy of
// the same width with its sidecar beside it, and the sidecars' row
// numbers must continue one another (a missing, repeated or misordered
// shard is an error naming it). Both outputs are written atomically.
func ConcatEmbeddings(out string, shards []string) error {
	if len(shards) == 0 {
		return fmt.Errorf("no shards to concatenate")
	}
	files := make([]*npyFile, len(shards))
	rows, cols := 0, -1
	for i, s := range shards {
		if sameFile(s, out) || sameFile(dataio.SidecarPath(s), dataio.SidecarPath(out)) {
			return inputerr.FileError(s, 0, fmt.Errorf("is also the output"))
		}
		f, err := openNPY(s)
		if err != nil {
			return err
		}
		defer f.Close()
		if cols >= 0 && f.cols != cols {
			return inputerr.FileError(s, 0, fmt.Errorf("%d columns, %s has %d", f.cols, shards[0], cols))
		}
		cols = f.cols
		files[i] = f
		rows += f.rows
	}
	npy, err := atomicfile.Create(out, false)
	if err != nil {
		return err
	}
	defer npy.Abort()
	side, err := atomicfile.Create(dataio.SidecarPath(out), false)
	if err != nil {
		return err
	}
	defer side.Abort()
	if err := dataio.WriteNPYHeader(npy, rows, cols); err != nil {
		return err
	}
	next := 0
	for i, f := range files {
		if _, err := io.Copy(npy, io.NewSectionReader(f.f, f.offset, 4*int64(f.rows)*int64(f.cols))); err != nil {
			return inputerr.FileError(shards[i], 0, err)
		}
		n, err := copySidecar(side, dataio.SidecarPath(shards[i]), next)
		if err != nil {
			return err
		}
		if n != f.rows {
			return inputerr.FileError(dataio.SidecarPath(shards[i]), 0, fmt.Errorf("%d lines for %d rows of %s", n, f.rows, shards[i]))
		}
		next += n
	}
	if err := npy.Commit(); err != nil {
		return err
	}
	if err := side.Commit(); err != nil {
		os.Remove(out)
		return err
	}
	return nil
}

// copySidecar appends the lines of path to w, checking that their "row"
// fields count up from first; it returns the number of lines.
func copySidecar(w io.Writer, path string, first int) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<26)
	n := 0
	for sc.Scan() {
		var r struct {
			Row *int `json:"row"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.Row == nil {
			return n, inputerr.FileError(path, n+1, errors.New("not an embfit sidecar line"))
		}
		if *r.Row != first+n {
			return n, inputerr.FileError(path, n+1, fmt.Errorf("row %d, want %d (shards missing, repeated or out of order?)", *r.Row, first+n))
		}
		if _, err := w.Write(append(sc.Bytes(), '\n')); err != nil {
			return n, err
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return n, inputerr.FileError(path, 0, err)
	}
	return n, nil
}

// sameFile reports whether a and b name the same existing file.
func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}
