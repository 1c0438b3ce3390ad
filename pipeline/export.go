package pipeline

import (
	"fmt"
	"math"
	"slices"

	"github.com/embfit/embfit/onnx/graph"
	"github.com/embfit/embfit/onnx/onnxpb"
)

// Names of the exported models' tensors.
const (
	// HeadInputName is head.onnx's input: encoder embeddings [batch, In].
	HeadInputName = "input"
	// EmbeddingName is the output of head.onnx ([batch, Out]) and of
	// merged.onnx ([batch, Out], L2-normalized).
	EmbeddingName = "embedding"
)

// appendHead adds nodes computing h on the float tensor x ([batch, In])
// to m and returns the name of the result ([batch, Out]). Weight matrices
// are stored transposed (In×Out) so that the graph uses MatMul.
func appendHead(m *graph.Model, x string, h *Head, prefix string) string {
	s := h.Settings
	name := func(n string) string { return m.UniqueName(prefix + n) }
	linear := func(in string, w, b []float32, rows, cols int, tag string) string {
		wt := make([]float32, rows*cols) // cols×rows (transposed)
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
	var y string
	switch s.Kind {
	case HeadLinear:
		y = linear(x, h.W1.Data, h.B1.Data, s.Out, s.In, "linear")
	case HeadMLP:
		hid := linear(x, h.W1.Data, h.B1.Data, s.Hidden, s.In, "fc1")
		// GELU(h) = 0.5·h·(1 + erf(h/√2)).
		c := func(tag string, v float32) string {
			n := name(tag)
			m.AddInitializerFloat(n, nil, []float32{v})
			return n
		}
		div := name("gelu_div")
		m.AddNode("Div", []string{hid, c("sqrt2", float32(math.Sqrt2))}, []string{div})
		erf := name("gelu_erf")
		m.AddNode("Erf", []string{div}, []string{erf})
		plus := name("gelu_plus1")
		m.AddNode("Add", []string{erf, c("one", 1)}, []string{plus})
		mul := name("gelu_mul")
		m.AddNode("Mul", []string{hid, plus}, []string{mul})
		act := name("gelu")
		m.AddNode("Mul", []string{mul, c("half", 0.5)}, []string{act})
		y = linear(act, h.W2.Data, h.B2.Data, s.Out, s.Hidden, "fc2")
		if s.Residual() {
			res := name("residual")
			m.AddNode("Add", []string{y, x}, []string{res})
			y = res
		}
	}
	if s.Normalize {
		y = appendL2(m, y, prefix)
	}
	return y
}

func appendL2(m *graph.Model, x, prefix string) string {
	out := m.UniqueName(prefix + "l2")
	m.AddNode("LpNormalization", []string{x}, []string{out}, graph.AttrInt("axis", -1), graph.AttrInt("p", 2))
	return out
}

// HeadModel returns head.onnx for h: input "input" float32 [batch, In],
// output "embedding" float32 [batch, Out] (L2-normalized when the head
// normalizes).
func HeadModel(h *Head) *graph.Model {
	m := graph.New("embfit_head", graph.DefaultOpset)
	m.AddInput(HeadInputName, graph.Float, graph.Sym("batch"), graph.Fixed(int64(h.Settings.In)))
	y := appendHead(m, HeadInputName, h, "head_")
	m.AddNode("Identity", []string{y}, []string{EmbeddingName})
	m.AddOutput(EmbeddingName, graph.Float, graph.Sym("batch"), graph.Fixed(int64(h.Settings.Out)))
	return m
}

// Pooling modes understood by MergedModel (the same names as the
// encoder's --pooling).
const (
	PoolMean = "mean" // attention-mask-weighted mean over tokens
	PoolCLS  = "cls"  // the first token
	PoolMax  = "max"  // masked maximum over tokens
	PoolNone = "none" // the output is already [batch, D]
)

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
}

// MergedModel loads the encoder model at encoderPath and appends pooling,
// the head and L2 normalization, so the result has the encoder's inputs
// and one output "embedding" float32 [batch, Out]. The encoder must not
// already use the name "embedding".
func MergedModel(encoderPath string, h *Head, s MergeSettings) (*graph.Model, error) {
	m, err := graph.Load(encoderPath)
	if err != nil {
		return nil, err
	}
	if m.Names()[EmbeddingName] {
		return nil, fmt.Errorf("%s: the encoder already has a tensor named %q", encoderPath, EmbeddingName)
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
	if s.Pooling == "" {
		s.Pooling = PoolMean
		if rank == 2 {
			s.Pooling = PoolNone
		}
	}
	if s.Mask == "" {
		s.Mask = "attention_mask"
	}
	x, err := appendPooling(m, o.Name, rank, s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", encoderPath, err)
	}
	if in := h.Settings.In; o.Dims != nil && rank >= 2 {
		if d := o.Dims[rank-1]; d.Param == "" && d.Value > 0 && int(d.Value) != in {
			return nil, fmt.Errorf("%s: output %s has width %d, the head expects %d", encoderPath, o.Name, d.Value, in)
		}
	}
	y := appendHead(m, x, h, "embfit_head_")
	if !h.Settings.Normalize {
		y = appendL2(m, y, "embfit_")
	}
	m.AddNode("Identity", []string{y}, []string{EmbeddingName})
	batch := graph.Sym("batch")
	if o.Dims != nil && rank >= 1 {
		batch = o.Dims[0]
	}
	m.SetOutputs(graph.ValueInfo{Name: EmbeddingName, Type: graph.Float, Dims: []graph.Dim{batch, graph.Fixed(int64(h.Settings.Out))}})
	return m, nil
}

// appendPooling reduces the encoder output x of the given rank to
// [batch, D], using opset-appropriate forms of ReduceSum/ReduceMax and
// Unsqueeze (axes as attributes before opset 13/18, as inputs after).
func appendPooling(m *graph.Model, x string, rank int, s MergeSettings) (string, error) {
	opset := m.Opset()
	name := func(n string) string { return m.UniqueName("embfit_pool_" + n) }
	axesConst := func(v ...int64) string {
		n := name("axes")
		m.AddInitializerInt64(n, []int64{int64(len(v))}, v)
		return n
	}
	switch s.Pooling {
	case PoolNone:
		if rank != 2 {
			return "", fmt.Errorf("pooling none needs a [batch, D] output, this one has rank %d", rank)
		}
		return x, nil
	case PoolCLS, PoolMean, PoolMax:
		if rank != 3 {
			return "", fmt.Errorf("pooling %s needs a [batch, tokens, D] output, this one has rank %d", s.Pooling, rank)
		}
	default:
		return "", fmt.Errorf("unknown pooling %q (want mean, cls, max or none)", s.Pooling)
	}
	if s.Pooling == PoolCLS {
		idx := name("cls_index")
		m.AddInitializerInt64(idx, nil, []int64{0})
		out := name("cls")
		m.AddNode("Gather", []string{x, idx}, []string{out}, graph.AttrInt("axis", 1))
		return out, nil
	}
	hasMask := false
	for _, in := range m.Inputs() {
		if in.Name == s.Mask {
			hasMask = true
		}
	}
	if !hasMask {
		return "", fmt.Errorf("pooling %s needs the mask input %q", s.Pooling, s.Mask)
	}
	maskF := name("mask_float")
	m.AddNode("Cast", []string{s.Mask}, []string{maskF}, graph.AttrInt("to", int64(onnxpb.TensorProto_FLOAT)))
	mask3 := name("mask3")
	if opset >= 13 {
		m.AddNode("Unsqueeze", []string{maskF, axesConst(2)}, []string{mask3})
	} else {
		m.AddNode("Unsqueeze", []string{maskF}, []string{mask3}, graph.AttrInts("axes", 2))
	}
	reduce := func(op, in string, keep int64) string {
		out := name(op)
		if (op == "ReduceSum" && opset >= 13) || opset >= 18 {
			m.AddNode(op, []string{in, axesConst(1)}, []string{out}, graph.AttrInt("keepdims", keep))
		} else {
			m.AddNode(op, []string{in}, []string{out}, graph.AttrInts("axes", 1), graph.AttrInt("keepdims", keep))
		}
		return out
	}
	konst := func(tag string, v float32) string {
		n := name(tag)
		m.AddInitializerFloat(n, nil, []float32{v})
		return n
	}
	if s.Pooling == PoolMean {
		masked := name("masked")
		m.AddNode("Mul", []string{x, mask3}, []string{masked})
		num := reduce("ReduceSum", masked, 0)
		den := reduce("ReduceSum", mask3, 0)
		denC := name("den")
		m.AddNode("Max", []string{den, konst("eps", 1e-9)}, []string{denC})
		out := name("mean")
		m.AddNode("Div", []string{num, denC}, []string{out})
		return out, nil
	}
	// max: padded positions get −1e9 added before the maximum.
	pen := name("pad_penalty")
	m.AddNode("Sub", []string{mask3, konst("one", 1)}, []string{pen})
	penS := name("pad_penalty_scaled")
	m.AddNode("Mul", []string{pen, konst("big", 1e9)}, []string{penS})
	shifted := name("shifted")
	m.AddNode("Add", []string{x, penS}, []string{shifted})
	return reduce("ReduceMax", shifted, 0), nil
}
