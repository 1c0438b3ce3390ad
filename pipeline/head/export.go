package head

import (
	"fmt"

	"github.com/embfit/embfit/onnx/graph"
)

// Names of the exported models' tensors.
const (
	// InputName is head.onnx's input: encoder embeddings [batch, In].
	InputName = "input"
	// EmbeddingName is the output of head.onnx ([batch, Out]) and of
	// merged.onnx ([batch, Out], L2-normalized).
	EmbeddingName = "embedding"
)

// Model returns head.onnx for h: input "input" float32 [batch, In],
// output "embedding" float32 [batch, Out] (L2-normalized when the head
// normalizes).
func Model(h Head) *graph.Model {
	s := h.Settings()
	m := graph.New("embfit_head", graph.DefaultOpset)
	m.AddInput(InputName, graph.Float, graph.Sym("batch"), graph.Fixed(int64(s.In)))
	y := h.AppendONNX(m, InputName, "head_")
	m.AddNode("Identity", []string{y}, []string{EmbeddingName})
	m.AddOutput(EmbeddingName, graph.Float, graph.Sym("batch"), graph.Fixed(int64(s.Out)))
	return m
}

// MergeSettings says which encoder output feeds the head and how it is
// pooled.
type MergeSettings struct {
	// Output is the encoder output to use; "" picks sentence_embedding,
	// else last_hidden_state, else the only output.
	Output string `json:"output"`
	// Pooling is mean, cls, max or none (default mean for [batch, T, D]
	// outputs, none for [batch, D]).
	Pooling string `json:"pooling"`
	// Mask is the attention-mask input used by mean and max pooling;
	// default "attention_mask".
	Mask string `json:"mask"`
	// Normalize L2-normalizes the pooled encoder output before the head,
	// as the encoder pipeline did when embedding (e.g. a model folder's
	// Normalize module).
	Normalize bool `json:"normalize,omitempty"`
}

// Merged loads the encoder model at encoderPath and appends pooling,
// the head and L2 normalization, so the result has the encoder's inputs
// and one output "embedding" float32 [batch, Out]. The encoder must not
// already use the name "embedding".
func Merged(encoderPath string, h Head, s MergeSettings) (*graph.Model, error) {
	m, err := graph.Load(encoderPath)
	if err != nil {
		return nil, err
	}
	if m.Names()[EmbeddingName] {
		// Tensor encoders often call their output "embedding" too:
		// rename the encoder's tensor so the merged output can have the
		// name.
		renamed := m.UniqueName("encoder_" + EmbeddingName)
		if err := renameTensor(m, EmbeddingName, renamed); err != nil {
			return nil, fmt.Errorf("%s: %w", encoderPath, err)
		}
		if s.Output == EmbeddingName {
			s.Output = renamed
		}
	}
	outs := m.Outputs()
	out := -1
	for _, want := range []string{s.Output, "sentence_embedding", "last_hidden_state"} {
		for i, o := range outs {
			if want != "" && o.Name == want {
				out = i
				break
			}
		}
		if out >= 0 || s.Output != "" {
			break
		}
	}
	if out < 0 && s.Output == "" && len(outs) == 1 {
		out = 0
	}
	if out < 0 {
		return nil, fmt.Errorf("%s: no output %q (outputs: %v)", encoderPath, s.Output, outs)
	}
	o := outs[out]
	rank := len(o.Dims)
	if rank > 2 && (s.Pooling == "" || s.Pooling == graph.PoolNone) && pooledWithSingletons(o.Dims) {
		// [batch, 1, 1, D] and the like: flatten to [batch, D].
		flat := m.UniqueName("embfit_flat")
		m.AddNode("Flatten", []string{o.Name}, []string{flat}, graph.AttrInt("axis", 1))
		var d graph.Dim
		for _, x := range o.Dims[1:] {
			if x.Param != "" || x.Value != 1 {
				d = x
			}
		}
		o = graph.ValueInfo{Name: flat, Type: o.Type, Dims: []graph.Dim{o.Dims[0], d}}
		rank = 2
	}
	if s.Pooling == "" {
		s.Pooling = graph.PoolMean
		if rank == 2 {
			s.Pooling = graph.PoolNone
		}
	}
	if s.Mask == "" {
		s.Mask = "attention_mask"
	}
	x, err := graph.AppendPooling(m, o.Name, rank, s.Pooling, s.Mask)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", encoderPath, err)
	}
	if in := h.Settings().In; o.Dims != nil && rank >= 2 {
		if d := o.Dims[rank-1]; d.Param == "" && d.Value > 0 && int(d.Value) != in {
			return nil, fmt.Errorf("%s: output %s has width %d, the head expects %d", encoderPath, o.Name, d.Value, in)
		}
	}
	if s.Normalize {
		x = graph.AppendL2Normalize(m, x, "embfit_pooled_")
	}
	y := h.AppendONNX(m, x, "embfit_head_")
	if !h.Settings().Normalize {
		y = graph.AppendL2Normalize(m, y, "embfit_")
	}
	m.AddNode("Identity", []string{y}, []string{EmbeddingName})
	batch := graph.Sym("batch")
	if o.Dims != nil && rank >= 1 {
		batch = o.Dims[0]
	}
	m.SetOutputs(graph.ValueInfo{Name: EmbeddingName, Type: graph.Float, Dims: []graph.Dim{batch, graph.Fixed(int64(h.Settings().Out))}})
	return m, nil
}

// pooledWithSingletons reports whether dims (batch first) hold one
// feature dimension after the batch, the others fixed at 1.
func pooledWithSingletons(dims []graph.Dim) bool {
	n := 0
	for _, d := range dims[1:] {
		if d.Param != "" || d.Value != 1 {
			n++
		}
	}
	return n <= 1
}

// renameTensor renames tensor from to to in m's top-level graph: node
// inputs and outputs, graph inputs, outputs, initializers and value infos.
// A name used inside a subgraph is an error (not renamed).
func renameTensor(m *graph.Model, from, to string) error {
	g := m.Graph()
	for _, n := range g.Node {
		for i, x := range n.Input {
			if x == from {
				n.Input[i] = to
			}
		}
		for i, x := range n.Output {
			if x == from {
				n.Output[i] = to
			}
		}
		for _, a := range n.Attribute {
			if a.G != nil || len(a.Graphs) > 0 {
				return fmt.Errorf("cannot rename %q: the encoder has subgraphs", from)
			}
		}
	}
	for _, v := range g.Input {
		if v.Name == from {
			v.Name = to
		}
	}
	for _, v := range g.Output {
		if v.Name == from {
			v.Name = to
		}
	}
	for _, v := range g.ValueInfo {
		if v.Name == from {
			v.Name = to
		}
	}
	for _, t := range g.Initializer {
		if t.Name == from {
			t.Name = to
		}
	}
	return nil
}
