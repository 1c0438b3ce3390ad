// Package head holds the small trainable heads embfit fits on top of a
// frozen encoder: a Head interface, a registry of head kinds (linear and
// mlp register themselves, each from its own file), the optional L2
// normalisation of the output, and the export of a head as head.onnx or
// appended to its encoder as merged.onnx.
//
// To add a head kind, write one file with a type implementing Head and an
// init function calling Register.
package head

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/internal/rows"
	"github.com/embfit/embfit/onnx/graph"
)

// Settings describes a trainable head on top of a frozen encoder. The
// zero value (with In set) is a D→D linear head without output
// normalization.
type Settings struct {
	// Kind is a registered head kind: "linear" (default) or "mlp".
	Kind string `json:"kind"`
	// In is the encoder's embedding width D. Required.
	In int `json:"in"`
	// Out is the head's output width D'; 0 means In.
	Out int `json:"out"`
	// Hidden is the hidden width of kinds that have one (mlp); 0 means
	// In. Always 0 for kinds without one.
	Hidden int `json:"hidden"`
	// Normalize L2-normalizes each output row.
	Normalize bool `json:"normalize"`
}

// Head is a trainable map from N×In encoder embeddings to N×Out rows, with
// its parameters, their gradients and the activations of the last Forward
// (kept for Backward). A Head is not safe for concurrent use.
type Head interface {
	// Settings returns the head's settings, defaults filled in.
	Settings() Settings
	// Forward computes dst = head(x) for the N×In batch x into the N×Out
	// matrix dst (caller-owned) and keeps what Backward needs. x and dst
	// must stay unchanged until Backward.
	Forward(dst, x blas32.General)
	// Backward takes dout = ∂L/∂out for the last Forward's output (N×Out),
	// overwrites the parameter gradients (Grads) and, when dx.Data is
	// non-nil, writes ∂L/∂x into dx (N×In). dout is not modified.
	Backward(dx, dout blas32.General)
	// Params returns the parameter matrices, sharing the head's storage;
	// an optimizer updates them in place. Biases are 1×n matrices.
	Params() []blas32.General
	// Grads returns ∂L/∂p for each matrix of Params (same order and
	// shapes), as written by the last Backward.
	Grads() []blas32.General
	// AppendONNX adds nodes computing the head on the float tensor x
	// ([batch, In]) to m, with tensor names starting with prefix, and
	// returns the name of the result ([batch, Out]).
	AppendONNX(m *graph.Model, x, prefix string) string
}

// Kind is a registered head kind.
type Kind struct {
	// New builds a head from s (defaults filled in, s.Normalize handled by
	// the caller), drawing any random initial values from rng.
	New func(s Settings, rng *rand.Rand) Head
	// HasHidden says whether Settings.Hidden applies to this kind.
	HasHidden bool
}

var kinds = map[string]Kind{}

// Register makes a head kind available under name. It panics when name is
// taken or k.New is nil; call it from an init function.
func Register(name string, k Kind) {
	if _, dup := kinds[name]; dup || k.New == nil || name == "" {
		panic(fmt.Sprintf("head: Register(%q): duplicate, empty or nil constructor", name))
	}
	kinds[name] = k
}

// Kinds returns the registered kind names, sorted.
func Kinds() []string {
	names := make([]string, 0, len(kinds))
	for n := range kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// WithDefaults returns s with zero fields replaced by their defaults, or
// an error naming the bad field.
func (s Settings) WithDefaults() (Settings, error) {
	if s.Kind == "" {
		s.Kind = "linear"
	}
	k, ok := kinds[s.Kind]
	if !ok {
		return s, fmt.Errorf("head: unknown kind %q (want %s)", s.Kind, strings.Join(Kinds(), " or "))
	}
	if s.In <= 0 {
		return s, fmt.Errorf("head: input width %d must be positive", s.In)
	}
	if s.Out == 0 {
		s.Out = s.In
	}
	if s.Hidden == 0 {
		s.Hidden = s.In
	}
	if s.Out < 0 || s.Hidden < 0 {
		return s, fmt.Errorf("head: widths must be positive (out %d, hidden %d)", s.Out, s.Hidden)
	}
	if !k.HasHidden {
		s.Hidden = 0
	}
	return s, nil
}

// New builds a head from s (defaults filled in). Every square head starts
// as the identity map (each kind's constructor documents how); other
// weights get values drawn from seed, so the same settings and seed give
// the same head.
func New(s Settings, seed uint64) (Head, error) {
	s, err := s.WithDefaults()
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x6865616400000000)) // "head"
	h := kinds[s.Kind].New(s, rng)
	if s.Normalize {
		h = &normalized{core: h}
	}
	return h, nil
}

// Apply computes dst = h(x) for any number of rows, in blocks of 1024.
// It reuses the Forward workspace, so a following Backward is invalid;
// call it between training steps (e.g. for evaluation).
func Apply(h Head, dst, x blas32.General) {
	const block = 1024
	for i := 0; i < x.Rows; i += block {
		j := min(i+block, x.Rows)
		h.Forward(linalg.Slice(dst, i, j), linalg.Slice(x, i, j))
	}
}

// NumParams is the number of scalar parameters of h.
func NumParams(h Head) int {
	n := 0
	for _, p := range h.Params() {
		n += len(p.Data)
	}
	return n
}

// normalized is a head followed by L2 normalization of each output row:
// out = y/‖y‖ (a zero row stays zero).
type normalized struct {
	core    Head
	y       blas32.General // the core's output
	invNorm []float64      // 1/‖y_i‖
	out     blas32.General // the output written by Forward (caller's memory)
	dy      blas32.General // backward scratch
}

var _ Head = (*normalized)(nil)

func (h *normalized) Settings() Settings       { return h.core.Settings() }
func (h *normalized) Params() []blas32.General { return h.core.Params() }
func (h *normalized) Grads() []blas32.General  { return h.core.Grads() }

func (h *normalized) Forward(dst, x blas32.General) {
	n := x.Rows
	h.y = linalg.Ensure(h.y, n, dst.Cols)
	h.core.Forward(h.y, x)
	h.out = dst
	if cap(h.invNorm) < n {
		h.invNorm = make([]float64, n)
	}
	h.invNorm = h.invNorm[:n]
	for i := 0; i < n; i++ {
		h.invNorm[i] = 0
		if n := rows.NormalizeVec(linalg.Row(dst, i), linalg.Row(h.y, i)); n > 0 {
			h.invNorm[i] = 1 / n
		}
	}
}

func (h *normalized) Backward(dx, dout blas32.General) {
	n := dout.Rows
	if n != h.out.Rows || dout.Cols != h.out.Cols {
		panic("head: Backward gradient shape does not match the last Forward")
	}
	// out = y/‖y‖  ⇒  dy = (dout − out·(out·dout))/‖y‖.
	h.dy = linalg.Ensure(h.dy, n, dout.Cols)
	for i := 0; i < n; i++ {
		o, g, d := linalg.Row(h.out, i), linalg.Row(dout, i), linalg.Row(h.dy, i)
		var dot float64
		for j := range o {
			dot += float64(o[j]) * float64(g[j])
		}
		inv := h.invNorm[i]
		for j := range o {
			d[j] = float32((float64(g[j]) - float64(o[j])*dot) * inv)
		}
	}
	h.core.Backward(dx, h.dy)
}

func (h *normalized) AppendONNX(m *graph.Model, x, prefix string) string {
	return graph.AppendL2Normalize(m, h.core.AppendONNX(m, x, prefix), prefix)
}

// addBias adds the 1×n bias b to every row of m.
func addBias(m, b blas32.General) {
	for i := 0; i < m.Rows; i++ {
		row := linalg.Row(m, i)
		for j, v := range b.Data[:m.Cols] {
			row[j] += v
		}
	}
}

// colSums writes the column sums of m (accumulated in float64) into the
// 1×m.Cols matrix dst.
func colSums(dst, m blas32.General) {
	for j := 0; j < m.Cols; j++ {
		var sum float64
		for i := 0; i < m.Rows; i++ {
			sum += float64(m.Data[i*m.Stride+j])
		}
		dst.Data[j] = float32(sum)
	}
}

func xavier(m blas32.General, rng *rand.Rand) {
	limit := math.Sqrt(6 / float64(m.Rows+m.Cols))
	for i := range m.Data {
		m.Data[i] = float32((2*rng.Float64() - 1) * limit)
	}
}

// appendLinear adds y = in·Wᵀ + b for the rows×cols weight w (row-major,
// rows = outputs) and bias b to m, storing W transposed (cols×rows) so the
// graph uses MatMul, and returns y's name.
func appendLinear(m *graph.Model, in string, w, b []float32, rows, cols int, prefix, tag string) string {
	name := func(n string) string { return m.UniqueName(prefix + n) }
	wt := make([]float32, rows*cols)
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			wt[j*rows+i] = w[i*cols+j]
		}
	}
	wn := name(tag + "_weight")
	m.AddInitializerFloat(wn, []int64{int64(cols), int64(rows)}, wt)
	bn := name(tag + "_bias")
	m.AddInitializerFloat(bn, []int64{int64(rows)}, slices.Clone(b))
	mm := name(tag + "_matmul")
	m.AddNode("MatMul", []string{in, wn}, []string{mm})
	out := name(tag + "_out")
	m.AddNode("Add", []string{mm, bn}, []string{out})
	return out
}
