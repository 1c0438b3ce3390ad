package onnx_test

import "github.com/embfit/embfit/onnx/graph"

func twoInputModel() *graph.Model {
	m := graph.New("two", 0)
	m.AddInput("a", graph.Float, graph.Sym("batch"), graph.Fixed(2))
	m.AddInput("b", graph.Float, graph.Sym("batch"), graph.Fixed(2))
	m.AddNode("Add", []string{"a", "b"}, []string{"y"})
	m.AddOutput("y", graph.Float, graph.Sym("batch"), graph.Fixed(2))
	return m
}
