// Package onnxtest writes small, real ONNX models (and their
// tokenizer.json) for tests and benchmarks, the way net/http/httptest
// serves test servers. The models run in ONNX Runtime like any export.
package onnxtest

import (
	"encoding/json"
	"fmt"
	"math"
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
	// Template adds special tokens through a TemplateProcessing
	// post-processor: "bert" is [CLS] $A [SEP], "eos" is $A </s> (as
	// decoder embedders append an end-of-sequence token). The tokens get
	// ids after Words.
	Template string
	// PositionIDs adds an int64 position_ids input [batch, sequence]:
	// the row PosTable[position_ids] is added to each token's vector.
	PositionIDs bool
	// Causal makes every output position the sum of the (masked) token
	// vectors up to it, like a decoder that attends only to the past, so
	// which position holds the last real token matters.
	Causal bool
	// CaseSensitive writes a normalizer that does not lower-case.
	CaseSensitive bool
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
	// PosTable (with PositionIDs) holds MaxPositions rows of Dim values.
	PosTable []float32
	Causal   bool
}

// MaxPositions is the number of rows of a TokenModel's position table.
const MaxPositions = 64

// Hidden computes in plain Go what the model outputs for one unpadded
// sequence of token ids (positions 0, 1, …): len(ids) rows of Dim values.
func (w Written) Hidden(ids []int64) [][]float32 {
	d := w.Dim
	out := make([][]float32, len(ids))
	for k, id := range ids {
		x := make([]float64, d)
		for j := range x {
			x[j] = float64(w.Table[int(id)*d+j])
			if w.PosTable != nil {
				x[j] += float64(w.PosTable[k*d+j])
			}
		}
		for _, l := range w.Layers {
			y := make([]float64, d)
			for j := range y {
				for i := range x {
					y[j] += x[i] * float64(l[i*d+j])
				}
				y[j] = math.Tanh(y[j])
			}
			x = y
		}
		out[k] = make([]float32, d)
		for j := range x {
			out[k][j] = float32(x[j])
		}
	}
	if w.Causal {
		for k := 1; k < len(out); k++ {
			for j := range out[k] {
				out[k][j] += out[k-1][j]
			}
		}
	}
	return out
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
	var specials []string
	switch tm.Template {
	case "":
	case "bert":
		specials = []string{"[CLS]", "[SEP]"}
	case "eos":
		specials = []string{"</s>"}
	default:
		return Written{}, fmt.Errorf("onnxtest: template %q: want bert or eos", tm.Template)
	}
	w.Vocab = append(w.Vocab, specials...)
	w.Causal = tm.Causal
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
	if tm.PositionIDs {
		m.AddInput("position_ids", graph.Int64, graph.Sym("batch"), graph.Sym("sequence"))
	}
	m.AddInitializerFloat("table", []int64{int64(len(w.Vocab)), d}, w.Table)
	m.AddInitializerInt64("axes_last", []int64{1}, []int64{-1})
	m.AddNode("Gather", []string{"table", "input_ids"}, []string{"vecs"}, graph.AttrInt("axis", 0))
	m.AddNode("Cast", []string{"attention_mask"}, []string{"maskf"}, graph.AttrInt("to", int64(graph.Float)))
	m.AddNode("Unsqueeze", []string{"maskf", "axes_last"}, []string{"mask3"})
	x := "vecs"
	if tm.PositionIDs {
		w.PosTable = make([]float32, MaxPositions*tm.Dim)
		for i := range w.PosTable {
			w.PosTable[i] = float32(rng.NormFloat64())
		}
		m.AddInitializerFloat("pos_table", []int64{MaxPositions, d}, w.PosTable)
		m.AddNode("Gather", []string{"pos_table", "position_ids"}, []string{"pos_vecs"}, graph.AttrInt("axis", 0))
		m.AddNode("Add", []string{"vecs", "pos_vecs"}, []string{"vecs_pos"})
		x = "vecs_pos"
	}
	m.AddNode("Mul", []string{x, "mask3"}, []string{"masked"})
	x = "masked"
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
	if tm.Causal {
		m.AddInitializerInt64("seq_axis", nil, []int64{1})
		m.AddNode("CumSum", []string{x, "seq_axis"}, []string{"causal"})
		m.AddNode("Mul", []string{"causal", "mask3"}, []string{"causal_masked"})
		x = "causal_masked"
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
	return w, writeTokenizer(w.Tokenizer, w.Vocab, tm.Template, !tm.CaseSensitive)
}

func writeTokenizer(path string, vocab []string, template string, lower bool) error {
	v := make(map[string]int, len(vocab))
	for i, t := range vocab {
		v[t] = i
	}
	added := []map[string]any{}
	for _, t := range []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "</s>"} {
		if id, ok := v[t]; ok {
			added = append(added, map[string]any{"id": id, "content": t, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true})
		}
	}
	tok := map[string]any{
		"version":        "1.0",
		"truncation":     nil,
		"padding":        nil,
		"added_tokens":   added,
		"normalizer":     map[string]any{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": nil, "lowercase": lower},
		"pre_tokenizer":  map[string]any{"type": "BertPreTokenizer"},
		"post_processor": postProcessor(v, template),
		"decoder":        nil,
		"model":          map[string]any{"type": "WordLevel", "vocab": v, "unk_token": "[UNK]"},
	}
	b, err := json.MarshalIndent(tok, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b)
}

func postProcessor(vocab map[string]int, template string) any {
	special := func(tok string) map[string]any {
		return map[string]any{"id": tok, "ids": []int{vocab[tok]}, "tokens": []string{tok}}
	}
	piece := func(tok string) map[string]any {
		return map[string]any{"SpecialToken": map[string]any{"id": tok, "type_id": 0}}
	}
	seq := map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}
	switch template {
	case "bert":
		return map[string]any{"type": "TemplateProcessing", "single": []any{piece("[CLS]"), seq, piece("[SEP]")},
			"special_tokens": map[string]any{"[CLS]": special("[CLS]"), "[SEP]": special("[SEP]")}}
	case "eos":
		return map[string]any{"type": "TemplateProcessing", "single": []any{seq, piece("</s>")},
			"special_tokens": map[string]any{"</s>": special("</s>")}}
	}
	return nil
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
