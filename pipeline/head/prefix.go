package head

import (
	"fmt"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/onnx/graph"
)

// Prefix returns a head computing the first d columns of h's output (a
// Matryoshka head exported at width d): Forward and AppendONNX give h's
// result sliced to d columns. It is for export and inference; its
// Backward panics. d must be in 1…h's Out. (A normalizing head
// normalizes before the slice; merged.onnx normalizes the slice again.)
func Prefix(h Head, d int) Head {
	if d <= 0 || d > h.Settings().Out {
		panic(fmt.Sprintf("head: Prefix width %d outside 1…%d", d, h.Settings().Out))
	}
	if d == h.Settings().Out {
		return h
	}
	return &prefix{inner: h, d: d}
}

type prefix struct {
	inner Head
	d     int
	full  blas32.General
}

func (p *prefix) Settings() Settings {
	s := p.inner.Settings()
	s.Out = p.d
	return s
}

func (p *prefix) Forward(dst, x blas32.General) {
	p.full = linalg.Ensure(p.full, x.Rows, p.inner.Settings().Out)
	p.inner.Forward(p.full, x)
	for i := range x.Rows {
		copy(linalg.Row(dst, i), linalg.Row(p.full, i)[:p.d])
	}
}

func (p *prefix) Backward(dx, dout blas32.General) {
	panic("head: a Prefix head is for export and inference only")
}

func (p *prefix) Params() []blas32.General { return p.inner.Params() }
func (p *prefix) Grads() []blas32.General  { return p.inner.Grads() }

func (p *prefix) AppendONNX(m *graph.Model, x, prefixName string) string {
	y := p.inner.AppendONNX(m, x, prefixName)
	name := func(n string) string { return m.UniqueName(prefixName + n) }
	starts, ends, axes := name("slice_starts"), name("slice_ends"), name("slice_axes")
	m.AddInitializerInt64(starts, []int64{1}, []int64{0})
	m.AddInitializerInt64(ends, []int64{1}, []int64{int64(p.d)})
	m.AddInitializerInt64(axes, []int64{1}, []int64{1})
	out := name("prefix")
	m.AddNode("Slice", []string{y, starts, ends, axes}, []string{out})
	return out
}
