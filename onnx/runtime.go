// Package onnx runs ONNX models with ONNX Runtime: it starts the one ORT
// environment of the process, opens encoders, binds their inputs, runs
// batches and pools the outputs into one embedding per item.
//
// The ORT shared library (libonnxruntime.so.1, ONNX Runtime 1.30 from the
// npm package onnxruntime-node, installed by `make setup`) is found by
// LibraryPath. Sub-package graph writes ONNX models; sub-package tokenizer
// reads Hugging Face tokenizer.json files.
package onnx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// LibEnv is the environment variable that, when set, names the ONNX Runtime
// shared library to load.
const LibEnv = "EMBFIT_ORT_LIB"

// libRel is where `make setup` puts the library, relative to the module root.
var libRel = filepath.Join(".deps", "onnxruntime", "libonnxruntime.so.1")

// ErrNoRuntime is wrapped by Init's error when the library is not found.
var ErrNoRuntime = errors.New("ONNX Runtime library not found")

// LibraryPath returns the ONNX Runtime library to load: $EMBFIT_ORT_LIB if
// set; else .deps/onnxruntime/libonnxruntime.so.1 under the parent of the
// executable's directory (bin/embfit → ../.deps/...), the executable's
// directory, the current directory or any of its parents. The error says
// to run `make setup` when none exists.
func LibraryPath() (string, error) {
	if p := os.Getenv(LibEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: %s=%s: %v", ErrNoRuntime, LibEnv, p, err)
		}
		return p, nil
	}
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		if exe, err := filepath.EvalSymlinks(exe); err == nil {
			d := filepath.Dir(exe)
			dirs = append(dirs, filepath.Dir(d), d)
		}
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			dirs = append(dirs, d)
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, libRel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w (looked for %s next to the executable and in the current directory and its parents; set %s to its path): run `make setup` in the embfit source folder", ErrNoRuntime, libRel, LibEnv)
}

var (
	initOnce sync.Once
	initErr  error
)

// Init starts the process's ONNX Runtime environment once; later calls
// return the first call's result. Every function of this package that
// needs ORT calls it, so callers rarely need to.
func Init() error {
	initOnce.Do(func() {
		var p string
		p, initErr = LibraryPath()
		if initErr != nil {
			return
		}
		ort.SetSharedLibraryPath(p)
		// ORT's logger prints to standard error itself (coloured,
		// multi-line) what it also returns as a status; keep it to fatal
		// messages and report errors through the returned statuses, as
		// one line (see ortError).
		if err := ort.InitializeEnvironment(ort.WithLogLevelFatal()); err != nil {
			initErr = fmt.Errorf("start ONNX Runtime from %s: %w", p, err)
		}
	})
	return initErr
}

// RuntimeVersion returns the loaded ONNX Runtime's version string.
func RuntimeVersion() string {
	if Init() != nil {
		return ""
	}
	return ort.GetVersion()
}

// Threads is the intra-op thread count sessions use: the number of usable
// cores.
func Threads() int { return runtime.GOMAXPROCS(0) }

func newSessionOptions(threads int) (*ort.SessionOptions, error) {
	o, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	if err := CheckThreads(threads); err != nil {
		return nil, fmt.Errorf("threads %w", err)
	}
	if threads == 0 {
		threads = Threads()
	}
	if err := o.SetIntraOpNumThreads(threads); err != nil {
		o.Destroy()
		return nil, err
	}
	if err := o.SetInterOpNumThreads(1); err != nil {
		o.Destroy()
		return nil, err
	}
	if err := o.SetLogSeverityLevel(ort.LoggingLevelFatal); err != nil {
		o.Destroy()
		return nil, err
	}
	return o, nil
}

// MaxThreads bounds the intra-op thread count a caller may ask for.
const MaxThreads = 1024

// CheckThreads returns an error unless n is 0 (all cores) or in
// [1, MaxThreads]. Above the number of cores ONNX Runtime only
// oversubscribes them.
func CheckThreads(n int) error {
	if n < 0 || n > MaxThreads {
		return fmt.Errorf("%d: want 0 (all %d cores) up to %d", n, Threads(), MaxThreads)
	}
	return nil
}

// ortError returns err with ONNX Runtime's message collapsed onto one
// line (statuses can span several, with source paths and colour codes).
func ortError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if !strings.ContainsAny(msg, "\n\r\x1b") {
		return err
	}
	msg = strings.ReplaceAll(msg, "\x1b[m", "")
	msg = strings.ReplaceAll(msg, "\x1b[1;31m", "")
	msg = strings.Join(strings.Fields(msg), " ")
	return &oneLineError{msg: msg, err: err}
}

type oneLineError struct {
	msg string
	err error
}

func (e *oneLineError) Error() string { return e.msg }
func (e *oneLineError) Unwrap() error { return e.err }
