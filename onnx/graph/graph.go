// Package graph builds, loads, edits and writes ONNX models from Go.
//
// A Model wraps an onnxpb.ModelProto. Build one from scratch with New, or
// read an existing file with Load (or bytes with Unmarshal), then add
// inputs, outputs, initializers (weights) and nodes, and write it with Save
// (atomic) or Marshal. The builder checks nothing about operator semantics:
// ONNX Runtime does that when it opens the model; Check catches dangling
// names early.
//
// Typical head export:
//
//	m := graph.New("head", graph.DefaultOpset)
//	m.AddInput("embedding", graph.Float, graph.Sym("batch"), graph.Fixed(384))
//	m.AddInitializerFloat("W", []int64{384, 256}, w)
//	m.AddNode("MatMul", []string{"embedding", "W"}, []string{"out"})
//	m.AddOutput("out", graph.Float, graph.Sym("batch"), graph.Fixed(256))
//	err := m.Save("head.onnx")
//
// Appending to a user's encoder (merged.onnx): Load it, pick the output
// to extend (Outputs), create fresh names with UniqueName so nothing clashes
// with the encoder's own names, AddNode/AddInitializer*, then SetOutputs to
// replace the model's outputs. Bump the default-domain opset with SetOpset
// when an appended operator needs a newer one.
package graph

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/embfit/embfit/internal/atomicfile"
	"github.com/embfit/embfit/onnx/onnxpb"
)

// DefaultOpset is the default-domain ("ai.onnx") opset version New uses
// when given 0. ONNX Runtime 1.30 supports it fully.
const DefaultOpset = 17

// IRVersion is the ONNX IR version written by New (IR 8 pairs with opsets
// up to 18).
const IRVersion = 8

// DType is an ONNX tensor element type.
type DType = onnxpb.TensorProto_DataType

// Element types used by embfit.
const (
	Float  DType = onnxpb.TensorProto_FLOAT
	Double DType = onnxpb.TensorProto_DOUBLE
	Int32  DType = onnxpb.TensorProto_INT32
	Int64  DType = onnxpb.TensorProto_INT64
	Bool   DType = onnxpb.TensorProto_BOOL
)

// Dim is one dimension of a tensor shape: a fixed size (Value ≥ 0, Param
// empty), a symbolic one (Param non-empty, e.g. "batch") or unknown (Value
// -1, Param empty).
type Dim struct {
	Value int64
	Param string
}

// Fixed returns a dimension of size n.
func Fixed(n int64) Dim { return Dim{Value: n} }

// Sym returns a symbolic dimension named name (e.g. "batch", "sequence").
func Sym(name string) Dim { return Dim{Param: name} }

// String formats d as its size, its name, or "?" when unknown.
func (d Dim) String() string {
	switch {
	case d.Param != "":
		return d.Param
	case d.Value < 0:
		return "?"
	}
	return strconv.FormatInt(d.Value, 10)
}

// ValueInfo describes a graph input or output tensor. Dims is nil when the
// model records no shape (rank unknown).
type ValueInfo struct {
	Name string
	Type DType
	Dims []Dim
}

// String formats v as "name float32[batch,384]".
func (v ValueInfo) String() string {
	s := v.Name + " " + TypeName(v.Type)
	if v.Dims == nil {
		return s + "[?]"
	}
	s += "["
	for i, d := range v.Dims {
		if i > 0 {
			s += ","
		}
		s += d.String()
	}
	return s + "]"
}

// TypeName returns the numpy-style name of t ("float32", "int64", ...).
func TypeName(t DType) string {
	switch t {
	case onnxpb.TensorProto_FLOAT:
		return "float32"
	case onnxpb.TensorProto_DOUBLE:
		return "float64"
	case onnxpb.TensorProto_FLOAT16:
		return "float16"
	case onnxpb.TensorProto_BFLOAT16:
		return "bfloat16"
	case onnxpb.TensorProto_INT8:
		return "int8"
	case onnxpb.TensorProto_UINT8:
		return "uint8"
	case onnxpb.TensorProto_INT16:
		return "int16"
	case onnxpb.TensorProto_INT32:
		return "int32"
	case onnxpb.TensorProto_INT64:
		return "int64"
	case onnxpb.TensorProto_BOOL:
		return "bool"
	case onnxpb.TensorProto_STRING:
		return "string"
	}
	return t.String()
}

// Model is an ONNX model being built or edited. The zero value is not
// usable; use New, Load or Unmarshal.
type Model struct {
	pb *onnxpb.ModelProto
}

// New returns an empty model whose graph is called name, importing the
// default ONNX domain at opset (DefaultOpset when 0).
func New(name string, opset int64) *Model {
	if opset == 0 {
		opset = DefaultOpset
	}
	return &Model{pb: &onnxpb.ModelProto{
		IrVersion:       IRVersion,
		ProducerName:    "embfit",
		ProducerVersion: "1",
		OpsetImport:     []*onnxpb.OperatorSetIdProto{{Domain: "", Version: opset}},
		Graph:           &onnxpb.GraphProto{Name: name},
	}}
}

// Load reads an ONNX model file. Tensors stored as external data keep
// their references (relative to the original file's directory).
func Load(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Unmarshal parses a serialized ModelProto.
func Unmarshal(b []byte) (*Model, error) {
	pb := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, pb); err != nil {
		return nil, fmt.Errorf("not an ONNX model: %w", err)
	}
	if pb.Graph == nil {
		return nil, fmt.Errorf("not an ONNX model: no graph")
	}
	return &Model{pb: pb}, nil
}

// Proto returns the underlying ModelProto for edits the builder does not
// cover. Changes to it change the Model.
func (m *Model) Proto() *onnxpb.ModelProto { return m.pb }

// Graph returns the model's main graph.
func (m *Model) Graph() *onnxpb.GraphProto { return m.pb.Graph }

// Opset returns the imported version of the default ONNX domain, or 0 if
// the model does not import it.
func (m *Model) Opset() int64 {
	for _, o := range m.pb.OpsetImport {
		if o.Domain == "" || o.Domain == "ai.onnx" {
			return o.Version
		}
	}
	return 0
}

// SetOpset sets the imported version of domain ("" is the default ONNX
// domain), adding the import if missing. When raising the default opset
// of an existing model, raise IR version too (SetOpset does: IR ≥ 8).
func (m *Model) SetOpset(domain string, version int64) {
	if m.pb.IrVersion < IRVersion {
		m.pb.IrVersion = IRVersion
	}
	for _, o := range m.pb.OpsetImport {
		if o.Domain == domain || (domain == "" && o.Domain == "ai.onnx") {
			o.Version = version
			return
		}
	}
	m.pb.OpsetImport = append(m.pb.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: domain, Version: version})
}

func valueInfo(name string, t DType, dims []Dim) *onnxpb.ValueInfoProto {
	tt := &onnxpb.TypeProto_Tensor{ElemType: int32(t)}
	if dims != nil {
		sh := &onnxpb.TensorShapeProto{}
		for _, d := range dims {
			dim := &onnxpb.TensorShapeProto_Dimension{}
			switch {
			case d.Param != "":
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d.Param}
			case d.Value >= 0:
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d.Value}
			}
			sh.Dim = append(sh.Dim, dim)
		}
		tt.Shape = sh
	}
	return &onnxpb.ValueInfoProto{
		Name: name,
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: tt}},
	}
}

func fromValueInfo(v *onnxpb.ValueInfoProto) ValueInfo {
	out := ValueInfo{Name: v.GetName()}
	tt := v.GetType().GetTensorType()
	if tt == nil {
		return out
	}
	out.Type = DType(tt.GetElemType())
	if tt.Shape == nil {
		return out
	}
	out.Dims = make([]Dim, 0, len(tt.Shape.Dim))
	for _, d := range tt.Shape.Dim {
		switch v := d.Value.(type) {
		case *onnxpb.TensorShapeProto_Dimension_DimValue:
			out.Dims = append(out.Dims, Fixed(v.DimValue))
		case *onnxpb.TensorShapeProto_Dimension_DimParam:
			out.Dims = append(out.Dims, Sym(v.DimParam))
		default:
			out.Dims = append(out.Dims, Dim{Value: -1})
		}
	}
	return out
}

// AddInput declares a graph input tensor.
func (m *Model) AddInput(name string, t DType, dims ...Dim) {
	m.pb.Graph.Input = append(m.pb.Graph.Input, valueInfo(name, t, dims))
}

// AddOutput declares a graph output tensor; some node (or an input or
// initializer) must produce name.
func (m *Model) AddOutput(name string, t DType, dims ...Dim) {
	m.pb.Graph.Output = append(m.pb.Graph.Output, valueInfo(name, t, dims))
}

// SetOutputs replaces the graph's outputs with outs (used after appending
// nodes to an existing model).
func (m *Model) SetOutputs(outs ...ValueInfo) {
	m.pb.Graph.Output = m.pb.Graph.Output[:0]
	for _, o := range outs {
		m.pb.Graph.Output = append(m.pb.Graph.Output, valueInfo(o.Name, o.Type, o.Dims))
	}
}

// Inputs lists the graph's real inputs, skipping those that are also
// initializers (older exports list weights as inputs too).
func (m *Model) Inputs() []ValueInfo {
	inits := map[string]bool{}
	for _, t := range m.pb.Graph.Initializer {
		inits[t.Name] = true
	}
	var out []ValueInfo
	for _, v := range m.pb.Graph.Input {
		if !inits[v.Name] {
			out = append(out, fromValueInfo(v))
		}
	}
	return out
}

// Outputs lists the graph's outputs.
func (m *Model) Outputs() []ValueInfo {
	out := make([]ValueInfo, 0, len(m.pb.Graph.Output))
	for _, v := range m.pb.Graph.Output {
		out = append(out, fromValueInfo(v))
	}
	return out
}

// AddInitializerFloat adds a float32 constant tensor of shape dims
// (row-major data, len(data) = product of dims) stored as raw
// little-endian bytes.
func (m *Model) AddInitializerFloat(name string, dims []int64, data []float32) {
	checkLen(name, dims, len(data))
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	m.pb.Graph.Initializer = append(m.pb.Graph.Initializer, &onnxpb.TensorProto{
		Name: name, Dims: append([]int64(nil), dims...), DataType: int32(Float), RawData: raw,
	})
}

// AddInitializerInt64 adds an int64 constant tensor of shape dims (a
// scalar when dims is empty).
func (m *Model) AddInitializerInt64(name string, dims []int64, data []int64) {
	checkLen(name, dims, len(data))
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	m.pb.Graph.Initializer = append(m.pb.Graph.Initializer, &onnxpb.TensorProto{
		Name: name, Dims: append([]int64(nil), dims...), DataType: int32(Int64), RawData: raw,
	})
}

func checkLen(name string, dims []int64, n int) {
	p := int64(1)
	for _, d := range dims {
		p *= d
	}
	if p != int64(n) {
		panic(fmt.Sprintf("graph: initializer %q: shape %v holds %d values, got %d", name, dims, p, n))
	}
}

// Attr is a node attribute; build one with AttrInt, AttrInts, AttrFloat,
// AttrFloats, AttrString or AttrTensorFloat.
type Attr = *onnxpb.AttributeProto

// AttrInt returns an INT attribute.
func AttrInt(name string, v int64) Attr {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INT, I: v}
}

// AttrInts returns an INTS attribute.
func AttrInts(name string, v ...int64) Attr {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INTS, Ints: v}
}

// AttrFloat returns a FLOAT attribute.
func AttrFloat(name string, v float32) Attr {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_FLOAT, F: v}
}

// AttrFloats returns a FLOATS attribute.
func AttrFloats(name string, v ...float32) Attr {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_FLOATS, Floats: v}
}

// AttrString returns a STRING attribute.
func AttrString(name, v string) Attr {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_STRING, S: []byte(v)}
}

// AttrTensorFloat returns a TENSOR attribute holding a float32 tensor of
// shape dims (for Constant nodes: AttrTensorFloat("value", ...)).
func AttrTensorFloat(name string, dims []int64, data []float32) Attr {
	checkLen(name, dims, len(data))
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_TENSOR, T: &onnxpb.TensorProto{
		Dims: append([]int64(nil), dims...), DataType: int32(Float), FloatData: append([]float32(nil), data...),
	}}
}

// AddNode appends a node of the default domain running op on inputs
// (an empty string skips an optional input) and producing outputs. The
// node is named after its first output. Nodes must be added in a
// topological order (producers first). It returns the node for further
// edits (e.g. setting Domain).
func (m *Model) AddNode(op string, inputs, outputs []string, attrs ...Attr) *onnxpb.NodeProto {
	n := &onnxpb.NodeProto{
		OpType:    op,
		Input:     append([]string(nil), inputs...),
		Output:    append([]string(nil), outputs...),
		Attribute: attrs,
	}
	if len(outputs) > 0 {
		n.Name = op + "_" + outputs[0]
	}
	m.pb.Graph.Node = append(m.pb.Graph.Node, n)
	return n
}

// Names returns every name used in the model's graph and its subgraphs:
// inputs, outputs, initializers, value infos, node inputs, outputs and node
// names.
func (m *Model) Names() map[string]bool {
	names := map[string]bool{}
	collectNames(m.pb.Graph, names)
	return names
}

func collectNames(g *onnxpb.GraphProto, names map[string]bool) {
	if g == nil {
		return
	}
	for _, v := range g.Input {
		names[v.Name] = true
	}
	for _, v := range g.Output {
		names[v.Name] = true
	}
	for _, v := range g.ValueInfo {
		names[v.Name] = true
	}
	for _, t := range g.Initializer {
		names[t.Name] = true
	}
	for _, n := range g.Node {
		names[n.Name] = true
		for _, s := range n.Input {
			names[s] = true
		}
		for _, s := range n.Output {
			names[s] = true
		}
		for _, a := range n.Attribute {
			collectNames(a.G, names)
			for _, sg := range a.Graphs {
				collectNames(sg, names)
			}
		}
	}
}

// UniqueName returns prefix, or prefix_1, prefix_2, ..., the first that no
// part of the model uses yet. Call it once per new name, before adding the
// node or initializer that uses it (the name is not reserved).
func (m *Model) UniqueName(prefix string) string {
	names := m.Names()
	if !names[prefix] {
		return prefix
	}
	for i := 1; ; i++ {
		s := prefix + "_" + strconv.Itoa(i)
		if !names[s] {
			return s
		}
	}
}

// Check verifies the main graph's wiring: every node input (other than
// "") is a graph input, an initializer or the output of an earlier node;
// no name is produced twice; every graph output is produced. It does not
// check operator semantics or types.
func (m *Model) Check() error {
	g := m.pb.Graph
	defined := map[string]bool{}
	for _, v := range g.Input {
		defined[v.Name] = true
	}
	for _, t := range g.Initializer {
		defined[t.Name] = true
	}
	for i, n := range g.Node {
		for _, in := range n.Input {
			if in != "" && !defined[in] {
				return fmt.Errorf("node %d (%s %q): input %q is not defined before it", i, n.OpType, n.Name, in)
			}
		}
		for _, out := range n.Output {
			if out == "" {
				continue
			}
			if defined[out] {
				return fmt.Errorf("node %d (%s %q): output %q is already defined", i, n.OpType, n.Name, out)
			}
			defined[out] = true
		}
	}
	for _, o := range g.Output {
		if !defined[o.Name] {
			return fmt.Errorf("graph output %q is not produced by any node", o.Name)
		}
	}
	return nil
}

// Marshal checks the model's wiring and serializes it.
func (m *Model) Marshal() ([]byte, error) {
	if err := m.Check(); err != nil {
		return nil, err
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m.pb)
	if err != nil {
		return nil, fmt.Errorf("marshal ONNX model: %w", err)
	}
	return b, nil
}

// Save writes the model to path atomically (temporary file, then rename).
func (m *Model) Save(path string) error {
	b, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return atomicfile.WriteFile(path, b)
}
