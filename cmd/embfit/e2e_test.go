package main

// End-to-end test helpers shared by every command's *_e2e_test.go: the
// embfit binary is built once per `go test` run (TestMain) and run with
// runEmbfit / runEmbfitIn.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/internal/rows"
	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/pipeline/head"
	"gonum.org/v1/gonum/blas/blas32"
)

// embfitBin is the path of the binary built by TestMain.
var embfitBin string

func TestMain(m *testing.M) {
	os.Exit(e2eMain(m))
}

func e2eMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "embfit-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	embfitBin = filepath.Join(dir, "embfit")
	// Build from the module root, as a user would.
	build := exec.Command("go", "build", "-o", embfitBin, "./cmd/embfit")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/embfit: %v\n%s", err, out)
		return 1
	}
	// The binary lives in a temporary folder: tell it where ORT is.
	if os.Getenv(onnx.LibEnv) == "" {
		if lib, err := onnx.LibraryPath(); err == nil {
			abs, _ := filepath.Abs(lib)
			os.Setenv(onnx.LibEnv, abs)
		}
	}
	return m.Run()
}

// runEmbfit runs the built binary with args (working directory: the test
// package's) and returns its standard output, standard error and exit
// status.
func runEmbfit(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runEmbfitIn(t, "", nil, args...)
}

// runEmbfitIn is runEmbfit with a working directory (dir, "" for the
// current one) and standard input (nil for none).
func runEmbfitIn(t testing.TB, dir string, stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(embfitBin, args...)
	cmd.Dir = dir
	cmd.Stdin = stdin
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run embfit %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// normalizedHead returns hd applied to the rows of base, each output row
// L2-normalized: what merged.onnx computes after the encoder.
func normalizedHead(hd head.Head, base blas32.General) blas32.General {
	want := linalg.NewMatrix(base.Rows, hd.Settings().Out)
	head.Apply(hd, want, base)
	rows.Normalize(want, want)
	return want
}
