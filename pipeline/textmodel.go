package pipeline

import (
	"context"
	"fmt"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/onnx"
)

// TextModel is an open ONNX text encoder whose embedding calls report
// their progress stage by stage. It serves the commands that embed texts
// with a --model (mine, audit). Not safe for concurrent use.
type TextModel struct {
	enc         *onnx.Encoder
	bar         ProgressReporter
	newProgress func(stage string, total int) ProgressReporter
}

// TextModelSettings tell OpenTextModel how to open and report.
type TextModelSettings struct {
	// Encoder are the encoder settings (its Progress is replaced).
	Encoder onnx.EncoderSettings
	// Alternative is the flag suggested when the model takes float
	// tensors instead of text (e.g. "--embeddings").
	Alternative string
	// Warn, when set, receives the encoder's warnings (one each).
	Warn func(msg string)
	// NewProgress, when set, starts the progress report of each Embed
	// call (stage as given to Embed, total the texts embedded).
	NewProgress func(stage string, total int) ProgressReporter
}

// OpenTextModel opens the ONNX encoder model (.onnx file or folder with
// tokenizer.json) and checks that it takes text. Errors read
// "--model: <why>" when the model cannot be opened and "--model MODEL:
// takes a float tensor, not text; embed with `embfit embed` and use
// <Alternative>" for a model of float inputs. Close the model when done.
func OpenTextModel(model string, s TextModelSettings) (*TextModel, error) {
	m := &TextModel{newProgress: s.NewProgress}
	set := s.Encoder
	set.Progress = func(done, total int) {
		if m.bar != nil {
			m.bar.Set(done)
		}
	}
	enc, err := onnx.OpenEncoder(model, set)
	if err != nil {
		return nil, fmt.Errorf("--model: %w", err)
	}
	if !enc.IsText() {
		enc.Close()
		return nil, fmt.Errorf("--model %s: takes a float tensor, not text; embed with `embfit embed` and use %s", model, s.Alternative)
	}
	if s.Warn != nil {
		for _, w := range enc.Warnings() {
			s.Warn(w)
		}
	}
	m.enc = enc
	return m, nil
}

// Encoder returns the underlying encoder (files, settings, dimension).
func (m *TextModel) Encoder() *onnx.Encoder { return m.enc }

// Close releases the encoder.
func (m *TextModel) Close() error { return m.enc.Close() }

// Embed embeds texts into a new len(texts)×Dim matrix (row i = text i),
// reporting progress as stage.
func (m *TextModel) Embed(ctx context.Context, stage string, texts []string) (blas32.General, error) {
	x := linalg.NewMatrix(len(texts), m.enc.Dim())
	if m.newProgress != nil {
		m.bar = m.newProgress(stage, len(texts))
	}
	err := m.enc.EmbedTexts(ctx, texts, x)
	if m.bar != nil {
		m.bar.Finish()
		m.bar = nil
	}
	return x, err
}

// EmbedDistinct is Embed that runs the encoder once per distinct text
// (progress counts distinct texts) and copies rows for repeats.
func (m *TextModel) EmbedDistinct(ctx context.Context, stage string, texts []string) (blas32.General, error) {
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
