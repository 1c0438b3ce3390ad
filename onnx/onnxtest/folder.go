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

// STFolder describes a sentence-transformers model folder around a
// TokenModel, laid out as sentence-transformers' ONNX export saves it:
// onnx/model.onnx, tokenizer.json, modules.json (Transformer, Pooling,
// optionally Normalize), 1_Pooling/config.json, sentence_bert_config.json,
// config_sentence_transformers.json and tokenizer_config.json. Zero
// fields leave the corresponding key out, so the reader's defaults apply.
type STFolder struct {
	Model TokenModel
	// Pooling is the pooling mode ("cls", "mean", "max",
	// "mean_sqrt_len_tokens", "weightedmean", "lasttoken"); "" writes no
	// Pooling module.
	Pooling string
	// PoolingFlags writes the pooling_mode_* booleans (as
	// sentence-transformers saves them) instead of "pooling_mode".
	PoolingFlags bool
	// IncludePrompt, when set, writes include_prompt.
	IncludePrompt *bool
	Normalize     bool
	MaxSeqLength  int
	LowerCase     bool
	// Prompts, DefaultPromptName and Similarity go to
	// config_sentence_transformers.json.
	Prompts           map[string]string
	DefaultPromptName string
	Similarity        string
	// PaddingSide and ModelMaxLength go to tokenizer_config.json.
	PaddingSide    string
	ModelMaxLength int
	// Variants are extra copies of the model under onnx/ (e.g.
	// "model_O4.onnx"), as optimized and quantized exports sit beside
	// model.onnx.
	Variants []string
}

// Write writes the folder into dir and returns the model it holds (Model
// is dir/onnx/model.onnx).
func (f STFolder) Write(dir string) (Written, error) {
	w, err := f.Model.Write(dir)
	if err != nil {
		return w, err
	}
	onnxDir := filepath.Join(dir, "onnx")
	if err := os.MkdirAll(onnxDir, 0o755); err != nil {
		return w, err
	}
	model := filepath.Join(onnxDir, "model.onnx")
	if err := os.Rename(w.Model, model); err != nil {
		return w, err
	}
	w.Model = model
	b, err := os.ReadFile(model)
	if err != nil {
		return w, err
	}
	for _, v := range f.Variants {
		if err := atomicfile.WriteFile(filepath.Join(onnxDir, v), b); err != nil {
			return w, err
		}
	}
	modules := []map[string]any{{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}}
	if f.Pooling != "" {
		modules = append(modules, map[string]any{"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"})
		cfg := map[string]any{"word_embedding_dimension": w.Dim}
		if f.PoolingFlags {
			for _, m := range []struct{ key, mode string }{
				{"pooling_mode_cls_token", "cls"}, {"pooling_mode_mean_tokens", "mean"}, {"pooling_mode_max_tokens", "max"},
				{"pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len_tokens"}, {"pooling_mode_weightedmean_tokens", "weightedmean"},
				{"pooling_mode_lasttoken", "lasttoken"},
			} {
				cfg[m.key] = m.mode == f.Pooling
			}
		} else {
			cfg["pooling_mode"] = f.Pooling
		}
		if f.IncludePrompt != nil {
			cfg["include_prompt"] = *f.IncludePrompt
		}
		if err := writeJSON(filepath.Join(dir, "1_Pooling", "config.json"), cfg); err != nil {
			return w, err
		}
	}
	if f.Normalize {
		modules = append(modules, map[string]any{"idx": len(modules), "name": fmt.Sprint(len(modules)), "path": fmt.Sprintf("%d_Normalize", len(modules)), "type": "sentence_transformers.models.Normalize"})
	}
	if err := writeJSON(filepath.Join(dir, "modules.json"), modules); err != nil {
		return w, err
	}
	sb := map[string]any{}
	if f.MaxSeqLength > 0 {
		sb["max_seq_length"] = f.MaxSeqLength
	}
	if f.LowerCase {
		sb["do_lower_case"] = true
	}
	if err := writeJSON(filepath.Join(dir, "sentence_bert_config.json"), sb); err != nil {
		return w, err
	}
	st := map[string]any{"__version__": map[string]string{"sentence_transformers": "5.1.0"}, "model_type": "SentenceTransformer"}
	if f.Prompts != nil {
		st["prompts"] = f.Prompts
	}
	if f.DefaultPromptName != "" {
		st["default_prompt_name"] = f.DefaultPromptName
	} else {
		st["default_prompt_name"] = nil
	}
	if f.Similarity != "" {
		st["similarity_fn_name"] = f.Similarity
	}
	if err := writeJSON(filepath.Join(dir, "config_sentence_transformers.json"), st); err != nil {
		return w, err
	}
	tc := map[string]any{"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 1e30}
	if f.ModelMaxLength > 0 {
		tc["model_max_length"] = f.ModelMaxLength
	}
	if f.PaddingSide != "" {
		tc["padding_side"] = f.PaddingSide
	}
	return w, writeJSON(filepath.Join(dir, "tokenizer_config.json"), tc)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b)
}

// TensorModel describes a tensor encoder such as an image or audio
// embedding export: one float32 input "input" [batch, ItemShape…] (e.g.
// NHWC [batch,76,32,1]) and one output "embedding" of shape [batch,
// OutShape…] whose values are the flattened item times a seeded random W
// (prod(ItemShape) × D, D = the product of OutShape; e.g. OutShape [1,1,96]
// gives a rank-4 output [batch,1,1,96]).
type TensorModel struct {
	ItemShape []int64 // default [4,3,1]
	OutShape  []int64 // default [1,1,5]
	// FixedBatch, when positive, fixes the batch dimension of the input
	// and output at that size, as some exports do.
	FixedBatch int64
	Seed       uint64
}

// Write writes the model to path and returns W (row-major) and D.
func (tm TensorModel) Write(path string) (w []float32, d int, err error) {
	if tm.ItemShape == nil {
		tm.ItemShape = []int64{4, 3, 1}
	}
	if tm.OutShape == nil {
		tm.OutShape = []int64{1, 1, 5}
	}
	in, out := int64(1), int64(1)
	for _, x := range tm.ItemShape {
		in *= x
	}
	for _, x := range tm.OutShape {
		out *= x
	}
	rng := rand.New(rand.NewPCG(tm.Seed, 0x7e45))
	w = make([]float32, in*out)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	batch := graph.Sym("batch")
	b := int64(-1)
	if tm.FixedBatch > 0 {
		batch, b = graph.Fixed(tm.FixedBatch), tm.FixedBatch
	}
	m := graph.New("onnxtest_tensor_model", 0)
	dims := []graph.Dim{batch}
	for _, x := range tm.ItemShape {
		dims = append(dims, graph.Fixed(x))
	}
	m.AddInput("input", graph.Float, dims...)
	m.AddInitializerInt64("flat_shape", []int64{2}, []int64{b, in})
	m.AddInitializerFloat("W", []int64{in, out}, w)
	m.AddInitializerInt64("out_shape", []int64{int64(len(tm.OutShape) + 1)}, append([]int64{b}, tm.OutShape...))
	m.AddNode("Reshape", []string{"input", "flat_shape"}, []string{"flat"})
	m.AddNode("MatMul", []string{"flat", "W"}, []string{"projected"})
	m.AddNode("Reshape", []string{"projected", "out_shape"}, []string{"embedding"})
	odims := []graph.Dim{batch}
	for _, x := range tm.OutShape {
		odims = append(odims, graph.Fixed(x))
	}
	m.AddOutput("embedding", graph.Float, odims...)
	return w, int(out), m.Save(path)
}
