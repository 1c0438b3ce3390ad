package onnx

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	ort "github.com/yalue/onnxruntime_go"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/inputerr"
	"github.com/embfit/embfit/internal/rows"
	"github.com/embfit/embfit/onnx/tokenizer"
)

// Pooling turns a model's output for one item into one vector.
type Pooling string

// Poolings. PoolingAuto (the zero value) is mean for token outputs
// [B,T,D] and none for pooled outputs [B,D].
const (
	PoolingAuto Pooling = ""
	PoolingMean Pooling = "mean" // mean of token vectors where attention_mask is 1
	PoolingCLS  Pooling = "cls"  // the first token's vector
	PoolingMax  Pooling = "max"  // elementwise max over unmasked tokens
	PoolingNone Pooling = "none" // the output is already [B,D]
)

// Default encoder settings.
const (
	DefaultBatchSize = 64
	DefaultMaxLength = 256
)

// EncoderSettings configures an Encoder. The zero value means defaults.
type EncoderSettings struct {
	// Output names the model output to embed with; default
	// "sentence_embedding", else "last_hidden_state", else the only output.
	Output string `json:"output,omitempty"`
	// Pooling; default PoolingAuto.
	Pooling Pooling `json:"pooling,omitempty"`
	// Normalize scales every embedding to unit L2 norm.
	Normalize bool `json:"normalize"`
	// BatchSize is the number of items per session run (default 64).
	BatchSize int `json:"batch_size,omitempty"`
	// MaxLength is the maximum number of tokens per text, special tokens
	// included (default 256). It is clamped, with a warning, to the model's
	// limit when one is known (a fixed sequence dimension of input_ids,
	// tokenizer_config.json's model_max_length, tokenizer.json's
	// truncation).
	MaxLength int `json:"max_length,omitempty"`
	// Tokenizer is a tokenizer.json overriding the one found beside the
	// model.
	Tokenizer string `json:"tokenizer,omitempty"`
	// Threads is ORT's intra-op thread count (default: cores).
	Threads int `json:"threads,omitempty"`
	// Progress, if set, is called after every batch with the number of
	// items embedded so far and the total.
	Progress func(done, total int) `json:"-"`
}

// Encoder embeds items with an ONNX model: texts for models with
// input_ids (+ attention_mask, token_type_ids) int64 inputs, float vectors
// for models with one float32 input. It is not safe for concurrent use.
type Encoder struct {
	files    ModelFiles
	info     ModelInfo
	set      EncoderSettings
	tok      *tokenizer.Tokenizer
	sess     *ort.DynamicAdvancedSession
	inNames  []string
	text     bool
	float    []int64 // per-item shape of the float input
	outRank  int     // 2 or 3, 0 if unknown until the first run
	dim      int
	warnings []string

	runTime time.Duration
}

// OpenEncoder opens model (an .onnx file or a model folder, see
// ResolveModel) with settings s. Errors name the model file.
func OpenEncoder(model string, s EncoderSettings) (*Encoder, error) {
	files, err := ResolveModel(model)
	if err != nil {
		return nil, err
	}
	if s.Tokenizer != "" {
		files.Tokenizer = s.Tokenizer
	}
	info, err := Inspect(files.Model)
	if err != nil {
		return nil, fmt.Errorf("model %w", err)
	}
	e := &Encoder{files: files, info: info, set: s}
	if err := e.validate(); err != nil {
		return nil, fmt.Errorf("model %s: %w", files.Model, err)
	}
	if e.text {
		if files.Tokenizer == "" {
			return nil, inputerr.Settingf("tokenizer", "model %s is a text model without tokenizer.json beside it: give one", files.Model)
		}
		if e.tok, err = tokenizer.Load(files.Tokenizer); err != nil {
			return nil, fmt.Errorf("tokenizer %w", err)
		}
		e.clampMaxLength()
	}
	if err := Init(); err != nil {
		return nil, err
	}
	opts, err := newSessionOptions(s.Threads)
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	e.sess, err = ort.NewDynamicAdvancedSession(files.Model, e.inNames, []string{e.set.Output}, opts)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", files.Model, ortError(err))
	}
	if e.dim == 0 {
		if err := e.probeDim(); err != nil {
			e.Close()
			return nil, fmt.Errorf("model %s: %w", files.Model, err)
		}
	}
	return e, nil
}

var textInputs = []string{"input_ids", "attention_mask", "token_type_ids"}

// validate binds inputs, picks the output and checks the settings.
func (e *Encoder) validate() error {
	s := &e.set
	if s.BatchSize == 0 {
		s.BatchSize = DefaultBatchSize
	}
	if s.BatchSize < 0 {
		return fmt.Errorf("batch size %d: must be positive", s.BatchSize)
	}
	if s.MaxLength == 0 {
		s.MaxLength = DefaultMaxLength
	}
	if s.MaxLength < 0 {
		return fmt.Errorf("max length %d: must be positive", s.MaxLength)
	}
	ins := e.info.Inputs
	if len(ins) == 0 {
		return errors.New("model has no inputs")
	}
	if len(ins) == 1 && ins[0].Type == graphFloat {
		e.inNames = []string{ins[0].Name}
		if len(ins[0].Dims) < 2 {
			return fmt.Errorf("float input %s: want [batch, ...] with rank ≥ 2", ins[0])
		}
		for _, d := range ins[0].Dims[1:] {
			if d.Param != "" || d.Value < 0 {
				e.float = nil // per-item shape given at embed time
				break
			}
			e.float = append(e.float, d.Value)
		}
	} else {
		e.text = true
		hasIDs := false
		for _, in := range ins {
			if !slices.Contains(textInputs, in.Name) || in.Type != graphInt64 {
				return fmt.Errorf("cannot bind input %s: embfit binds int64 input_ids, attention_mask, token_type_ids, or one float32 tensor", in)
			}
			hasIDs = hasIDs || in.Name == "input_ids"
			e.inNames = append(e.inNames, in.Name)
		}
		if !hasIDs {
			return errors.New("text model without an input_ids input")
		}
	}
	outs := e.info.Outputs
	if s.Output == "" {
		for _, want := range []string{"sentence_embedding", "last_hidden_state"} {
			for _, o := range outs {
				if o.Name == want && s.Output == "" {
					s.Output = want
				}
			}
		}
		if s.Output == "" {
			if len(outs) != 1 {
				names := make([]string, len(outs))
				for i, o := range outs {
					names[i] = o.Name
				}
				return inputerr.Settingf("output", "several outputs (%s) and none named sentence_embedding or last_hidden_state: choose one", strings.Join(names, ", "))
			}
			s.Output = outs[0].Name
		}
	}
	var out *ValueInfo
	for i := range outs {
		if outs[i].Name == s.Output {
			out = &outs[i]
		}
	}
	if out == nil {
		return fmt.Errorf("no output named %q", s.Output)
	}
	if out.Type != graphFloat {
		return fmt.Errorf("output %s: want float32", out)
	}
	if out.Dims != nil {
		e.outRank = len(out.Dims)
		if e.outRank != 2 && e.outRank != 3 {
			return fmt.Errorf("output %s: want [B,D] or [B,T,D]", out)
		}
		if last := out.Dims[len(out.Dims)-1]; last.Param == "" && last.Value > 0 {
			e.dim = int(last.Value)
		}
	}
	switch s.Pooling {
	case PoolingAuto, PoolingMean, PoolingCLS, PoolingMax, PoolingNone:
	default:
		return fmt.Errorf("pooling %q: want mean, cls, max or none", s.Pooling)
	}
	if e.outRank != 0 {
		if err := e.checkPooling(); err != nil {
			return fmt.Errorf("output %s: %w", out, err)
		}
	}
	return nil
}

func (e *Encoder) checkPooling() error {
	p := e.set.Pooling
	if p == PoolingAuto {
		p = PoolingMean
		if e.outRank == 2 {
			p = PoolingNone
		}
		e.set.Pooling = p
	}
	if e.outRank == 2 && p != PoolingNone {
		return fmt.Errorf("pooling %s needs token vectors [B,T,D]; this output is already pooled (use pooling none)", p)
	}
	if e.outRank == 3 && p == PoolingNone {
		return fmt.Errorf("token vectors [B,T,D] need pooling mean, cls or max")
	}
	return nil
}

func (e *Encoder) clampMaxLength() {
	limit, from := 0, ""
	lower := func(n int, src string) {
		if n > 0 && (limit == 0 || n < limit) {
			limit, from = n, src
		}
	}
	for _, in := range e.info.Inputs {
		if in.Name == "input_ids" && len(in.Dims) == 2 && in.Dims[1].Param == "" && in.Dims[1].Value > 0 {
			lower(int(in.Dims[1].Value), "the model's input_ids shape")
		}
	}
	lower(e.files.MaxLength, "tokenizer_config.json")
	lower(e.tok.MaxLength(), "tokenizer.json's truncation")
	if limit > 0 && e.set.MaxLength > limit {
		e.warnings = append(e.warnings, fmt.Sprintf("max length %d is above the model's limit %d (from %s): using %d", e.set.MaxLength, limit, from, limit))
		e.set.MaxLength = limit
	}
}

// probeDim runs one item to learn the embedding size and output rank when
// the model file does not state them.
func (e *Encoder) probeDim() error {
	dst := blas32.General{Rows: 1, Cols: 0}
	var err error
	if e.text {
		_, err = e.embedTexts(context.Background(), []string{"a"}, dst, true)
	} else {
		if e.float == nil {
			return errors.New("cannot tell the embedding size: the float input's item shape is not fixed")
		}
		n := 1
		for _, d := range e.float {
			n *= int(d)
		}
		_, err = e.embedFloats(context.Background(), blas32.General{Rows: 1, Cols: n, Stride: n, Data: make([]float32, n)}, e.float, dst, true)
	}
	return err
}

// Dim is the embedding size D.
func (e *Encoder) Dim() int { return e.dim }

// IsText reports whether the model takes token ids (Encode), as
// opposed to one float tensor (EncodeFloats).
func (e *Encoder) IsText() bool { return e.text }

// Settings returns the effective settings (defaults filled in, output and
// pooling resolved, max length clamped).
func (e *Encoder) Settings() EncoderSettings { return e.set }

// Files returns the model's resolved files.
func (e *Encoder) Files() ModelFiles { return e.files }

// Info describes the model's inputs, outputs and opset.
func (e *Encoder) Info() ModelInfo { return e.info }

// Tokenizer returns the text model's tokenizer (nil for float models).
func (e *Encoder) Tokenizer() *tokenizer.Tokenizer { return e.tok }

// Warnings lists adjustments made to the settings (e.g. a clamped max
// length), one sentence each.
func (e *Encoder) Warnings() []string { return e.warnings }

// RunTime is the total time spent inside ONNX Runtime's session run so far.
func (e *Encoder) RunTime() time.Duration { return e.runTime }

// Close releases the ORT session.
func (e *Encoder) Close() error {
	if e.sess == nil {
		return nil
	}
	err := e.sess.Destroy()
	e.sess = nil
	return err
}

// Encode embeds texts into dst (len(texts) × Dim(), caller-owned),
// row i for texts[i]. Texts are tokenized (truncated to MaxLength), sorted
// by length into batches of BatchSize to waste little padding, run, pooled
// and optionally normalized; results do not depend on the thread count. A
// text with no tokens (empty, with a tokenizer that adds no special
// tokens) gets the zero vector under mean pooling. It stops with ctx's
// error when ctx is cancelled (also during a running batch).
func (e *Encoder) Encode(ctx context.Context, dst blas32.General, texts []string) error {
	if !e.text {
		return errors.New("model takes a float tensor, not text")
	}
	e.checkDst(len(texts), dst)
	_, err := e.embedTexts(ctx, texts, dst, false)
	return err
}

// EncodeFloats embeds items given as rows of x (each row one item, its
// values in row-major order of itemShape) into dst (x.Rows × Dim()).
// itemShape may be nil when the model's float input has fixed
// non-batch dimensions.
func (e *Encoder) EncodeFloats(ctx context.Context, dst, x blas32.General, itemShape []int64) error {
	if e.text {
		return errors.New("model takes token ids, not a float tensor")
	}
	if itemShape == nil {
		itemShape = e.float
	}
	if itemShape == nil {
		return errors.New("the model's item shape is not fixed: give one")
	}
	n := int64(1)
	for _, d := range itemShape {
		n *= d
	}
	if int64(x.Cols) != n {
		return fmt.Errorf("items have %d values, shape %v needs %d", x.Cols, itemShape, n)
	}
	e.checkDst(x.Rows, dst)
	_, err := e.embedFloats(ctx, x, itemShape, dst, false)
	return err
}

func (e *Encoder) checkDst(n int, dst blas32.General) {
	if dst.Rows != n || dst.Cols != e.dim {
		panic(fmt.Sprintf("onnx: dst is %dx%d, want %dx%d", dst.Rows, dst.Cols, n, e.dim))
	}
}

// encoded is one tokenized text.
type encoded struct {
	ids, types []int64
}

func (e *Encoder) tokenize(ctx context.Context, texts []string) ([]encoded, error) {
	out := make([]encoded, len(texts))
	workers := Threads()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(texts); i += workers {
				if i%1024 == w && ctx.Err() != nil {
					return
				}
				en := e.tok.Encode(texts[i], e.set.MaxLength)
				out[i] = encoded{ids: en.IDs, types: en.TypeIDs}
			}
		}(w)
	}
	wg.Wait()
	return out, ctx.Err()
}

// runner runs the session, cancelling a running batch when ctx is done.
func (e *Encoder) run(ctx context.Context, inputs []ort.Value, out []ort.Value) error {
	opts, err := ort.NewRunOptions()
	if err != nil {
		return err
	}
	defer opts.Destroy()
	stop := context.AfterFunc(ctx, func() { opts.Terminate() })
	defer stop()
	t0 := time.Now()
	err = e.sess.RunWithOptions(inputs, out, opts)
	e.runTime += time.Since(t0)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return ortError(err)
}

func (e *Encoder) embedTexts(ctx context.Context, texts []string, dst blas32.General, probe bool) (int, error) {
	enc, err := e.tokenize(ctx, texts)
	if err != nil {
		return 0, err
	}
	order := make([]int, len(texts))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return len(enc[a].ids) - len(enc[b].ids) })
	bs := max(1, min(e.set.BatchSize, len(texts))) // buffers sized from the data
	maxT := 1
	for _, en := range enc {
		maxT = max(maxT, len(en.ids))
	}
	ids := make([]int64, bs*maxT)
	mask := make([]int64, bs*maxT)
	types := make([]int64, bs*maxT)
	lengths := make([]int, bs)
	pad := e.tok.PadID()
	for start := 0; start < len(order); start += bs {
		if err := ctx.Err(); err != nil {
			return start, err
		}
		batch := order[start:min(start+bs, len(order))]
		b := len(batch)
		t := 1
		for _, i := range batch {
			t = max(t, len(enc[i].ids))
		}
		for r, i := range batch {
			en := enc[i]
			lengths[r] = len(en.ids)
			row := ids[r*t : (r+1)*t]
			copy(row, en.ids)
			copy(types[r*t:(r+1)*t], en.types)
			for k := range row {
				if k < len(en.ids) {
					mask[r*t+k] = 1
				} else {
					row[k], mask[r*t+k], types[r*t+k] = pad, 0, 0
				}
			}
		}
		shape := ort.NewShape(int64(b), int64(t))
		inputs := make([]ort.Value, len(e.inNames))
		for k, name := range e.inNames {
			var data []int64
			switch name {
			case "input_ids":
				data = ids
			case "attention_mask":
				data = mask
			default:
				data = types
			}
			v, err := ort.NewTensor(shape, data[:b*t])
			if err != nil {
				destroyAll(inputs)
				return start, err
			}
			inputs[k] = v
		}
		err := e.runAndPool(ctx, inputs, batch, lengths[:b], t, dst, probe)
		destroyAll(inputs)
		if err != nil {
			return start, err
		}
		if e.set.Progress != nil && !probe {
			e.set.Progress(start+b, len(order))
		}
	}
	return len(order), nil
}

func (e *Encoder) embedFloats(ctx context.Context, x blas32.General, itemShape []int64, dst blas32.General, probe bool) (int, error) {
	bs := max(1, min(e.set.BatchSize, x.Rows)) // buffers sized from the data
	n := x.Cols
	buf := make([]float32, bs*n)
	lengths := make([]int, bs)
	batch := make([]int, bs)
	for start := 0; start < x.Rows; start += bs {
		if err := ctx.Err(); err != nil {
			return start, err
		}
		b := min(bs, x.Rows-start)
		for r := 0; r < b; r++ {
			copy(buf[r*n:(r+1)*n], x.Data[(start+r)*x.Stride:(start+r)*x.Stride+n])
			batch[r] = start + r
			lengths[r] = -1 // no mask: every position counts
		}
		shape := append(ort.NewShape(int64(b)), itemShape...)
		v, err := ort.NewTensor(shape, buf[:b*n])
		if err != nil {
			return start, err
		}
		inputs := []ort.Value{v}
		err = e.runAndPool(ctx, inputs, batch[:b], lengths[:b], 0, dst, probe)
		destroyAll(inputs)
		if err != nil {
			return start, err
		}
		if e.set.Progress != nil && !probe {
			e.set.Progress(start+b, x.Rows)
		}
	}
	return x.Rows, nil
}

func destroyAll(vs []ort.Value) {
	for _, v := range vs {
		if v != nil {
			v.Destroy()
		}
	}
}

// runAndPool runs one batch and writes row batch[r] of dst for each item
// r. lengths[r] is the number of real tokens of item r (-1: all).
func (e *Encoder) runAndPool(ctx context.Context, inputs []ort.Value, batch []int, lengths []int, seqLen int, dst blas32.General, probe bool) error {
	out := []ort.Value{nil}
	if err := e.run(ctx, inputs, out); err != nil {
		return err
	}
	defer destroyAll(out)
	t, ok := out[0].(*ort.Tensor[float32])
	if !ok {
		return fmt.Errorf("output %s: not a float32 tensor", e.set.Output)
	}
	shape := t.GetShape()
	b := int64(len(batch))
	switch {
	case len(shape) == 2 && shape[0] == b:
	case len(shape) == 3 && shape[0] == b && (seqLen == 0 || shape[1] == int64(seqLen)):
	default:
		return fmt.Errorf("output %s has shape %v for a batch of %d: want [B,D] or [B,T,D]", e.set.Output, shape, b)
	}
	d := int(shape[len(shape)-1])
	if probe || e.outRank == 0 {
		if e.outRank == 0 {
			e.outRank = len(shape)
			if err := e.checkPooling(); err != nil {
				return fmt.Errorf("output %s: %w", e.set.Output, err)
			}
		}
		if e.dim == 0 {
			e.dim = d
		}
		if probe {
			return nil
		}
	}
	if len(shape) != e.outRank || d != e.dim {
		return fmt.Errorf("output %s has shape %v, want rank %d and last dimension %d", e.set.Output, shape, e.outRank, e.dim)
	}
	data := t.GetData()
	tt := 1
	if len(shape) == 3 {
		tt = int(shape[1])
	}
	acc := make([]float64, d)
	for r, i := range batch {
		row := dst.Data[i*dst.Stride : i*dst.Stride+d]
		item := data[r*tt*d : (r+1)*tt*d]
		n := lengths[r]
		if n < 0 || n > tt {
			n = tt
		}
		pool(row, item, n, d, e.set.Pooling, acc)
		if e.set.Normalize {
			rows.NormalizeVec(row, row)
		}
	}
	return nil
}

// pool writes into row the pooling of item's first n token vectors of
// size d (item is [T,d] row-major), accumulating in float64.
func pool(row, item []float32, n, d int, p Pooling, acc []float64) {
	switch p {
	case PoolingNone, PoolingCLS:
		copy(row, item[:d])
	case PoolingMax:
		copy(row, item[:d])
		for k := 1; k < n; k++ {
			for j, v := range item[k*d : (k+1)*d] {
				if v > row[j] {
					row[j] = v
				}
			}
		}
	default: // mean
		clear(acc)
		for k := 0; k < n; k++ {
			for j, v := range item[k*d : (k+1)*d] {
				acc[j] += float64(v)
			}
		}
		inv := 1 / float64(max(n, 1))
		for j := range row {
			row[j] = float32(acc[j] * inv)
		}
	}
}
