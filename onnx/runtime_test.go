package onnx

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestLibraryPath(t *testing.T) {
	// From the package folder, the module root's .deps is found by walking up.
	t.Setenv(LibEnv, "")
	p, err := LibraryPath()
	if err != nil {
		t.Fatalf("from the source tree: %v", err)
	}
	if !strings.HasSuffix(p, filepath.Join(".deps", "onnxruntime", "libonnxruntime.so.1")) {
		t.Errorf("found %s", p)
	}
	// The environment variable wins, and a wrong one is reported.
	t.Setenv(LibEnv, p)
	if got, err := LibraryPath(); err != nil || got != p {
		t.Errorf("%s=%s: got %s, %v", LibEnv, p, got, err)
	}
	bad := filepath.Join(t.TempDir(), "nope.so")
	t.Setenv(LibEnv, bad)
	_, err = LibraryPath()
	if !errors.Is(err, ErrNoRuntime) || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad %s: err = %v", LibEnv, err)
	}
	// Outside the tree, with no variable: the error says what to run.
	t.Setenv(LibEnv, "")
	t.Chdir(t.TempDir())
	if _, err := LibraryPath(); err == nil {
		// The test binary itself may sit below a folder with .deps; only
		// check the message when the lookup fails.
		return
	} else if !strings.Contains(err.Error(), "make setup") {
		t.Errorf("err = %v, want advice to run make setup", err)
	}
}
