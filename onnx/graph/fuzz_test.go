package graph

import (
	"testing"
)

// FuzzModelLoad checks that no model bytes make Unmarshal, Check, Inputs
// or Outputs panic (ONNX Runtime itself is not fuzzed here: it only ever
// sees models that passed these).
func FuzzModelLoad(f *testing.F) {
	m := New("seed", 17)
	m.AddInput("x", Float, Sym("batch"), Fixed(4))
	m.AddInitializerFloat("w", []int64{4, 2}, make([]float32, 8))
	m.AddNode("MatMul", []string{"x", "w"}, []string{"y"})
	m.AddOutput("y", Float, Sym("batch"), Fixed(2))
	b, err := m.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte{0x08, 0x08, 0x3a, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Unmarshal(data)
		if err != nil {
			return
		}
		m.Check()
		m.Inputs()
		m.Outputs()
		m.Opset()
		m.Names()
	})
}
