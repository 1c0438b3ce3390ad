// Package layering holds no code: its test enforces embfit's import layers
// with `go list -deps` (arrows point down: cmd → pipeline/job →
// pipeline/{train, audit} → pipeline/{embed, head, retrieval, dataio} →
// losses, mining, onnx → internal).
package layering
