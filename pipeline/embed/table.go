package embed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/inputerr"
	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/pipeline/dataio"
)

// Table is an Encoder over embeddings a user already has (from any
// model, an embedding API included): the rows of an N×D matrix, each
// keyed by its text. Encoding a text copies its row; a text the table
// does not hold is an error.
type Table struct {
	emb    blas32.General
	index  map[string]int
	source string
}

var _ Encoder = (*Table)(nil)

// ErrNotInTable is wrapped by Table.Encode's error for a text without a
// row.
var ErrNotInTable = errors.New("text has no row in the embeddings")

// NewTable returns the table whose row i of emb is the embedding of
// texts[i]; source names the embeddings in errors. A text given twice
// must have bit-identical rows.
func NewTable(emb blas32.General, texts []string, source string) (*Table, error) {
	if len(texts) != emb.Rows {
		return nil, fmt.Errorf("%s: %d texts for %d rows", source, len(texts), emb.Rows)
	}
	t := &Table{emb: emb, index: make(map[string]int, len(texts)), source: source}
	for i, s := range texts {
		if j, ok := t.index[s]; ok {
			if !sameRow(linalg.Row(emb, i), linalg.Row(emb, j)) {
				return nil, fmt.Errorf("%s: rows %d and %d hold the same text %s with different vectors", source, j, i, quoteShort(s))
			}
			continue
		}
		t.index[s] = i
	}
	return t, nil
}

func sameRow(a, b []float32) bool {
	for k := range a {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

func quoteShort(s string) string {
	if r := []rune(s); len(r) > 40 {
		return strconv.Quote(string(r[:40])) + "..."
	}
	return strconv.Quote(s)
}

// ReadTable reads embeddings a user already has: npyPath holds the N×D
// float32 matrix, sidecarPath a JSONL file with one object per row
// carrying its text in textField (other fields such as "id" or "label"
// are ignored here) and optionally its "row" (default: the object's
// position, counting from 0). Every row must be named exactly once.
func ReadTable(npyPath, sidecarPath, textField string) (*Table, error) {
	emb, err := dataio.ReadNPY(npyPath)
	if err != nil {
		return nil, err
	}
	texts := make([]string, emb.Rows)
	seen := make([]bool, emb.Rows)
	n := 0
	err = dataio.ReadJSONL(sidecarPath, func(rec dataio.Record) error {
		text, err := rec.String(textField)
		if err != nil {
			return err
		}
		row := n
		if v, ok := rec.Fields["row"]; ok && string(v) != "null" {
			if err := json.Unmarshal(v, &row); err != nil {
				return inputerr.Fieldf(rec.File, rec.Line, "row", "must be an integer, got %s", v)
			}
		}
		if row < 0 || row >= emb.Rows {
			return inputerr.Fieldf(rec.File, rec.Line, "row", "row %d outside the %d rows of %s", row, emb.Rows, npyPath)
		}
		if seen[row] {
			return inputerr.Fieldf(rec.File, rec.Line, "row", "row %d named twice", row)
		}
		seen[row], texts[row] = true, text
		n++
		return nil
	})
	if err != nil {
		return nil, err
	}
	if n != emb.Rows {
		return nil, inputerr.FileError(sidecarPath, 0, fmt.Errorf("names %d rows, %s has %d", n, npyPath, emb.Rows))
	}
	return NewTable(emb, texts, npyPath)
}

// Dim implements Encoder.
func (t *Table) Dim() int { return t.emb.Cols }

// Len is the number of rows.
func (t *Table) Len() int { return t.emb.Rows }

// Encode implements Encoder: row i of dst is the table's row of texts[i].
func (t *Table) Encode(_ context.Context, dst blas32.General, texts []string) error {
	if dst.Rows != len(texts) || dst.Cols != t.emb.Cols {
		panic("embed: Table.Encode: dst shape does not match")
	}
	for i, s := range texts {
		s = Untag(s) // the table holds one vector per text, whatever its role
		j, ok := t.index[s]
		if !ok {
			return fmt.Errorf("%s: text %s: %w", t.source, quoteShort(s), ErrNotInTable)
		}
		copy(linalg.Row(dst, i), linalg.Row(t.emb, j))
	}
	return nil
}
