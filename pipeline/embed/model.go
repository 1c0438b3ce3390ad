package embed

import (
	"context"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/inputerr"
	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/internal/progress"
	"github.com/embfit/embfit/onnx"
)

// Model is an open ONNX text encoder whose embedding calls report their
// progress stage by stage. It serves the jobs that embed texts with a
// model (mine, audit). Not safe for concurrent use.
type Model struct {
	enc      *onnx.Encoder
	progress progress.Func
	now      *current // shared with WithPrompt views, read by the encoder's callback
}

// current is the embedding call in progress.
type current struct {
	stage string
	total int
}

var _ Encoder = (*onnx.Encoder)(nil)

// ModelSettings tell Open how to open and report.
type ModelSettings struct {
	// Encoder are the encoder settings (its Progress is replaced).
	Encoder onnx.EncoderSettings
	// Warn, when set, receives the encoder's warnings (one each).
	Warn func(msg string)
	// Progress, when set, receives the progress of each embedding call
	// (the stage as given to Embed, in texts).
	Progress progress.Func
}

// Open opens the ONNX encoder model (.onnx file or folder with
// tokenizer.json) and checks that it takes text. Errors are
// *inputerr.Error values with Setting "model". Close the model when done.
func Open(model string, s ModelSettings) (*Model, error) {
	m := &Model{progress: s.Progress, now: &current{}}
	set := s.Encoder
	now := m.now
	set.Progress = func(done, total int) {
		if done < now.total {
			m.progress.Report(now.stage, done, now.total)
		}
	}
	enc, err := onnx.OpenEncoder(model, set)
	if err != nil {
		if _, ok := inputerr.As(err); ok {
			return nil, err // already names its setting
		}
		return nil, inputerr.SettingError("model", err)
	}
	if !enc.IsText() {
		in := enc.InputName()
		enc.Close()
		return nil, inputerr.Settingf("model", "%s takes a float tensor (input %s), not text", model, in)
	}
	if s.Warn != nil {
		for _, w := range enc.Warnings() {
			s.Warn(w)
		}
	}
	m.enc = enc
	return m, nil
}

// WithPrompt returns a model that shares m's encoder session but embeds
// with another prompt (see onnx.Encoder.WithPrompt); closing it does
// nothing.
func (m *Model) WithPrompt(prompt, name string) (*Model, error) {
	enc, err := m.enc.WithPrompt(prompt, name)
	if err != nil {
		return nil, err
	}
	return &Model{enc: enc, progress: m.progress, now: m.now}, nil
}

// Encoder returns the underlying encoder (files, settings, dimension).
func (m *Model) Encoder() *onnx.Encoder { return m.enc }

// Close releases the encoder.
func (m *Model) Close() error { return m.enc.Close() }

// Embed embeds texts into a new len(texts)×Dim matrix (row i = text i),
// reporting progress as stage.
func (m *Model) Embed(ctx context.Context, stage string, texts []string) (blas32.General, error) {
	x := linalg.NewMatrix(len(texts), m.enc.Dim())
	m.now.stage, m.now.total = stage, len(texts)
	m.progress.Report(stage, 0, len(texts))
	err := m.enc.Encode(ctx, x, texts)
	if err == nil {
		m.progress.Report(stage, len(texts), len(texts))
	}
	return x, err
}

// EmbedDistinct is Embed that runs the encoder once per distinct text
// (progress counts distinct texts) and copies rows for repeats.
func (m *Model) EmbedDistinct(ctx context.Context, stage string, texts []string) (blas32.General, error) {
	index := map[string]int{}
	var distinct []string
	rowOf := make([]int, len(texts))
	for i, t := range texts {
		j, ok := index[t]
		if !ok {
			j = len(distinct)
			index[t] = j
			distinct = append(distinct, t)
		}
		rowOf[i] = j
	}
	u, err := m.Embed(ctx, stage, distinct)
	if err != nil {
		return blas32.General{}, err
	}
	x := linalg.NewMatrix(len(texts), m.enc.Dim())
	for i, j := range rowOf {
		copy(linalg.Row(x, i), linalg.Row(u, j))
	}
	return x, nil
}
