// Package onnxtest writes small, real ONNX models (and their
// tokenizer.json) for tests and benchmarks, the way net/http/httptest
// serves test servers. The models run in ONNX Runtime like any export.
package onnxtest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/embfit/embfit/internal/atomicfile"
	"github.com/embfit/embfit/onnx/graph"
)

// TokenModel describes a text encoder with the interface of a BERT-style
// export: int64 input_ids and attention_mask [batch, sequence] in, float32
// last_hidden_state [batch, sequence, Dim] out. Token vectors are rows of
// a seeded random table (ids 0 = [PAD], 1 = [UNK], then Words), multiplied
// by the mask (zero at padding), then passed through Layers blocks of
// x ← tanh(x·W) (W Dim×Dim) when Layers > 0. Its tokenizer.json is a
// WordLevel model with the lower-casing BERT normalizer and
// pre-tokenizer, no special tokens.
type TokenModel struct {
	Words  []string // vocabulary after [PAD] and [UNK]; default DefaultWords
	Dim    int      // default 8
	Layers int      // MatMul+Tanh blocks after the lookup; default 0
	Seed   uint64
	// TokenTypeIDs adds a token_type_ids input (ignored by the graph).
	TokenTypeIDs bool
	// SentenceEmbedding adds a second output sentence_embedding [batch,
	// Dim]: the masked mean of last_hidden_state.
	SentenceEmbedding bool
}

// DefaultWords is a small vocabulary for tests.
var DefaultWords = []string{"the", "a", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "cat", "sat", "on", "mat", ".", ",", "!", "hello", "world", "red", "blue"}

// Written is what Write produced.
type Written struct {
	Dir       string    // folder holding model.onnx and tokenizer.json
	Model     string    // path of model.onnx
	Tokenizer string    // path of tokenizer.json
	Vocab     []string  // id → token
	Table     []float32 // the token table, len(Vocab) × Dim, row-major
	Layers    [][]float32
	Dim       int
}

// Write writes model.onnx and tokenizer.json into dir (created if
// needed).
func (tm TokenModel) Write(dir string) (Written, error) {
	if tm.Words == nil {
		tm.Words = DefaultWords
	}
	if tm.Dim == 0 {
		tm.Dim = 8
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Written{}, err
	}
	w := Written{Dir: dir, Model: filepath.Join(dir, "model.onnx"), Tokenizer: filepath.Join(dir, "tokenizer.json"), Dim: tm.Dim}
	w.Vocab = append([]string{"[PAD]", "[UNK]"}, tm.Words...)
	rng := rand.New(rand.NewPCG(tm.Seed, 0x5eed))
	d := int64(tm.Dim)
	w.Table = make([]float32, len(w.Vocab)*tm.Dim)
	for i := range w.Table {
		w.Table[i] = float32(rng.NormFloat64())
	}
	m := graph.New("onnxtest_token_model", 0)
	m.AddInput("input_ids", graph.Int64, graph.Sym("batch"), graph.Sym("sequence"))
	m.AddInput("attention_mask", graph.Int64, graph.Sym("batch"), graph.Sym("sequence"))
	if tm.TokenTypeIDs {
		m.AddInput("token_type_ids", graph.Int64, graph.Sym("batch"), graph.Sym("sequence"))
	}
	m.AddInitializerFloat("table", []int64{int64(len(w.Vocab)), d}, w.Table)
	m.AddInitializerInt64("axes_last", []int64{1}, []int64{-1})
	m.AddNode("Gather", []string{"table", "input_ids"}, []string{"vecs"}, graph.AttrInt("axis", 0))
	m.AddNode("Cast", []string{"attention_mask"}, []string{"maskf"}, graph.AttrInt("to", int64(graph.Float)))
	m.AddNode("Unsqueeze", []string{"maskf", "axes_last"}, []string{"mask3"})
	x := "masked"
	m.AddNode("Mul", []string{"vecs", "mask3"}, []string{x})
	for l := 0; l < tm.Layers; l++ {
		wl := make([]float32, tm.Dim*tm.Dim)
		for i := range wl {
			wl[i] = float32(rng.NormFloat64() / float64(tm.Dim))
		}
		w.Layers = append(w.Layers, wl)
		name := fmt.Sprintf("W%d", l)
		m.AddInitializerFloat(name, []int64{d, d}, wl)
		m.AddNode("MatMul", []string{x, name}, []string{name + "_mm"})
		x = name + "_tanh"
		m.AddNode("Tanh", []string{name + "_mm"}, []string{x})
	}
	m.AddNode("Identity", []string{x}, []string{"last_hidden_state"})
	m.AddOutput("last_hidden_state", graph.Float, graph.Sym("batch"), graph.Sym("sequence"), graph.Fixed(d))
	if tm.SentenceEmbedding {
		m.AddInitializerInt64("axes_seq", []int64{1}, []int64{1})
		m.AddNode("ReduceSum", []string{"last_hidden_state", "axes_seq"}, []string{"sum"}, graph.AttrInt("keepdims", 0))
		m.AddNode("ReduceSum", []string{"mask3", "axes_seq"}, []string{"count"}, graph.AttrInt("keepdims", 0))
		m.AddNode("Div", []string{"sum", "count"}, []string{"sentence_embedding"})
		m.AddOutput("sentence_embedding", graph.Float, graph.Sym("batch"), graph.Fixed(d))
	}
	if err := m.Save(w.Model); err != nil {
		return Written{}, err
	}
	return w, writeTokenizer(w.Tokenizer, w.Vocab)
}

func writeTokenizer(path string, vocab []string) error {
	v := make(map[string]int, len(vocab))
	for i, t := range vocab {
		v[t] = i
	}
	tok := map[string]any{
		"version":    "1.0",
		"truncation": nil,
		"padding":    nil,
		"added_tokens": []map[string]any{
			{"id": 0, "content": "[PAD]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
			{"id": 1, "content": "[UNK]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
		},
		"normalizer":     map[string]any{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": nil, "lowercase": true},
		"pre_tokenizer":  map[string]any{"type": "BertPreTokenizer"},
		"post_processor": nil,
		"decoder":        nil,
		"model":          map[string]any{"type": "WordLevel", "vocab": v, "unk_token": "[UNK]"},
	}
	b, err := json.MarshalIndent(tok, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b)
}

// FloatModel describes a feature model: one float32 input "features"
// [batch, In] and one output "embedding" [batch, Out] = features·W with a
// seeded random W (In×Out).
type FloatModel struct {
	In, Out int // default 6 and 4
	Seed    uint64
}

// Write writes the model to path and returns W (In×Out, row-major).
func (fm FloatModel) Write(path string) ([]float32, error) {
	if fm.In == 0 {
		fm.In = 6
	}
	if fm.Out == 0 {
		fm.Out = 4
	}
	rng := rand.New(rand.NewPCG(fm.Seed, 0xf10a7))
	w := make([]float32, fm.In*fm.Out)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	m := graph.New("onnxtest_float_model", 0)
	m.AddInput("features", graph.Float, graph.Sym("batch"), graph.Fixed(int64(fm.In)))
	m.AddInitializerFloat("W", []int64{int64(fm.In), int64(fm.Out)}, w)
	m.AddNode("MatMul", []string{"features", "W"}, []string{"embedding"})
	m.AddOutput("embedding", graph.Float, graph.Sym("batch"), graph.Fixed(int64(fm.Out)))
	return w, m.Save(path)
}
