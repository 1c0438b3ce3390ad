package graph_test

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/graph"
)

// linearModel builds y = x·W + b with x [batch,3] and W [3,2].
func linearModel(t *testing.T) (*graph.Model, []float32, []float32) {
	t.Helper()
	w := []float32{1, 2, 3, 4, 5, 6}
	b := []float32{0.5, -1}
	m := graph.New("linear", 0)
	m.AddInput("x", graph.Float, graph.Sym("batch"), graph.Fixed(3))
	m.AddInitializerFloat("W", []int64{3, 2}, w)
	m.AddInitializerFloat("b", []int64{2}, b)
	m.AddNode("MatMul", []string{"x", "W"}, []string{"xw"})
	m.AddNode("Add", []string{"xw", "b"}, []string{"y"})
	m.AddOutput("y", graph.Float, graph.Sym("batch"), graph.Fixed(2))
	return m, w, b
}

func TestBuildAndRun(t *testing.T) {
	m, w, b := linearModel(t)
	path := filepath.Join(t.TempDir(), "linear.onnx")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	s, err := onnx.OpenSession(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	x := []float32{1, 0, -1, 0.5, 0.25, 2}
	out, err := s.Run(map[string]onnx.Tensor{"x": {Shape: []int64{2, 3}, Float: x}})
	if err != nil {
		t.Fatal(err)
	}
	y := out[0]
	if len(y.Shape) != 2 || y.Shape[0] != 2 || y.Shape[1] != 2 {
		t.Fatalf("shape %v", y.Shape)
	}
	for i := 0; i < 2; i++ {
		for j := 0; j < 2; j++ {
			want := float64(b[j])
			for k := 0; k < 3; k++ {
				want += float64(x[i*3+k]) * float64(w[k*2+j])
			}
			if got := y.Float[i*2+j]; math.Abs(float64(got)-want) > 1e-6 {
				t.Errorf("y[%d,%d] = %v, want %v", i, j, got, want)
			}
		}
	}
}

// TestGatherMaskL2 builds the shapes helpers B and E need: a Gather over a
// token table masked by attention_mask (int64 → float Cast, Unsqueeze, Mul),
// and an L2 normalization (ReduceL2 with keepdims, Div). Checked against Go.
func TestGatherMaskL2(t *testing.T) {
	const vocab, dim = 5, 3
	table := make([]float32, vocab*dim)
	for i := range table {
		table[i] = float32(i%7) - 2.5
	}
	m := graph.New("tok", 0)
	m.AddInput("input_ids", graph.Int64, graph.Sym("batch"), graph.Sym("sequence"))
	m.AddInput("attention_mask", graph.Int64, graph.Sym("batch"), graph.Sym("sequence"))
	m.AddInitializerFloat("table", []int64{vocab, dim}, table)
	m.AddInitializerInt64("axes", []int64{1}, []int64{-1})
	m.AddNode("Gather", []string{"table", "input_ids"}, []string{"vecs"}, graph.AttrInt("axis", 0))
	m.AddNode("Cast", []string{"attention_mask"}, []string{"maskf"}, graph.AttrInt("to", int64(graph.Float)))
	m.AddNode("Unsqueeze", []string{"maskf", "axes"}, []string{"mask3"})
	m.AddNode("Mul", []string{"vecs", "mask3"}, []string{"last_hidden_state"})
	m.AddNode("ReduceL2", []string{"last_hidden_state"}, []string{"norm"}, graph.AttrInts("axes", -1), graph.AttrInt("keepdims", 1))
	m.AddNode("Max", []string{"norm", "eps"}, []string{"normc"})
	m.AddInitializerFloat("eps", nil, []float32{1e-12})
	m.AddNode("Div", []string{"last_hidden_state", "normc"}, []string{"unit"})
	m.AddOutput("last_hidden_state", graph.Float, graph.Sym("batch"), graph.Sym("sequence"), graph.Fixed(dim))
	m.AddOutput("unit", graph.Float, graph.Sym("batch"), graph.Sym("sequence"), graph.Fixed(dim))
	data, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	s, err := onnx.OpenSessionBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ids := []int64{1, 4, 0, 2, 3, 3}
	mask := []int64{1, 1, 0, 1, 1, 1}
	out, err := s.Run(map[string]onnx.Tensor{
		"input_ids":      {Shape: []int64{2, 3}, Int64: ids},
		"attention_mask": {Shape: []int64{2, 3}, Int64: mask},
	})
	if err != nil {
		t.Fatal(err)
	}
	for p := range ids {
		var norm float64
		for d := 0; d < dim; d++ {
			v := float64(table[ids[p]*dim+int64(d)]) * float64(mask[p])
			norm += v * v
		}
		norm = math.Max(math.Sqrt(norm), 1e-12)
		for d := 0; d < dim; d++ {
			want := float64(table[ids[p]*dim+int64(d)]) * float64(mask[p])
			if got := out[0].Float[p*dim+d]; float64(got) != want {
				t.Errorf("hidden[%d,%d] = %v, want %v", p, d, got, want)
			}
			if got := out[1].Float[p*dim+d]; math.Abs(float64(got)-want/norm) > 1e-6 {
				t.Errorf("unit[%d,%d] = %v, want %v", p, d, got, want/norm)
			}
		}
	}
}

// TestLoadAppendSave appends a node to a saved model, as merged.onnx is
// built: fresh names from UniqueName, outputs replaced.
func TestLoadAppendSave(t *testing.T) {
	m, _, _ := linearModel(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "enc.onnx")
	if err := m.Save(p); err != nil {
		t.Fatal(err)
	}
	enc, err := graph.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if enc.Opset() != graph.DefaultOpset {
		t.Errorf("opset %d", enc.Opset())
	}
	ins, outs := enc.Inputs(), enc.Outputs()
	if len(ins) != 1 || ins[0].String() != "x float32[batch,3]" || len(outs) != 1 || outs[0].String() != "y float32[batch,2]" {
		t.Fatalf("inputs %v outputs %v", ins, outs)
	}
	// "W" is taken: the new weight must get another name.
	wName := enc.UniqueName("W")
	if wName != "W_1" {
		t.Fatalf("UniqueName(W) = %q", wName)
	}
	enc.AddInitializerFloat(wName, []int64{2, 1}, []float32{1, 1})
	z := enc.UniqueName("y")
	enc.AddNode("MatMul", []string{outs[0].Name, wName}, []string{z})
	enc.SetOutputs(graph.ValueInfo{Name: z, Type: graph.Float, Dims: []graph.Dim{graph.Sym("batch"), graph.Fixed(1)}})
	enc.SetOpset("", 18)
	merged := filepath.Join(dir, "merged.onnx")
	if err := enc.Save(merged); err != nil {
		t.Fatal(err)
	}
	s, err := onnx.OpenSession(merged)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Outputs()[0].Name != "y_1" {
		t.Fatalf("outputs %v", s.Outputs())
	}
	out, err := s.Run(map[string]onnx.Tensor{"x": {Shape: []int64{1, 3}, Float: []float32{1, 1, 1}}})
	if err != nil {
		t.Fatal(err)
	}
	// x·W = [9, 12], + b = [9.5, 11], summed = 20.5
	if got := out[0].Float[0]; got != 20.5 {
		t.Fatalf("merged output %v, want 20.5", got)
	}
}

func TestCheckErrors(t *testing.T) {
	tests := []struct {
		name  string
		build func(m *graph.Model)
		want  string
	}{
		{"undefined input", func(m *graph.Model) {
			m.AddNode("Relu", []string{"nope"}, []string{"y"})
			m.AddOutput("y", graph.Float)
		}, `input "nope" is not defined`},
		{"output twice", func(m *graph.Model) {
			m.AddNode("Relu", []string{"x"}, []string{"y"})
			m.AddNode("Relu", []string{"x"}, []string{"y"})
			m.AddOutput("y", graph.Float)
		}, `output "y" is already defined`},
		{"dangling output", func(m *graph.Model) {
			m.AddOutput("z", graph.Float)
		}, `graph output "z" is not produced`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := graph.New("g", 0)
			m.AddInput("x", graph.Float, graph.Fixed(1))
			tc.build(m)
			p := filepath.Join(t.TempDir(), "bad.onnx")
			err := m.Save(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if _, serr := os.Stat(p); !os.IsNotExist(serr) {
				t.Fatalf("%s exists after a failed Save", p)
			}
		})
	}
}

func TestLoadNotONNX(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.onnx")
	os.WriteFile(p, []byte("this is not protobuf \xff\xff\xff"), 0o644)
	if _, err := graph.Load(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v", err)
	}
}
