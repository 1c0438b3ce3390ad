package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/pipeline/embed"
	"github.com/embfit/embfit/pipeline/shard"
)

func init() {
	register.Emitter1[int]()
	register.DoFn3x1[context.Context, int, func(*int) bool, error](&mergeFn{})
	register.Iter1[int]()
	register.DoFn3x1[context.Context, int, func(string), error](&embedShardFn{})
	register.Emitter1[string]()
	register.DoFn3x1[context.Context, int, func(*string) bool, error](&concatFn{})
	register.Iter1[string]()
	// runTasksFn emits from FinishBundle, which the generic registration
	// cannot infer: it is registered for reflection.
	beam.RegisterType(reflect.TypeOf((*runTasksFn)(nil)).Elem())
}

// Process-level caches. The Go SDK calls Setup once per cached plan and
// concurrent bundle and never calls Teardown, so opened inputs (files and
// the last corpus shard read) and ONNX sessions live here for the worker
// process's life instead of in DoFn fields.
var (
	inputsMu    sync.Mutex
	inputsCache = map[string]*shard.Inputs{}
	encodersMu  sync.Mutex
	encoders    = map[embedSettings]*lockedEncoder{}
)

// planInputs returns the process's opened inputs of the plan at path.
func planInputs(path string) (*shard.Plan, *shard.Inputs, error) {
	p, err := shard.ReadPlan(path)
	if err != nil {
		return nil, nil, err
	}
	inputsMu.Lock()
	defer inputsMu.Unlock()
	if in, ok := inputsCache[path]; ok {
		return p, in, nil
	}
	in, err := shard.OpenInputs(p)
	if err != nil {
		return nil, nil, err
	}
	inputsCache[path] = in
	return p, in, nil
}

// mineJob is `embfit-beam mine`.
type mineJob struct{ plan, out string }

func (m *mineJob) flags(fs *flag.FlagSet) {
	fs.StringVar(&m.plan, "plan", "", "plan `FILE` written by embfit mine plan (on storage every worker sees)")
	fs.StringVar(&m.out, "out", "", "output `FILE` (JSONL); the manifest goes to FILE.manifest.json")
}

func (m *mineJob) check() error {
	switch {
	case m.plan == "":
		return errors.New("missing flag --plan")
	case m.out == "":
		return errors.New("missing flag --out")
	}
	if _, err := shard.ReadPlan(m.plan); err != nil {
		return fmt.Errorf("--plan: %w", err)
	}
	// Workers may run in another folder.
	return absPaths(&m.plan, &m.out)
}

// build: task indices → runTasksFn (a partial each) → one group →
// mergeFn. Elements are task numbers, never vectors.
func (m *mineJob) build(s beam.Scope) error {
	p, err := shard.ReadPlan(m.plan)
	if err != nil {
		return err
	}
	tasks := make([]int, len(p.Tasks))
	for i := range tasks {
		tasks[i] = i
	}
	done := beam.ParDo(s, &runTasksFn{Plan: m.plan}, beam.Reshuffle(s, beam.CreateList(s, tasks)))
	beam.ParDo0(s, &mergeFn{Plan: m.plan, Out: m.out, Tasks: len(tasks)}, beam.GroupByKey(s, beam.AddFixedKey(s, done)))
	return nil
}

// runTasksFn runs mining tasks. It batches inside a bundle: elements are
// collected, then run in FinishBundle ordered by corpus shard, so tasks
// of one shard reuse the cached shard.
type runTasksFn struct {
	Plan    string `json:"plan"`
	pending []int
}

// StartBundle clears the batch.
func (f *runTasksFn) StartBundle(_ context.Context, _ func(int)) { f.pending = f.pending[:0] }

// ProcessElement adds a task to the batch; tasks are emitted from
// FinishBundle (the SDK wants the emitter in both signatures).
func (f *runTasksFn) ProcessElement(task int, _ func(int)) { f.pending = append(f.pending, task) }

// FinishBundle runs the batch and emits each task once its partial is
// written.
func (f *runTasksFn) FinishBundle(ctx context.Context, emit func(int)) error {
	p, in, err := planInputs(f.Plan)
	if err != nil {
		return err
	}
	slices.SortFunc(f.pending, func(a, b int) int {
		if c := p.Tasks[a].Shard - p.Tasks[b].Shard; c != 0 {
			return c
		}
		return a - b
	})
	for _, t := range f.pending {
		if err := in.RunTask(ctx, t); err != nil {
			return err
		}
		emit(t)
	}
	f.pending = f.pending[:0]
	return nil
}

// mergeFn merges every partial once all tasks are done.
type mergeFn struct {
	Plan  string `json:"plan"`
	Out   string `json:"out"`
	Tasks int    `json:"tasks"`
}

// ProcessElement checks that every task reported and merges.
func (f *mergeFn) ProcessElement(ctx context.Context, _ int, done func(*int) bool) error {
	seen := make([]bool, f.Tasks)
	var t int
	for done(&t) {
		if t < 0 || t >= f.Tasks {
			return fmt.Errorf("task %d out of range", t)
		}
		seen[t] = true
	}
	if i := slices.Index(seen, false); i >= 0 {
		return fmt.Errorf("task %d did not finish", i)
	}
	p, err := shard.ReadPlan(f.Plan)
	if err != nil {
		return err
	}
	_, err = shard.Merge(ctx, p, f.Out)
	return err
}

// embedSettings identifies one encoder configuration.
type embedSettings struct {
	Model, Pooling, Output, Tokenizer string
	Normalize                         bool
	BatchSize, MaxLength, Threads     int
}

type lockedEncoder struct {
	sync.Mutex
	enc *onnx.Encoder
}

// encoder returns the process's encoder for s (ONNX sessions are opened
// once per process).
func encoder(s embedSettings) (*lockedEncoder, error) {
	encodersMu.Lock()
	defer encodersMu.Unlock()
	if e, ok := encoders[s]; ok {
		return e, nil
	}
	enc, err := onnx.OpenEncoder(s.Model, onnx.EncoderSettings{Output: s.Output, Pooling: onnx.Pooling(s.Pooling), Normalize: s.Normalize,
		BatchSize: s.BatchSize, MaxLength: s.MaxLength, Tokenizer: s.Tokenizer, Threads: s.Threads})
	if err != nil {
		return nil, err
	}
	e := &lockedEncoder{enc: enc}
	encoders[s] = e
	return e, nil
}

// embedJob is `embfit-beam embed`.
type embedJob struct {
	embedSettings
	input, field, out string
	shards            int
}

func (e *embedJob) flags(fs *flag.FlagSet) {
	fs.StringVar(&e.Model, "model", "", "ONNX model file or folder")
	fs.StringVar(&e.input, "input", "", "JSONL input (on storage every worker sees)")
	fs.StringVar(&e.field, "field", "", "field holding the item (default text, or tensor for float models)")
	fs.StringVar(&e.out, "out", "", "embeddings .npy to write (its sidecar beside it); shard files go to OUT.shard-I-of-N.npy")
	fs.IntVar(&e.shards, "shards", 1, "number of row shards (one element each)")
	fs.StringVar(&e.Pooling, "pooling", "", "mean | cls | max | none")
	fs.StringVar(&e.Output, "output", "", "model output to use")
	fs.StringVar(&e.Tokenizer, "tokenizer", "", "tokenizer.json to use instead of the model's")
	fs.BoolVar(&e.Normalize, "normalize", false, "scale embeddings to unit L2 norm")
	fs.IntVar(&e.BatchSize, "batch-size", onnx.DefaultBatchSize, "items per ONNX Runtime run")
	fs.IntVar(&e.MaxLength, "max-length", onnx.DefaultMaxLength, "max tokens per text")
	fs.IntVar(&e.Threads, "threads", 0, "ONNX Runtime intra-op threads (default: all cores)")
}

func (e *embedJob) check() error {
	switch {
	case e.Model == "" || e.input == "" || e.out == "":
		return errors.New("--model, --input and --out are required")
	case e.shards < 1:
		return fmt.Errorf("--shards %d: must be at least 1", e.shards)
	case e.BatchSize < 1 || e.MaxLength < 1:
		return errors.New("--batch-size and --max-length must be positive")
	}
	// Workers may run in another folder.
	return absPaths(&e.Model, &e.input, &e.out, &e.Tokenizer)
}

func (e *embedJob) build(s beam.Scope) error {
	idx := make([]int, e.shards)
	for i := range idx {
		idx[i] = i
	}
	fn := &embedShardFn{Settings: e.embedSettings, Input: e.input, Field: e.field, Out: e.out, Shards: e.shards}
	paths := beam.ParDo(s, fn, beam.Reshuffle(s, beam.CreateList(s, idx)))
	beam.ParDo0(s, &concatFn{Out: e.out, Shards: e.shards}, beam.GroupByKey(s, beam.AddFixedKey(s, paths)))
	return nil
}

// shardPath is shard i's output beside out.
func shardPath(out string, i, n int) string {
	return fmt.Sprintf("%s.shard-%d-of-%d.npy", strings.TrimSuffix(out, ".npy"), i, n)
}

// embedShardFn embeds one row shard (`embfit embed --shard i/n`).
type embedShardFn struct {
	Settings embedSettings `json:"settings"`
	Input    string        `json:"input"`
	Field    string        `json:"field"`
	Out      string        `json:"out"`
	Shards   int           `json:"shards"`
}

// ProcessElement embeds shard i and emits its file.
func (f *embedShardFn) ProcessElement(ctx context.Context, i int, emit func(string)) error {
	e, err := encoder(f.Settings)
	if err != nil {
		return err
	}
	e.Lock()
	defer e.Unlock()
	path := shardPath(f.Out, i, f.Shards)
	_, err = embed.JSONL(ctx, e.enc, embed.FileSettings{Input: f.Input, Field: f.Field, Out: path, Shard: i, Shards: f.Shards})
	if err != nil {
		return err
	}
	emit(path)
	return nil
}

// concatFn joins the shards in order once all are written.
type concatFn struct {
	Out    string `json:"out"`
	Shards int    `json:"shards"`
}

// ProcessElement checks that every shard reported and concatenates.
func (f *concatFn) ProcessElement(_ context.Context, _ int, paths func(*string) bool) error {
	var got []string
	var p string
	for paths(&p) {
		got = append(got, p)
	}
	want := make([]string, f.Shards)
	for i := range want {
		want[i] = shardPath(f.Out, i, f.Shards)
	}
	slices.Sort(got)
	sorted := slices.Clone(want)
	slices.Sort(sorted)
	if !slices.Equal(got, sorted) {
		return fmt.Errorf("shards written %v, want %v", got, want)
	}
	return shard.ConcatEmbeddings(f.Out, want)
}

// absPaths makes the non-empty paths absolute.
func absPaths(paths ...*string) error {
	for _, p := range paths {
		if *p == "" {
			continue
		}
		a, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = a
	}
	return nil
}
