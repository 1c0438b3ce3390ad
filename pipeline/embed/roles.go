package embed

import (
	"context"
	"strings"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
)

// Role tags mark a text as a query or a corpus text when the two sides
// embed differently (their own prompts); see Roles.
const (
	QueryTag  = "\x00query\x00"
	CorpusTag = "\x00corpus\x00"
)

// Untag returns s without its role tag.
func Untag(s string) string {
	if t, ok := strings.CutPrefix(s, QueryTag); ok {
		return t
	}
	if t, ok := strings.CutPrefix(s, CorpusTag); ok {
		return t
	}
	return s
}

// Roles is an Encoder that embeds texts tagged QueryTag with Query and
// texts tagged CorpusTag (or untagged) with Corpus, both of the same
// width, so a text-keyed job (cache, training) can hold the two sides of
// a pair set with their own prompts. Row order is kept.
type Roles struct {
	Query, Corpus Encoder
}

var _ Encoder = Roles{}

// Dim is the embedding width.
func (r Roles) Dim() int { return r.Query.Dim() }

// Encode embeds texts into dst, each with its role's encoder.
func (r Roles) Encode(ctx context.Context, dst blas32.General, texts []string) error {
	var qi, ci []int
	var qt, ct []string
	for i, s := range texts {
		if t, ok := strings.CutPrefix(s, QueryTag); ok {
			qi, qt = append(qi, i), append(qt, t)
		} else {
			ci, ct = append(ci, i), append(ct, Untag(s))
		}
	}
	for _, side := range []struct {
		enc   Encoder
		rows  []int
		texts []string
	}{{r.Query, qi, qt}, {r.Corpus, ci, ct}} {
		if len(side.rows) == 0 {
			continue
		}
		x := linalg.NewMatrix(len(side.rows), r.Dim())
		if err := side.enc.Encode(ctx, x, side.texts); err != nil {
			return err
		}
		for k, i := range side.rows {
			copy(linalg.Row(dst, i), linalg.Row(x, k))
		}
	}
	return nil
}
