// Package quantize rewrites ONNX models with dynamic int8 quantization:
// the float32 weights of MatMul and Gemm nodes become int8 with one scale
// per output channel (column), and activations are quantized to uint8 at
// run time, per tensor, by the operators themselves. Everything else
// (embeddings, LayerNorm, attention's activation-by-activation MatMuls,
// Softmax) stays float32.
//
// Two operator sets are written (Format):
//
//   - FormatMatMulInteger: standard ONNX operators only, loadable by any
//     ONNX Runtime and any opset ≥ 11 runtime: DynamicQuantizeLinear →
//     MatMulInteger (uint8 × int8 → int32) → Cast → Mul by the activation
//     scale times the weight's per-column scales.
//   - FormatDynamicQuantizeMatMul: ONNX Runtime's com.microsoft
//     DynamicQuantizeMatMul, one node per weight, with the bias of a
//     following Add (or of a Gemm) folded in.
//
// ONNX Runtime fuses the first into the second when it optimizes the
// graph, so both run alike there; the first is the portable default.
package quantize

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/embfit/embfit/onnx/graph"
	"github.com/embfit/embfit/onnx/onnxpb"
)

// Format selects the operators a quantized model uses.
type Format string

// Formats.
const (
	// FormatMatMulInteger writes DynamicQuantizeLinear + MatMulInteger +
	// Cast + Mul (standard ONNX, default-domain opset ≥ 11).
	FormatMatMulInteger Format = "matmul-integer"
	// FormatDynamicQuantizeMatMul writes com.microsoft
	// DynamicQuantizeMatMul (ONNX Runtime only).
	FormatDynamicQuantizeMatMul Format = "dynamic-quantize-matmul"
)

// Formats lists the formats in the order they are documented.
var Formats = []Format{FormatMatMulInteger, FormatDynamicQuantizeMatMul}

// Options configures Dynamic. The zero value quantizes every eligible
// weight with FormatMatMulInteger.
type Options struct {
	// Format; default FormatMatMulInteger.
	Format Format
	// MinElements leaves weights with fewer elements in float32 (0: none
	// is left; quantizing a tiny weight saves nothing but costs accuracy).
	MinElements int
}

// Report says what Dynamic changed.
type Report struct {
	Quantized int // MatMul and Gemm nodes rewritten
	// Skipped lists the MatMul and Gemm nodes left in float32, one
	// "node: reason" each.
	Skipped []string
	// FloatBytes and Int8Bytes are the bytes of the weights replaced and
	// of their int8 replacements (scales and zero points included).
	FloatBytes, Int8Bytes int64
}

// ErrNothingToQuantize is returned by Dynamic when the model has no
// MatMul or Gemm with a float32 weight (already quantized, or a lookup
// table like the GloVe encoder).
var ErrNothingToQuantize = errors.New("no MatMul or Gemm node with a float32 weight to quantize")

// Dynamic quantizes m's MatMul and Gemm weights in place. A node is
// rewritten when its second input is a float32 rank-2 initializer and its
// first is not an initializer; for Gemm, transA must be 0 (alpha, beta,
// transB and the bias C are honoured). Weights shared by several nodes
// are quantized once; float weights no node uses any more are removed.
// The result computes the same function up to int8 rounding: weights are
// symmetric per column (scale = max|w|/127, zero point 0), activations
// asymmetric uint8 per tensor.
func Dynamic(m *graph.Model, o Options) (Report, error) {
	if o.Format == "" {
		o.Format = FormatMatMulInteger
	}
	if !slices.Contains(Formats, o.Format) {
		return Report{}, fmt.Errorf("quantization format %q: want %s or %s", o.Format, FormatMatMulInteger, FormatDynamicQuantizeMatMul)
	}
	if o.Format == FormatMatMulInteger && m.Opset() < 11 {
		return Report{}, fmt.Errorf("model opset %d: %s needs opset 11 or later (use %s)", m.Opset(), o.Format, FormatDynamicQuantizeMatMul)
	}
	q := &quantizer{m: m, g: m.Graph(), o: o, inits: map[string]*onnxpb.TensorProto{}, weights: map[string]qweight{}, actQ: map[string][3]string{}, taken: m.Names()}
	for _, t := range q.g.Initializer {
		q.inits[t.Name] = t
	}
	q.consumers = map[string]int{}
	for _, n := range q.g.Node {
		for _, in := range n.Input {
			q.consumers[in]++
		}
	}
	q.adds, q.folded = map[string]*onnxpb.NodeProto{}, map[*onnxpb.NodeProto]bool{}
	for _, n := range q.g.Node {
		if n.OpType == "Add" && (n.Domain == "" || n.Domain == "ai.onnx") && len(n.Input) == 2 {
			for _, in := range n.Input {
				q.adds[in] = n
			}
		}
	}
	for _, o := range q.g.Output {
		q.consumers[o.Name]++ // a graph output is never folded away
	}
	var rep Report
	var nodes []*onnxpb.NodeProto
	for _, n := range q.g.Node {
		if q.folded[n] {
			continue
		}
		if n.OpType != "MatMul" && n.OpType != "Gemm" || (n.Domain != "" && n.Domain != "ai.onnx") {
			nodes = append(nodes, n)
			continue
		}
		repl, reason, err := q.rewrite(n)
		if err != nil {
			return Report{}, fmt.Errorf("node %q (%s): %w", n.Name, n.OpType, err)
		}
		if reason != "" {
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s: %s", nodeName(n), reason))
			nodes = append(nodes, n)
			continue
		}
		rep.Quantized++
		nodes = append(nodes, repl...)
	}
	if rep.Quantized == 0 {
		return rep, ErrNothingToQuantize
	}
	q.g.Node = nodes
	for _, w := range q.weights {
		rep.FloatBytes += w.floatBytes
		rep.Int8Bytes += w.int8Bytes
	}
	q.g.Initializer = append(q.g.Initializer, q.added...)
	q.removeUnused()
	if o.Format == FormatDynamicQuantizeMatMul {
		m.SetOpset("com.microsoft", 1)
	}
	return rep, m.Check()
}

func nodeName(n *onnxpb.NodeProto) string {
	if n.Name != "" {
		return n.Name
	}
	return n.OpType + " → " + n.Output[0]
}

type quantizer struct {
	m         *graph.Model
	g         *onnxpb.GraphProto
	o         Options
	inits     map[string]*onnxpb.TensorProto
	consumers map[string]int
	adds      map[string]*onnxpb.NodeProto // a tensor → an Add reading it
	folded    map[*onnxpb.NodeProto]bool   // Adds folded into a quantized node
	weights   map[string]qweight           // by float weight name and layout
	actQ      map[string][3]string         // activation → its DynamicQuantizeLinear outputs
	added     []*onnxpb.TensorProto
	taken     map[string]bool // names in use
}

// qweight names a quantized weight's initializers.
type qweight struct {
	w, scale, zero string
	scales         []float32 // per column, before any alpha
	floatBytes     int64
	int8Bytes      int64
}

// rewrite returns the nodes replacing n, or a reason to leave it alone.
func (q *quantizer) rewrite(n *onnxpb.NodeProto) ([]*onnxpb.NodeProto, string, error) {
	if len(n.Input) < 2 || len(n.Output) != 1 {
		return nil, "unexpected inputs or outputs", nil
	}
	a, b := n.Input[0], n.Input[1]
	if _, ok := q.inits[a]; ok {
		return nil, "first input is a constant", nil
	}
	bt, ok := q.inits[b]
	if !ok {
		return nil, "weight is not an initializer", nil
	}
	if bt.DataType != int32(graph.Float) {
		return nil, "weight is not float32", nil
	}
	if len(bt.Dims) != 2 {
		return nil, fmt.Sprintf("weight has rank %d, not 2", len(bt.Dims)), nil
	}
	if bt.Dims[0] <= 0 || bt.Dims[1] <= 0 || bt.Dims[0] > math.MaxInt32 || bt.Dims[1] > math.MaxInt32 {
		return nil, fmt.Sprintf("weight has shape %v", bt.Dims), nil
	}
	if int(bt.Dims[0]*bt.Dims[1]) < q.o.MinElements {
		return nil, fmt.Sprintf("weight has %d elements, below the minimum %d", bt.Dims[0]*bt.Dims[1], q.o.MinElements), nil
	}
	alpha, beta, transB := float32(1), float32(1), false
	var bias string
	if n.OpType == "Gemm" {
		for _, at := range n.Attribute {
			switch at.Name {
			case "transA":
				if at.I != 0 {
					return nil, "Gemm with transA", nil
				}
			case "transB":
				transB = at.I != 0
			case "alpha":
				alpha = at.F
			case "beta":
				beta = at.F
			}
		}
		if len(n.Input) > 2 && n.Input[2] != "" {
			bias = n.Input[2]
			if beta != 1 {
				ct, ok := q.inits[bias]
				if !ok {
					return nil, "Gemm with beta ≠ 1 and a computed C", nil
				}
				vals, err := floats(ct)
				if err != nil {
					return nil, "", fmt.Errorf("C %q: %w", bias, err)
				}
				for i := range vals {
					vals[i] *= beta
				}
				bias = q.addFloat(q.unique(bias+"_scaled"), ct.Dims, vals)
			}
		}
	}
	w, err := q.weight(bt, transB)
	if err != nil {
		return nil, "", fmt.Errorf("weight %q: %w", b, err)
	}
	scale := w.scale
	if alpha != 1 {
		s := make([]float32, len(w.scales))
		for i, v := range w.scales {
			s[i] = v * alpha
		}
		scale = q.addFloat(q.unique(w.scale+"_alpha"), []int64{int64(len(s))}, s)
	}
	out := n.Output[0]
	if n.OpType == "MatMul" && q.o.Format == FormatDynamicQuantizeMatMul {
		// MatMul then Add of a [N] constant: the bias goes into the node.
		if add := q.adds[out]; add != nil && q.consumers[out] == 1 {
			other := add.Input[0]
			if other == out {
				other = add.Input[1]
			}
			if q.isVector(other, int(bt.Dims[1])) {
				bias, out = other, add.Output[0]
				q.folded[add] = true
			}
		}
	}
	base := q.unique(out + "_quant")
	var nodes []*onnxpb.NodeProto
	mm := out
	if bias != "" {
		mm = base + "_matmul"
	}
	switch q.o.Format {
	case FormatDynamicQuantizeMatMul:
		ins := []string{a, w.w, scale, w.zero}
		if bias != "" && q.isVector(bias, len(w.scales)) {
			ins = append(ins, bias)
			mm, bias = out, ""
		}
		nodes = append(nodes, &onnxpb.NodeProto{Name: base, OpType: "DynamicQuantizeMatMul", Domain: "com.microsoft", Input: ins, Output: []string{mm}})
	case FormatMatMulInteger:
		aq, ok := q.actQ[a]
		if !ok {
			aq = [3]string{q.unique(a + "_quantized"), q.unique(a + "_scale"), q.unique(a + "_zero_point")}
			q.actQ[a] = aq
			nodes = append(nodes, &onnxpb.NodeProto{Name: aq[0], OpType: "DynamicQuantizeLinear", Input: []string{a}, Output: aq[:]})
		}
		nodes = append(nodes,
			&onnxpb.NodeProto{Name: base + "_int", OpType: "MatMulInteger", Input: []string{aq[0], w.w, aq[2], w.zero}, Output: []string{base + "_int32"}},
			&onnxpb.NodeProto{Name: base + "_cast", OpType: "Cast", Input: []string{base + "_int32"}, Output: []string{base + "_float"},
				Attribute: []*onnxpb.AttributeProto{graph.AttrInt("to", int64(graph.Float))}},
			&onnxpb.NodeProto{Name: base + "_scale", OpType: "Mul", Input: []string{aq[1], scale}, Output: []string{base + "_scales"}},
			&onnxpb.NodeProto{Name: base + "_rescale", OpType: "Mul", Input: []string{base + "_float", base + "_scales"}, Output: []string{mm}},
		)
	}
	if bias != "" {
		nodes = append(nodes, &onnxpb.NodeProto{Name: base + "_bias", OpType: "Add", Input: []string{mm, bias}, Output: []string{out}})
	}
	return nodes, "", nil
}

// isVector reports whether name is a float initializer of shape [n].
func (q *quantizer) isVector(name string, n int) bool {
	t, ok := q.inits[name]
	if !ok {
		for _, a := range q.added {
			if a.Name == name {
				t = a
			}
		}
	}
	return t != nil && t.DataType == int32(graph.Float) && len(t.Dims) == 1 && t.Dims[0] == int64(n)
}

// weight quantizes bt ([K,N], or [N,K] when transposed) once per layout.
func (q *quantizer) weight(bt *onnxpb.TensorProto, transposed bool) (qweight, error) {
	key := bt.Name
	if transposed {
		key += "\x00T"
	}
	if w, ok := q.weights[key]; ok {
		return w, nil
	}
	vals, err := floats(bt)
	if err != nil {
		return qweight{}, err
	}
	k, n := int(bt.Dims[0]), int(bt.Dims[1])
	if transposed { // stored [N,K]: make it [K,N]
		t := make([]float32, len(vals))
		for i := range k {
			for j := range n {
				t[j*k+i] = vals[i*n+j]
			}
		}
		vals, k, n = t, n, k
	}
	qv, scales := PerColumn(vals, k, n)
	raw := make([]byte, len(qv))
	for i, v := range qv {
		raw[i] = byte(v)
	}
	w := qweight{w: q.unique(bt.Name + "_int8"), scale: q.unique(bt.Name + "_scale"), zero: q.unique(bt.Name + "_zero_point"), scales: scales}
	q.added = append(q.added,
		&onnxpb.TensorProto{Name: w.w, Dims: []int64{int64(k), int64(n)}, DataType: int32(onnxpb.TensorProto_INT8), RawData: raw},
		&onnxpb.TensorProto{Name: w.zero, Dims: []int64{int64(n)}, DataType: int32(onnxpb.TensorProto_INT8), RawData: make([]byte, n)},
	)
	q.addFloat(w.scale, []int64{int64(n)}, scales)
	w.floatBytes = int64(4 * len(vals))
	w.int8Bytes = int64(len(qv) + 5*n)
	q.weights[key] = w
	return w, nil
}

// PerColumn quantizes w (k×n, row-major) symmetrically per column: scale
// s_j = max_i |w_ij| / 127 (1 for an all-zero column), q_ij =
// round(w_ij / s_j) in [-127, 127]. It returns q (k×n) and the n scales;
// w ≈ q·diag(s), with an error of at most s_j/2 per element.
func PerColumn(w []float32, k, n int) ([]int8, []float32) {
	if len(w) != k*n {
		panic(fmt.Sprintf("quantize: %d values for a %d×%d matrix", len(w), k, n))
	}
	scales := make([]float32, n)
	for i := range k {
		for j, v := range w[i*n : (i+1)*n] {
			scales[j] = max(scales[j], float32(math.Abs(float64(v))))
		}
	}
	for j, s := range scales {
		if s == 0 {
			scales[j] = 1
		} else {
			scales[j] = s / 127
		}
	}
	q := make([]int8, len(w))
	for i := range k {
		for j, v := range w[i*n : (i+1)*n] {
			r := math.RoundToEven(float64(v) / float64(scales[j]))
			q[i*n+j] = int8(max(-127, min(127, r)))
		}
	}
	return q, scales
}

func (q *quantizer) addFloat(name string, dims []int64, vals []float32) string {
	raw := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	q.added = append(q.added, &onnxpb.TensorProto{Name: name, Dims: append([]int64(nil), dims...), DataType: int32(graph.Float), RawData: raw})
	return name
}

// unique returns prefix, or prefix_1, prefix_2, ..., the first name
// that neither the model nor an earlier call uses, and reserves it.
func (q *quantizer) unique(prefix string) string {
	s := prefix
	for i := 1; q.taken[s]; i++ {
		s = fmt.Sprintf("%s_%d", prefix, i)
	}
	q.taken[s] = true
	return s
}

// removeUnused drops float initializers (and their graph-input entries)
// that no node of the graph or its subgraphs reads any more.
func (q *quantizer) removeUnused() {
	used := map[string]bool{}
	var walk func(g *onnxpb.GraphProto)
	walk = func(g *onnxpb.GraphProto) {
		for _, n := range g.Node {
			for _, in := range n.Input {
				used[in] = true
			}
			for _, a := range n.Attribute {
				if a.G != nil {
					walk(a.G)
				}
				for _, sg := range a.Graphs {
					walk(sg)
				}
			}
		}
	}
	walk(q.g)
	for _, o := range q.g.Output {
		used[o.Name] = true
	}
	removed := map[string]bool{}
	q.g.Initializer = slices.DeleteFunc(q.g.Initializer, func(t *onnxpb.TensorProto) bool {
		if !used[t.Name] {
			removed[t.Name] = true
			return true
		}
		return false
	})
	q.g.Input = slices.DeleteFunc(q.g.Input, func(v *onnxpb.ValueInfoProto) bool { return removed[v.Name] })
}

// floats returns a float32 tensor's values.
func floats(t *onnxpb.TensorProto) ([]float32, error) {
	if t.DataLocation == onnxpb.TensorProto_EXTERNAL {
		return nil, errors.New("stored as external data, which quantize does not read")
	}
	n := int64(1)
	for _, d := range t.Dims {
		if d < 0 || d > math.MaxInt32 {
			return nil, fmt.Errorf("shape %v", t.Dims)
		}
		n *= d
	}
	switch {
	case t.RawData != nil:
		if int64(len(t.RawData)) != 4*n {
			return nil, fmt.Errorf("%d raw bytes for %d values", len(t.RawData), n)
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.RawData[4*i:]))
		}
		return v, nil
	case int64(len(t.FloatData)) == n:
		return append([]float32(nil), t.FloatData...), nil
	}
	return nil, fmt.Errorf("%d values for shape %v", len(t.FloatData), t.Dims)
}
