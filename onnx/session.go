package onnx

import (
	"fmt"

	ort "github.com/yalue/onnxruntime_go"
)

// Tensor is a dense row-major tensor passed to or returned by
// Session.Run. Exactly one of Float and Int64 holds the data, with
// len = product of Shape.
type Tensor struct {
	Shape []int64
	Float []float32
	Int64 []int64
}

// IOInfo describes a model input or output as ONNX Runtime reports it:
// symbolic or unknown dimensions are -1.
type IOInfo struct {
	Name  string
	Type  string  // "float32", "int64", ... (ORT's element type name)
	Shape []int64 // -1 for dynamic dimensions
}

// Session runs any ONNX model on float32 / int64 tensors, for tests and
// small jobs (exported heads, merged models). Encoders use Encoder, which
// adds batching and pooling. A Session is not safe for concurrent Run
// calls.
type Session struct {
	s        *ort.DynamicAdvancedSession
	inputs   []IOInfo
	outputs  []IOInfo
	outNames []string
}

// OpenSession opens the model file at path with intra-op threads = cores,
// computing the named outputs (all of them when none are named).
func OpenSession(path string, outputs ...string) (*Session, error) {
	if err := Init(); err != nil {
		return nil, err
	}
	in, out, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return newSession(path, nil, in, out, outputs)
}

// OpenSessionBytes is OpenSession on a serialized model held in memory.
func OpenSessionBytes(model []byte, outputs ...string) (*Session, error) {
	if err := Init(); err != nil {
		return nil, err
	}
	in, out, err := ort.GetInputOutputInfoWithONNXData(model)
	if err != nil {
		return nil, fmt.Errorf("ONNX model: %w", err)
	}
	return newSession("", model, in, out, outputs)
}

func ioInfos(in []ort.InputOutputInfo) []IOInfo {
	out := make([]IOInfo, len(in))
	for i, v := range in {
		out[i] = IOInfo{Name: v.Name, Type: elemTypeName(v.DataType), Shape: append([]int64(nil), v.Dimensions...)}
	}
	return out
}

func elemTypeName(t ort.TensorElementDataType) string {
	switch t {
	case ort.TensorElementDataTypeFloat:
		return "float32"
	case ort.TensorElementDataTypeDouble:
		return "float64"
	case ort.TensorElementDataTypeInt64:
		return "int64"
	case ort.TensorElementDataTypeInt32:
		return "int32"
	case ort.TensorElementDataTypeFloat16:
		return "float16"
	case ort.TensorElementDataTypeBool:
		return "bool"
	case ort.TensorElementDataTypeUint8:
		return "uint8"
	case ort.TensorElementDataTypeInt8:
		return "int8"
	case ort.TensorElementDataTypeString:
		return "string"
	}
	return t.String()
}

func newSession(path string, model []byte, in, out []ort.InputOutputInfo, outputs []string) (*Session, error) {
	name := path
	if name == "" {
		name = "ONNX model"
	}
	s := &Session{inputs: ioInfos(in), outputs: ioInfos(out)}
	inNames := make([]string, len(in))
	for i, v := range in {
		inNames[i] = v.Name
	}
	if len(outputs) == 0 {
		for _, v := range out {
			outputs = append(outputs, v.Name)
		}
	}
	for _, o := range outputs {
		found := false
		for _, v := range out {
			found = found || v.Name == o
		}
		if !found {
			return nil, fmt.Errorf("%s: no output named %q", name, o)
		}
	}
	s.outNames = outputs
	opts, err := newSessionOptions(0)
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	if model != nil {
		s.s, err = ort.NewDynamicAdvancedSessionWithONNXData(model, inNames, outputs, opts)
	} else {
		s.s, err = ort.NewDynamicAdvancedSession(path, inNames, outputs, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, ortError(err))
	}
	return s, nil
}

// Inputs describes the model's inputs in the order Run expects them.
func (s *Session) Inputs() []IOInfo { return s.inputs }

// Outputs describes all the model's outputs.
func (s *Session) Outputs() []IOInfo { return s.outputs }

// Run runs the model on inputs (by name; every model input must be
// given) and returns the requested outputs in the order they were named
// when the session was opened. Outputs other than float32 and int64 are
// errors.
func (s *Session) Run(inputs map[string]Tensor) ([]Tensor, error) {
	vals := make([]ort.Value, len(s.inputs))
	defer func() {
		for _, v := range vals {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	for i, in := range s.inputs {
		t, ok := inputs[in.Name]
		if !ok {
			return nil, fmt.Errorf("missing input %q", in.Name)
		}
		var err error
		switch {
		case t.Float != nil:
			vals[i], err = ort.NewTensor(ort.NewShape(t.Shape...), t.Float)
		case t.Int64 != nil:
			vals[i], err = ort.NewTensor(ort.NewShape(t.Shape...), t.Int64)
		default:
			err = fmt.Errorf("no data")
		}
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", in.Name, err)
		}
	}
	outs := make([]ort.Value, len(s.outNames))
	defer func() {
		for _, v := range outs {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	if err := s.s.Run(vals, outs); err != nil {
		return nil, ortError(err)
	}
	res := make([]Tensor, len(outs))
	for i, v := range outs {
		shape := append([]int64(nil), v.GetShape()...)
		switch t := v.(type) {
		case *ort.Tensor[float32]:
			res[i] = Tensor{Shape: shape, Float: append([]float32(nil), t.GetData()...)}
		case *ort.Tensor[int64]:
			res[i] = Tensor{Shape: shape, Int64: append([]int64(nil), t.GetData()...)}
		default:
			return nil, fmt.Errorf("output %q: unsupported type %T", s.outNames[i], v)
		}
	}
	return res, nil
}

// Close releases the session.
func (s *Session) Close() error {
	if s.s == nil {
		return nil
	}
	err := s.s.Destroy()
	s.s = nil
	return err
}
