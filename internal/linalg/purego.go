//go:build !cgo || noopenblas

package linalg

const backend = "gonum"
