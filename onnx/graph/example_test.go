package graph_test

import (
	"fmt"

	"github.com/embfit/embfit/onnx/graph"
)

// A linear head y = x·W + b for 4-d embeddings, serialized for ORT.
func Example() {
	m := graph.New("head", graph.DefaultOpset)
	m.AddInput("embedding", graph.Float, graph.Sym("batch"), graph.Fixed(4))
	m.AddInitializerFloat("W", []int64{4, 2}, make([]float32, 8))
	m.AddInitializerFloat("b", []int64{2}, []float32{0, 0})
	m.AddNode("MatMul", []string{"embedding", "W"}, []string{"xw"})
	m.AddNode("Add", []string{"xw", "b"}, []string{"out"})
	m.AddOutput("out", graph.Float, graph.Sym("batch"), graph.Fixed(2))
	b, err := m.Marshal()
	fmt.Println(err, len(b) > 0, m.Inputs()[0], m.Outputs()[0], m.Opset())
	// Output: <nil> true embedding float32[batch,4] out float32[batch,2] 17
}
