package dataio

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"strings"

	"github.com/embfit/embfit/internal/inputerr"
)

// Labels are the class labels of a set of rows, in row order.
type Labels struct {
	// IDs holds the class of each row as an integer: classes are numbered
	// 0, 1, 2, ... in order of first appearance.
	IDs []int
	// Names holds the label text of each class: Names[IDs[i]] is row i's label.
	Names []string
}

// ReadLabels reads a labels file in row order. The format is detected
// from the first non-blank line: a line starting with '{' means JSON Lines
// with a "label" field per line (a string or a number; numbers are in
// canonical form, so 1, 1.0 and "1" are one class, see Record.Label;
// blank lines are skipped); anything else means plain text with
// one label per line (surrounding spaces trimmed, CRLF accepted, a blank
// line is an error since it would shift the rows). Errors name the file
// and line. "-" reads standard input.
func ReadLabels(path string) (Labels, error) {
	var in io.Reader
	name := path
	if path == "-" {
		in, name = os.Stdin, "<stdin>"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return Labels{}, err
		}
		defer f.Close()
		in = f
	}
	br := bufio.NewReaderSize(in, 1<<16)
	head, _ := br.Peek(1 << 12)
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	if t := bytes.TrimLeft(head, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		return readJSONLLabels(NewJSONLReader(name, br))
	}
	return readTextLabels(name, br)
}

type labelIndex struct {
	l   Labels
	ids map[string]int
}

func (x *labelIndex) add(s string) {
	id, ok := x.ids[s]
	if !ok {
		id = len(x.l.Names)
		x.ids[s] = id
		x.l.Names = append(x.l.Names, s)
	}
	x.l.IDs = append(x.l.IDs, id)
}

func readJSONLLabels(r *JSONLReader) (Labels, error) {
	x := labelIndex{ids: map[string]int{}}
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return x.l, nil
		}
		if err != nil {
			return Labels{}, err
		}
		s, ok, err := rec.Label("label")
		if err != nil {
			return Labels{}, err
		}
		if !ok {
			return Labels{}, rec.Errorf("missing field %q", "label")
		}
		x.add(s)
	}
}

func readTextLabels(name string, r *bufio.Reader) (Labels, error) {
	x := labelIndex{ids: map[string]int{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	line := 0
	var blank int // a run of blank lines is only allowed at the end
	for sc.Scan() {
		line++
		s := sc.Text()
		if line == 1 {
			s = strings.TrimPrefix(s, "\xef\xbb\xbf")
		}
		s = strings.TrimSpace(s)
		if s == "" {
			if blank == 0 {
				blank = line
			}
			continue
		}
		if blank != 0 {
			return Labels{}, inputerr.FileError(name, blank, errors.New("empty label"))
		}
		x.add(s)
	}
	if err := sc.Err(); err != nil {
		return Labels{}, inputerr.FileError(name, line+1, err)
	}
	if len(x.l.IDs) == 0 {
		return Labels{}, inputerr.FileError(name, 0, errors.New("no labels"))
	}
	return x.l, nil
}
