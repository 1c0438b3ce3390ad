package main

// Flag validation shared by every command: bounds for numeric flags, the
// meaning of a typed 0, stray arguments, "-" as standard output and
// outputs that collide. One rule for all commands: a flag the user typed
// must hold a usable value; 0 means "default" only where the flag's help
// says so.

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/embfit/embfit/internal/atomicfile"
)

// intBound is the accepted range of an int flag.
type intBound struct {
	name   string
	lo, hi int
}

// checkInts returns a one-line error naming the first flag of bounds whose
// value is outside its range. Flags not typed are checked too (their
// defaults are in range), so a default of 0 meaning "automatic" must be
// given a range that includes 0 or be left out.
func checkInts(c *cli.Context, bounds ...intBound) error {
	for _, b := range bounds {
		v := c.Int(b.name)
		if !c.IsSet(b.name) {
			continue
		}
		if v < b.lo || v > b.hi {
			return fmt.Errorf("--%s %d: %s", b.name, v, rangeText(b.lo, b.hi))
		}
	}
	return nil
}

func rangeText(lo, hi int) string {
	switch {
	case lo == math.MinInt:
		return fmt.Sprintf("must be at most %d", hi)
	case hi == math.MaxInt:
		return fmt.Sprintf("must be at least %d", lo)
	case lo == 1:
		return fmt.Sprintf("must be from 1 to %d", hi)
	}
	return fmt.Sprintf("must be from %d to %d", lo, hi)
}

// checkFloats returns an error naming the first typed float flag of names
// that is NaN or infinite.
func checkFloats(c *cli.Context, names ...string) error {
	for _, n := range names {
		if !c.IsSet(n) {
			continue
		}
		if v := c.Float64(n); math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("--%s %v: must be a finite number", n, v)
		}
	}
	return nil
}

// Bounds shared by the commands. They are far above any real use and far
// below what would exhaust memory before the first batch.
const (
	maxBatch     = 1 << 16 // items per encoder or training batch
	maxLength    = 1 << 16 // tokens per text
	maxThreads   = 256     // ONNX Runtime intra-op threads
	maxWidth     = 1 << 14 // head widths (--dim, --hidden)
	maxNegatives = 1 << 12 // negatives per query or pair
	maxRank      = 1 << 24 // ranks a miner considers
	maxBlock     = 1 << 16 // mining GEMM block sides
	maxEpochs    = 1 << 20
)

// encoderFlagBounds bounds the encoder flags every command shares; a
// typed 0 is an error (the default is used when the flag is not given).
func encoderFlagBounds(batch string) []intBound {
	return []intBound{{batch, 1, maxBatch}, {"max-length", 1, maxLength}, {"threads", 0, maxThreads}}
}

// rejectArgs returns an error when the command was given positional
// arguments it does not take (with urfave/cli, a flag after a stray
// argument is not parsed either, so it would be ignored silently).
func rejectArgs(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (embfit %s takes only flags; see --help)", c.Args().First(), c.Command.Name)
	}
	return nil
}

// guardCommands makes every command but those in takeArgs refuse
// positional arguments before its action runs.
func guardCommands(cmds []*cli.Command, takeArgs ...string) {
	for _, cmd := range cmds {
		skip := false
		for _, n := range takeArgs {
			skip = skip || cmd.Name == n
		}
		if skip || cmd.Action == nil {
			continue
		}
		action := cmd.Action
		cmd.Action = func(c *cli.Context) error {
			if err := rejectArgs(c); err != nil {
				return err
			}
			return action(c)
		}
	}
}

// output is an output flag and its path.
type output struct{ flag, path string }

// checkOutputs returns an error if two of outs (ignoring empty paths)
// name the same file, or if more than one is "-" (standard output).
func checkOutputs(outs ...output) error {
	stdout := ""
	for i, a := range outs {
		if a.path == "" {
			continue
		}
		if a.path == "-" {
			if stdout != "" {
				return fmt.Errorf("%s - and %s -: only one output can go to standard output", stdout, a.flag)
			}
			stdout = a.flag
			continue
		}
		for _, b := range outs[i+1:] {
			if b.path != "" && b.path != "-" && samePath(a.path, b.path) {
				return fmt.Errorf("%s %s and %s %s: the same file (one output would be lost)", a.flag, a.path, b.flag, b.path)
			}
		}
	}
	return nil
}

// absPath returns p made absolute (p itself if that fails or p is "").
func absPath(p string) string {
	if p == "" || p == "-" {
		return p
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// outputSet is a command's output files, opened before the work so that
// an unwritable path fails at once, and committed together at the end.
type outputSet struct {
	files map[string]*atomicfile.File // by flag
	order []*atomicfile.File
}

// createOutputs opens every output of outs with a path: "-" is standard
// output (stdout), any other path an atomicfile (a device or pipe is
// written directly). Call abort (deferred) and commit.
func createOutputs(stdout io.Writer, outs ...output) (*outputSet, error) {
	s := &outputSet{files: map[string]*atomicfile.File{}}
	for _, o := range outs {
		if o.path == "" {
			continue
		}
		var f *atomicfile.File
		if o.path == "-" {
			f = atomicfile.NewDirect(stdout, "<stdout>")
		} else {
			var err error
			if f, err = atomicfile.Create(o.path, false); err != nil {
				s.abort()
				return nil, fmt.Errorf("%s: %w", o.flag, err)
			}
		}
		s.files[o.flag] = f
		s.order = append(s.order, f)
	}
	return s, nil
}

// get returns the file of flag, nil if that output was not asked for.
func (s *outputSet) get(flag string) *atomicfile.File { return s.files[flag] }

// stdout reports whether one of the outputs is standard output ("-", or
// a path such as /dev/stdout that is the same file).
func (s *outputSet) stdout() bool {
	for _, f := range s.order {
		if f.Name() == "<stdout>" || isStdout(f.Name()) {
			return true
		}
	}
	return false
}

// isStdout reports whether path is the process's standard output (say
// /dev/stdout): a command then prints its summary to standard error.
func isStdout(path string) bool {
	a, err1 := os.Stat(path)
	b, err2 := os.Stdout.Stat()
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

func (s *outputSet) abort() {
	for _, f := range s.order {
		f.Abort()
	}
}

// commit publishes every output together (see atomicfile.CommitAll).
func (s *outputSet) commit() error { return atomicfile.CommitAll(s.order...) }
