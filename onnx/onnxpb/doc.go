// Package onnxpb holds the ONNX protobuf message types (ModelProto,
// GraphProto, NodeProto, TensorProto, ...) generated with protoc-gen-go for
// google.golang.org/protobuf.
//
// onnx.proto is the proto3 form of ONNX's onnx.proto (IR version 8,
// Apache-2.0), taken from the Go module
// github.com/advancedclimatesystems/gonnx@v1.1.0 (file onnx/onnx.proto3) with
// only its go_package option changed. Regenerate with
//
//	apt-get install protobuf-compiler
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//	go generate ./onnx/onnxpb
//
// Most code should use package onnx/graph, which builds and edits models
// through these types.
package onnxpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative onnx.proto
