package main

// Hostile and careless input through the built binary: each case is a
// reproduction that once misbehaved (a replaced device, a Go runtime
// dump, a silent default, a lost output, a half-written pair) and must
// now give the right result or one "embfit:" line naming the flag or
// file:line, exit status 2, and no output left behind.

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/embfit/embfit/onnx/graph"
	"github.com/embfit/embfit/onnx/onnxtest"
)

// hostileFixture holds the small files the cases share.
type hostileFixture struct {
	dir      string
	model    string // token model folder
	texts    string // JSONL {"text","label"}
	pairs    string // JSONL {"anchor","positive"}
	nanModel string // float model [b,4] → x/0 (NaN, ±Inf)
	runFail  string // float model whose Reshape fails at run time
	floats   string // JSONL {"tensor":[4 numbers]}
	npy      string // [6,3] embeddings
	labels   string // 6 labels
	zeroNPY  string // [6,0] embeddings
}

func newHostileFixture(t *testing.T) hostileFixture {
	t.Helper()
	dir := t.TempDir()
	w, err := onnxtest.TokenModel{Dim: 8, Seed: 3}.Write(filepath.Join(dir, "model"))
	if err != nil {
		t.Fatal(err)
	}
	f := hostileFixture{dir: dir, model: w.Dir}
	f.texts = embedWrite(t, filepath.Join(dir, "texts.jsonl"),
		`{"text":"the quick brown fox","label":"a"}`+"\n"+`{"text":"a lazy dog","label":"b"}`+"\n"+
			`{"text":"the cat sat on the mat","label":"a"}`+"\n"+`{"text":"hello world","label":"b"}`+"\n"+
			`{"text":"red blue","label":"a"}`+"\n"+`{"text":"fox jumps over","label":"b"}`+"\n")
	f.pairs = embedWrite(t, filepath.Join(dir, "pairs.jsonl"),
		`{"anchor":"the quick fox","positive":"brown fox"}`+"\n"+`{"anchor":"lazy dog","positive":"a dog"}`+"\n"+
			`{"anchor":"cat","positive":"the cat sat"}`+"\n"+`{"anchor":"hello","positive":"hello world"}`+"\n")

	nan := graph.New("nan", 17)
	nan.AddInput("x", graph.Float, graph.Sym("b"), graph.Fixed(4))
	nan.AddOutput("y", graph.Float, graph.Sym("b"), graph.Fixed(4))
	nan.AddInitializerFloat("z", []int64{1}, []float32{0})
	nan.AddNode("Div", []string{"x", "z"}, []string{"y"})
	f.nanModel = filepath.Join(dir, "nan.onnx")
	if err := nan.Save(f.nanModel); err != nil {
		t.Fatal(err)
	}
	rf := graph.New("reshape", 17)
	rf.AddInput("x", graph.Float, graph.Sym("b"), graph.Fixed(4))
	rf.AddOutput("y", graph.Float, graph.Sym("b"), graph.Fixed(4))
	rf.AddInitializerInt64("s", []int64{2}, []int64{3, 5})
	rf.AddNode("Reshape", []string{"x", "s"}, []string{"y"})
	f.runFail = filepath.Join(dir, "reshape.onnx")
	if err := rf.Save(f.runFail); err != nil {
		t.Fatal(err)
	}
	f.floats = embedWrite(t, filepath.Join(dir, "floats.jsonl"), `{"tensor":[1,2,3,4]}`+"\n"+`{"tensor":[0,0,0,0]}`+"\n")

	var rows [][]float32
	for i := 0; i < 6; i++ {
		rows = append(rows, []float32{float32(i), 1, float32(i % 2)})
	}
	f.npy = mineWriteNPY(t, filepath.Join(dir, "e.npy"), rows...)
	f.labels = embedWrite(t, filepath.Join(dir, "labels.txt"), "a\nb\na\nb\na\nb\n")
	f.zeroNPY = mineWriteNPY(t, filepath.Join(dir, "zero.npy"), make([][]float32, 6)...)
	return f
}

func TestHostileInputE2E(t *testing.T) {
	fx := newHostileFixture(t)
	type tc struct {
		name string
		args []string
		// code is the wanted exit status; errHas a substring of the one
		// stderr line that must start with "embfit:" when code is 2.
		code   int
		errHas string
		// absent are files (relative to the case's folder) that must
		// not exist afterwards; check runs extra assertions.
		absent []string
		check  func(t *testing.T, dir, stdout, stderr string)
	}
	embed := func(extra ...string) []string {
		return append([]string{"embed", "--model", fx.model, "--input", fx.texts}, extra...)
	}
	mine := func(extra ...string) []string {
		return append([]string{"mine", "--model", fx.model, "--pairs", fx.pairs}, extra...)
	}
	auditM := func(extra ...string) []string {
		return append([]string{"audit", "--model", fx.model, "--input", fx.texts}, extra...)
	}
	train := func(extra ...string) []string {
		return append([]string{"train", "--model", fx.model, "--train", fx.pairs}, extra...)
	}
	cases := []tc{
		// Huge numeric flags: a bounded one-line error, not a runtime dump.
		{name: "embed huge batch", args: embed("--batch-size", "100000000", "--out", "o.npy"), code: 2, errHas: "--batch-size 100000000: must be from 1 to", absent: []string{"o.npy"}},
		{name: "embed big batch clamped to the data", args: embed("--batch-size", "60000", "--out", "o.npy"), code: 0,
			check: func(t *testing.T, dir, _, _ string) {
				mustExist(t, filepath.Join(dir, "o.npy"), filepath.Join(dir, "o.ids.jsonl"))
			}},
		{name: "mine huge range-max", args: mine("--range-max", "100000000", "--out", "o.jsonl"), code: 2, errHas: "--range-max 100000000", absent: []string{"o.jsonl"}},
		{name: "mine huge batch", args: mine("--batch-size", "100000000", "--out", "o.jsonl"), code: 2, errHas: "--batch-size 100000000"},
		{name: "mine range-max above the corpus", args: mine("--range-max", "1000000", "--out", "o.jsonl"), code: 0},
		{name: "train huge dim", args: train("--dim", "100000000", "--out", "run"), code: 2, errHas: "--dim 100000000", absent: []string{"run"}},
		{name: "train huge mine-negatives", args: train("--mine-negatives", "100000000", "--out", "run"), code: 2, errHas: "--mine-negatives 100000000", absent: []string{"run"}},
		// Zero-width embeddings.
		{name: "audit zero-width", args: []string{"audit", "--embeddings", fx.zeroNPY, "--labels", fx.labels}, code: 2, errHas: "zero-width"},
		{name: "mine zero-width", args: []string{"mine", "--labelled", fx.texts, "--query-embeddings", fx.zeroNPY, "--out", "o.jsonl"}, code: 2, errHas: "zero-width", absent: []string{"o.jsonl"}},
		// Non-finite embeddings.
		{name: "embed NaN output", args: []string{"embed", "--model", fx.nanModel, "--input", fx.floats, "--out", "o.npy"}, code: 2, errHas: "floats.jsonl:1: the model's embedding is not finite", absent: []string{"o.npy", "o.ids.jsonl"}},
		{name: "embed NaN kept", args: []string{"embed", "--model", fx.nanModel, "--input", fx.floats, "--out", "o.npy", "--keep-non-finite"}, code: 0,
			check: func(t *testing.T, dir, _, stderr string) {
				if !strings.Contains(stderr, "2 embeddings hold NaN") {
					t.Errorf("no count of non-finite rows: %s", stderr)
				}
			}},
		{name: "embed value beyond float32", args: []string{"embed", "--model", fx.nanModel, "--input", embedWrite(t, filepath.Join(fx.dir, "big.jsonl"), `{"tensor":[1e39,1,1,1]}`+"\n"), "--out", "o.npy"}, code: 2, errHas: "big.jsonl:1: field \"tensor\": 1e39 is outside the float32 range"},
		// ONNX Runtime's own log lines stay off stderr.
		{name: "ORT run error is one line", args: []string{"embed", "--model", fx.runFail, "--input", fx.floats, "--out", "o.npy"}, code: 2, errHas: "Reshape", absent: []string{"o.npy"}},
		// --threads bounds.
		{name: "threads negative", args: embed("--threads", "-3", "--out", "o.npy"), code: 2, errHas: "--threads -3"},
		{name: "threads huge", args: embed("--threads", "100000", "--out", "o.npy"), code: 2, errHas: "--threads 100000"},
		// Stray positional arguments.
		{name: "embed stray argument", args: embed("--out", "o.npy", "stray"), code: 2, errHas: `unexpected argument "stray"`, absent: []string{"o.npy"}},
		{name: "flag after a stray argument", args: []string{"audit", "--embeddings", fx.npy, "stray", "--labels", fx.labels}, code: 2, errHas: `unexpected argument "stray"`},
		// "-" as an output.
		{name: "embed --out -", args: embed("--out", "-"), code: 2, errHas: "--out -:", absent: []string{"-", "-.ids.jsonl"}},
		{name: "mine manifest names its JSONL's sha256", args: mine("--out", "o.jsonl"), code: 0,
			check: func(t *testing.T, dir, _, _ string) {
				b, err := os.ReadFile(filepath.Join(dir, "o.jsonl"))
				if err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256(b)
				if man := readFile(t, filepath.Join(dir, "o.jsonl.manifest.json")); !strings.Contains(man, `"sha256": "`+hex.EncodeToString(sum[:])+`"`) {
					t.Errorf("manifest lacks the JSONL's sha256 %x", sum)
				}
			}},
		{name: "embed --out /dev/stdout", args: embed("--out", "/dev/stdout"), code: 0,
			check: func(t *testing.T, _, stdout, stderr string) {
				if !strings.HasPrefix(stdout, "\x93NUMPY") || !strings.Contains(stderr, "no .ids.jsonl sidecar") {
					t.Errorf("stdout %.20q, stderr %q", stdout, stderr)
				}
				if st, err := os.Lstat("/dev/stdout"); err != nil || st.Mode()&os.ModeSymlink == 0 {
					t.Errorf("/dev/stdout is no longer a link: %v %v", st.Mode(), err)
				}
			}},
		{name: "mine --out - to stdout", args: mine("--out", "-"), code: 0, absent: []string{"-", "-.manifest.json"},
			check: func(t *testing.T, _, stdout, _ string) {
				if !strings.HasPrefix(stdout, `{"anchor":`) {
					t.Errorf("stdout is not the JSONL: %.100q", stdout)
				}
			}},
		{name: "audit two outputs on stdout", args: auditM("--json", "-", "--html", "-"), code: 2, errHas: "only one output can go to standard output"},
		{name: "audit --per-sample -", args: []string{"audit", "--losses-only", "--embeddings", fx.npy, "--labels", fx.labels, "--per-sample", "-"}, code: 0,
			check: func(t *testing.T, _, stdout, _ string) {
				if !strings.HasPrefix(stdout, `{"row":0`) {
					t.Errorf("stdout is not the per-sample JSONL: %.100q", stdout)
				}
			}},
		// Two outputs on one path.
		{name: "audit --json X --html X", args: auditM("--json", "X", "--html", "X"), code: 2, errHas: "--json X and --html X: the same file", absent: []string{"X"}},
		// Outputs checked before the work, committed together.
		{name: "audit unwritable html", args: auditM("--per-sample", "ps.jsonl", "--html", "missing/r.html"), code: 2, errHas: "--html: missing/r.html", absent: []string{"ps.jsonl"}},
		{name: "mine manifest path is a folder", args: mine("--out", "o.jsonl"), code: 2, errHas: "o.jsonl.manifest.json: cannot write: is a folder", absent: []string{"o.jsonl"},
			check: nil},
		// A typed 0 where 0 makes no sense.
		{name: "train --epochs 0", args: train("--epochs", "0", "--out", "run"), code: 2, errHas: "--epochs 0", absent: []string{"run"}},
		{name: "train --lr 0", args: train("--lr", "0", "--out", "run"), code: 2, errHas: "--lr 0", absent: []string{"run"}},
		{name: "train --batch-size 0", args: train("--batch-size", "0", "--out", "run"), code: 2, errHas: "--batch-size 0"},
		{name: "train --per-class 0", args: train("--per-class", "0", "--out", "run"), code: 2, errHas: "--per-class 0"},
		{name: "train --checkpoint-every 0", args: train("--checkpoint-every", "0", "--out", "run"), code: 2, errHas: "--checkpoint-every 0"},
		{name: "audit --batch-size 0", args: auditM("--batch-size", "0"), code: 2, errHas: "--batch-size 0"},
		{name: "audit --max-length 0", args: auditM("--max-length", "0"), code: 2, errHas: "--max-length 0"},
		{name: "mine --max-length 0", args: mine("--max-length", "0", "--out", "o.jsonl"), code: 2, errHas: "--max-length 0"},
		// NaN optimizer settings name their flag.
		{name: "train --weight-decay NaN", args: train("--weight-decay", "NaN", "--out", "run"), code: 2, errHas: "--weight-decay NaN: must be a finite number", absent: []string{"run"}},
		{name: "train --clip Inf", args: train("--clip", "Inf", "--out", "run"), code: 2, errHas: "--clip +Inf"},
		{name: "mine --max-score NaN", args: mine("--max-score", "NaN", "--out", "o.jsonl"), code: 2, errHas: "--max-score NaN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.name == "mine manifest path is a folder" {
				os.Mkdir(filepath.Join(dir, "o.jsonl.manifest.json"), 0o755)
			}
			stdout, stderr, code := runEmbfitIn(t, dir, nil, c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", code, c.code, stderr)
			}
			if c.code == 2 {
				lines := strings.Split(strings.TrimSpace(stderr), "\n")
				last := lines[len(lines)-1]
				if !strings.HasPrefix(last, "embfit: ") || !strings.Contains(last, c.errHas) {
					t.Errorf("last stderr line %q: want an embfit: line containing %q", last, c.errHas)
				}
				if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "runtime error") || strings.Contains(stderr, "\x1b[") {
					t.Errorf("stderr has a stack trace, a runtime error or ONNX Runtime's coloured log:\n%s", stderr)
				}
			}
			for _, a := range c.absent {
				if _, err := os.Lstat(filepath.Join(dir, a)); err == nil {
					t.Errorf("%s left behind", a)
				}
			}
			leftTemps(t, dir)
			if c.check != nil {
				c.check(t, dir, stdout, stderr)
			}
		})
	}
}

// leftTemps fails if dir holds a temporary file of atomicfile.
func leftTemps(t *testing.T, dir string) {
	t.Helper()
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.Contains(filepath.Base(p), ".tmp-") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

func mustExist(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// TestDeviceOutputE2E: an output onto a character device or a FIFO is
// written to it, never replaced by a regular file, and sidecars that make
// no sense there are skipped with a note. (A private device node stands
// in for /dev/null.)
func TestDeviceOutputE2E(t *testing.T) {
	fx := newHostileFixture(t)
	dir := t.TempDir()
	dev := filepath.Join(dir, "null")
	if err := syscall.Mknod(dev, syscall.S_IFCHR|0o666, int(1<<8|3)); err != nil {
		t.Skip("mknod (needs root):", err)
	}
	for _, args := range [][]string{
		{"embed", "--model", fx.model, "--input", fx.texts, "--out", dev},
		{"mine", "--model", fx.model, "--pairs", fx.pairs, "--out", dev},
		{"audit", "--model", fx.model, "--input", fx.texts, "--json", dev, "--html", dev + "2"},
	} {
		if args[0] == "audit" {
			syscall.Mknod(dev+"2", syscall.S_IFCHR|0o666, int(1<<8|3))
		}
		_, stderr, code := runEmbfitIn(t, dir, nil, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", args[0], code, stderr)
		}
		for _, p := range []string{dev, dev + "2"} {
			if st, err := os.Stat(p); err == nil && st.Mode()&os.ModeCharDevice == 0 {
				t.Fatalf("%s: %s replaced by a %v", args[0], p, st.Mode())
			}
		}
		for _, side := range []string{dev + ".ids.jsonl", dev + ".manifest.json"} {
			if _, err := os.Stat(side); err == nil {
				t.Errorf("%s: sidecar %s written beside a device", args[0], side)
			}
		}
		if args[0] != "audit" && !strings.Contains(stderr, "not a regular file") {
			t.Errorf("%s: no note about the skipped sidecar: %s", args[0], stderr)
		}
	}

	// A FIFO gets the data.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 1)
	go func() {
		b, _ := os.ReadFile(fifo)
		got <- len(b)
	}()
	if _, stderr, code := runEmbfitIn(t, dir, nil, "mine", "--model", fx.model, "--pairs", fx.pairs, "--out", fifo); code != 0 {
		t.Fatalf("mine into a FIFO: exit %d: %s", code, stderr)
	}
	if n := <-got; n == 0 {
		t.Error("nothing came through the FIFO")
	}
	if st, _ := os.Lstat(fifo); st.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("FIFO replaced by %v", st.Mode())
	}
}

// TestInterruptWhileReadingStdinE2E: Ctrl-C while embed waits on an open
// but silent standard input stops it with status 130, leaving nothing.
func TestInterruptWhileReadingStdinE2E(t *testing.T) {
	fx := newHostileFixture(t)
	dir := t.TempDir()
	cmd := exec.Command(embfitBin, "embed", "--model", fx.model, "--input", "-", "--out", "o.npy")
	cmd.Dir = dir
	w, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(`{"text":"the fox"}` + "\n")) // then silence, pipe still open
	time.Sleep(700 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("still running 10 s after SIGINT while reading standard input")
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit %d, want 130: %s", code, stderr.String())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

// TestRunFolderE2E: a run folder becomes a run only when training starts,
// is never a folder of the user's files, is locked while in use, resumes
// only on the same data, from any folder, and exports only on the same
// encoder, warning when training is unfinished.
func TestRunFolderE2E(t *testing.T) {
	w := newTextWorld(t, 300)
	base := []string{"train", "--model", w.dir, "--train", w.train, "--cache-dir", "none", "--epochs", "2", "--batch-size", "32"}
	badTest := embedWrite(t, filepath.Join(t.TempDir(), "bad.jsonl"), `{"anchor":"w2"}`+"\n")

	t.Run("failed start leaves no run", func(t *testing.T) {
		run := filepath.Join(t.TempDir(), "run")
		_, stderr, code := runTrainBin(t, nil, append(base, "--test", badTest, "--out", run)...)
		if code != 2 || !strings.Contains(stderr, "bad.jsonl:1") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if _, err := os.Stat(run); err == nil {
			t.Fatal("the run folder was left behind")
		}
		if _, stderr, code := runTrainBin(t, nil, append(base, "--test", w.test, "--out", run)...); code != 0 {
			t.Fatalf("the same command after fixing --test: exit %d: %s", code, stderr)
		}
	})
	t.Run("typed NaN leaves no folder", func(t *testing.T) {
		run := filepath.Join(t.TempDir(), "run")
		if _, _, code := runTrainBin(t, nil, append(base, "--momentum", "NaN", "--out", run)...); code != 2 {
			t.Fatalf("exit %d", code)
		}
		if _, err := os.Stat(run); err == nil {
			t.Fatal("a run folder was left behind")
		}
	})
	t.Run("folder of the user's files refused", func(t *testing.T) {
		dir := t.TempDir()
		embedWrite(t, filepath.Join(dir, "head.onnx"), "mine")
		_, stderr, code := runTrainBin(t, nil, append(base, "--out", dir)...)
		if code != 2 || !strings.Contains(stderr, "is not empty and holds no run") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if readFile(t, filepath.Join(dir, "head.onnx")) != "mine" {
			t.Fatal("the user's head.onnx was overwritten")
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Fatalf("files added: %v", entries)
		}
	})
	t.Run("locked folder refused", func(t *testing.T) {
		run := t.TempDir()
		f, err := os.Create(filepath.Join(run, ".lock"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := runTrainBin(t, nil, append(base, "--out", run)...)
		if code != 2 || !strings.Contains(stderr, "in use by another embfit process") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if _, err := os.Stat(filepath.Join(run, "config.json")); err == nil {
			t.Fatal("config.json written into a locked folder")
		}
	})
	t.Run("resume checks data, works from any folder; export checks the encoder", func(t *testing.T) {
		run := filepath.Join(t.TempDir(), "run")
		// Relative paths, typed from the data folder.
		data := filepath.Dir(w.train)
		args := []string{"train", "--model", w.dir, "--train", filepath.Base(w.train), "--cache-dir", "none", "--epochs", "3", "--batch-size", "32", "--out", run, "--step-delay", "40ms"}
		cmd := exec.Command(trainBinary(t), args...)
		cmd.Dir = data
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for !HasCheckpointFile(run) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if !HasCheckpointFile(run) {
			t.Fatalf("no checkpoint before the interrupt: %s", stderr.String())
		}
		_, errOut, code := runTrainBin(t, nil, "export", "--run", run)
		if code != 0 || !strings.Contains(errOut, "training is not finished") {
			t.Errorf("export of an unfinished run: exit %d, no warning: %s", code, errOut)
		}
		orig := readFile(t, w.train)
		lines := strings.SplitAfter(orig, "\n")
		embedWrite(t, w.train, strings.Join(lines[:len(lines)/2], ""))
		_, errOut, code = runTrainBin(t, nil, "train", "--resume", run)
		if code != 2 || !strings.Contains(errOut, "changed since the run started") {
			t.Errorf("resume on changed data: exit %d: %s", code, errOut)
		}
		embedWrite(t, w.train, orig)
		other := t.TempDir()
		rel, _ := filepath.Rel(other, run)
		_, errOut, code = runEmbfitIn(t, other, nil, "train", "--resume", rel)
		if code != 0 {
			t.Fatalf("resume from another folder: exit %d: %s", code, errOut)
		}
		// Another encoder at the recorded path.
		w2, err := onnxtest.TokenModel{Dim: 16, Seed: 9}.Write(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		embedWrite(t, filepath.Join(w.dir, "model.onnx"), readFile(t, w2.Model))
		before := readFile(t, filepath.Join(run, "merged.onnx"))
		_, errOut, code = runTrainBin(t, nil, "export", "--run", run)
		if code != 2 || !strings.Contains(errOut, "changed since the run started") {
			t.Errorf("export on another encoder: exit %d: %s", code, errOut)
		}
		if readFile(t, filepath.Join(run, "merged.onnx")) != before {
			t.Error("merged.onnx rewritten on another encoder")
		}
	})
	t.Run("unusable cache is a warning", func(t *testing.T) {
		w := newTextWorld(t, 300)
		file := embedWrite(t, filepath.Join(t.TempDir(), "f"), "x")
		run := filepath.Join(t.TempDir(), "run")
		_, stderr, code := runTrainBin(t, nil, "train", "--model", w.dir, "--train", w.train, "--epochs", "1", "--batch-size", "32", "--cache-dir", filepath.Join(file, "cache"), "--out", run)
		if code != 0 || !strings.Contains(stderr, "warning: embedding cache") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})
	t.Run("sampler error names the flags", func(t *testing.T) {
		w := newTextWorld(t, 50) // the encoder above was replaced
		items := filepath.Join(t.TempDir(), "items.jsonl")
		writeJSONL(t, items, []map[string]string{{"text": "w2", "label": "a"}, {"text": "w3", "label": "a"}, {"text": "w4", "label": "b"}, {"text": "w5", "label": "b"}})
		run := filepath.Join(t.TempDir(), "run")
		_, stderr, code := runTrainBin(t, nil, "train", "--model", w.dir, "--train", items, "--cache-dir", "none", "--loss", "contrastive", "--out", run)
		if code != 2 || !strings.Contains(stderr, "--batch-size") || !strings.Contains(stderr, "--per-class") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if _, err := os.Stat(run); err == nil {
			t.Fatal("run folder left behind")
		}
	})
}

// HasCheckpointFile reports whether run holds a checkpoint.
func HasCheckpointFile(run string) bool {
	_, err := os.Stat(filepath.Join(run, "checkpoints", "last.ckpt"))
	return err == nil
}

// TestInterruptBeforeTrainingE2E: Ctrl-C while the texts are embedded
// (before any checkpoint) says there is nothing to resume, not
// "checkpoint saved", and leaves no run folder.
func TestInterruptBeforeTrainingE2E(t *testing.T) {
	w := newTextWorld(t, 30000)
	run := filepath.Join(t.TempDir(), "run")
	cmd := exec.Command(trainBinary(t), "train", "--model", w.dir, "--train", w.train, "--cache-dir", "none", "--embed-batch", "1", "--out", run)
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	sc := bufio.NewScanner(errPipe)
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "data:") {
			cmd.Process.Signal(os.Interrupt) // the embedding phase starts now
			break
		}
	}
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
	}
	if cmd.Wait() == nil {
		t.Skipf("training finished before the interrupt:\n%s", log.String())
	}
	if strings.Contains(log.String(), "train:") {
		t.Skipf("the interrupt came after training started:\n%s", log.String())
	}
	if strings.Contains(log.String(), "checkpoint saved") || !strings.Contains(log.String(), "nothing to resume") {
		t.Errorf("wrong message after an interrupt before training:\n%s", log.String())
	}
	if _, err := os.Stat(run); err == nil {
		t.Error("run folder left behind")
	}
}
