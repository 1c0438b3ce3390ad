package onnx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/embfit/embfit/internal/atomicfile"
	"github.com/embfit/embfit/internal/inputerr"
)

// Sources of a resolved setting (see Setting). Any other value is the path
// of the file the setting was read from.
const (
	SourceDefault  = "default"  // embfit's default
	SourceExplicit = "explicit" // given in EncoderSettings (a flag, a run config)
	SourceModel    = "model"    // the ONNX graph (a fixed dimension, an output's shape)
)

// Setting is one resolved setting and where it came from: SourceDefault,
// SourceExplicit, SourceModel or a file path.
type Setting[T any] struct {
	Value T      `json:"value"`
	From  string `json:"from"`
}

// Folder is what a model folder says about how its model is used, read
// the way sentence-transformers reads a saved model:
//
//   - modules.json: the module list; a Pooling module's folder holds
//     config.json, a Normalize module turns on normalization. Without
//     modules.json the folder is a plain Hugging Face export (mean
//     pooling, as sentence-transformers assumes).
//   - <pooling>/config.json: pooling_mode or the pooling_mode_* flags
//     (cls, mean, max, mean_sqrt_len_tokens, weightedmean, lasttoken; a
//     missing pooling_mode_mean_tokens counts as true, as in
//     sentence-transformers), include_prompt.
//   - sentence_bert_config.json: max_seq_length, do_lower_case.
//   - config_sentence_transformers.json: prompts, default_prompt_name,
//     similarity_fn_name.
//   - tokenizer_config.json: model_max_length (the 1e30 "no limit"
//     sentinel counts as none), padding_side.
//   - config.json: max_position_embeddings (with model_max_length, the
//     max length when sentence_bert_config.json gives none).
//
// A file that is absent leaves its settings at their defaults. A file
// that is present but is not JSON, or has a field of the wrong type or
// value, is an error naming the file and field: a model folder that is
// half read would embed silently wrong. Fields embfit does not use are
// ignored.
type Folder struct {
	// Root is the folder the files were read from ("" for a lone .onnx
	// file without a folder around it).
	Root string `json:"root"`

	Pooling       Setting[Pooling] `json:"pooling"`        // Value "" when the folder says nothing
	PoolingDim    int              `json:"pooling_dim"`    // word_embedding_dimension, 0 if absent
	IncludePrompt Setting[bool]    `json:"include_prompt"` // default true
	Normalize     Setting[bool]    `json:"normalize"`
	// Unsupported lists modules embfit cannot apply (e.g. a Dense layer
	// whose weights are not in the ONNX graph), as "path (type)".
	Unsupported    []string          `json:"unsupported,omitempty"`
	MaxSeqLength   Setting[int]      `json:"max_seq_length"` // 0 when none
	LowerCase      Setting[bool]     `json:"do_lower_case"`
	Prompts        map[string]string `json:"prompts,omitempty"`
	PromptsFrom    string            `json:"prompts_from,omitempty"`
	DefaultPrompt  Setting[string]   `json:"default_prompt_name"`
	Similarity     Setting[string]   `json:"similarity"`
	ModelMaxLength Setting[int]      `json:"model_max_length"` // 0 when none
	PaddingSide    Setting[string]   `json:"padding_side"`     // "right" or "left"
	MaxPositions   int               `json:"max_position_embeddings,omitempty"`
}

// Similarity functions a folder may name (sentence-transformers'
// similarity_fn_name).
var similarities = []string{"cosine", "dot", "euclidean", "manhattan"}

// ReadFolder reads the configuration files of the model folder root (see
// Folder). root "" gives the defaults.
func ReadFolder(root string) (Folder, error) {
	f := Folder{
		Root:           root,
		Pooling:        Setting[Pooling]{From: SourceDefault},
		IncludePrompt:  Setting[bool]{Value: true, From: SourceDefault},
		Normalize:      Setting[bool]{From: SourceDefault},
		MaxSeqLength:   Setting[int]{From: SourceDefault},
		LowerCase:      Setting[bool]{From: SourceDefault},
		DefaultPrompt:  Setting[string]{From: SourceDefault},
		Similarity:     Setting[string]{Value: "cosine", From: SourceDefault},
		ModelMaxLength: Setting[int]{From: SourceDefault},
		PaddingSide:    Setting[string]{Value: "right", From: SourceDefault},
	}
	if root == "" {
		return f, nil
	}
	for _, step := range []func() error{f.readModules, f.readSentenceBERT, f.readSTConfig, f.readTokenizerConfig, f.readHFConfig} {
		if err := step(); err != nil {
			return f, err
		}
	}
	return f, nil
}

// jsonObject reads path as one JSON object; ok is false when the file does
// not exist.
func jsonObject(path string) (obj map[string]json.RawMessage, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, inputerr.FileError(path, 0, err)
	}
	if err := json.Unmarshal(b, &obj); err != nil || obj == nil {
		if err == nil {
			err = errors.New("want a JSON object")
		}
		return nil, false, inputerr.FileError(path, 0, fmt.Errorf("not a JSON object: %w", err))
	}
	return obj, true, nil
}

func isNull(v json.RawMessage) bool { return v == nil || string(bytes.TrimSpace(v)) == "null" }

func field[T any](path string, obj map[string]json.RawMessage, name string, dst *T) (bool, error) {
	v, ok := obj[name]
	if !ok || isNull(v) {
		return false, nil
	}
	if err := json.Unmarshal(v, dst); err != nil {
		var zero T
		return false, inputerr.Fieldf(path, 0, name, "want a %s, got %s", typeName(zero), compactJSON(v))
	}
	return true, nil
}

func typeName(v any) string {
	switch v.(type) {
	case bool:
		return "boolean"
	case string:
		return "string"
	case float64, int:
		return "number"
	case map[string]string:
		return "object of strings"
	}
	return fmt.Sprintf("%T", v)
}

func compactJSON(v json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return string(v)
	}
	s := b.String()
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}

func (f *Folder) readModules() error {
	path := filepath.Join(f.Root, "modules.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return inputerr.FileError(path, 0, err)
	}
	var mods []struct {
		Idx  *int   `json:"idx"`
		Name string `json:"name"`
		Path string `json:"path"`
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &mods); err != nil {
		return inputerr.FileError(path, 0, fmt.Errorf("want a JSON array of {idx, name, path, type}: %w", err))
	}
	sort.SliceStable(mods, func(i, j int) bool {
		if mods[i].Idx == nil || mods[j].Idx == nil {
			return false
		}
		return *mods[i].Idx < *mods[j].Idx
	})
	for i, m := range mods {
		typ := m.Type[strings.LastIndex(m.Type, ".")+1:]
		switch typ {
		case "Transformer":
		case "Pooling":
			if err := f.readPooling(filepath.Join(f.Root, m.Path, "config.json")); err != nil {
				return err
			}
		case "Normalize":
			f.Normalize = Setting[bool]{Value: true, From: path}
		case "":
			return inputerr.Fieldf(path, 0, fmt.Sprintf("[%d].type", i), "missing")
		default:
			f.Unsupported = append(f.Unsupported, fmt.Sprintf("%s (%s)", m.Path, m.Type))
		}
	}
	return nil
}

// poolingFlags maps the pooling_mode_* keys to modes, in the order
// sentence-transformers concatenates them.
var poolingFlags = []struct {
	key  string
	mode Pooling
}{
	{"pooling_mode_cls_token", PoolingCLS},
	{"pooling_mode_max_tokens", PoolingMax},
	{"pooling_mode_mean_tokens", PoolingMean},
	{"pooling_mode_mean_sqrt_len_tokens", PoolingMeanSqrtLen},
	{"pooling_mode_weightedmean_tokens", PoolingWeightedMean},
	{"pooling_mode_lasttoken", PoolingLastToken},
}

func (f *Folder) readPooling(path string) error {
	obj, ok, err := jsonObject(path)
	if err != nil {
		return err
	}
	if !ok {
		return inputerr.FileError(path, 0, errors.New("missing: modules.json lists a Pooling module here"))
	}
	var modes []Pooling
	var mode string
	if has, err := field(path, obj, "pooling_mode", &mode); err != nil {
		return err
	} else if has {
		p := Pooling(strings.ToLower(mode))
		if !slices.ContainsFunc(poolingFlags, func(fl struct {
			key  string
			mode Pooling
		}) bool {
			return fl.mode == p
		}) {
			return inputerr.Fieldf(path, 0, "pooling_mode", "%q: want cls, mean, max, mean_sqrt_len_tokens, weightedmean or lasttoken", mode)
		}
		modes = []Pooling{p}
	} else {
		for _, fl := range poolingFlags {
			on := fl.mode == PoolingMean // sentence-transformers' default
			if _, err := field(path, obj, fl.key, &on); err != nil {
				return err
			}
			if on {
				modes = append(modes, fl.mode)
			}
		}
	}
	switch len(modes) {
	case 0:
		return inputerr.FileError(path, 0, errors.New("no pooling mode is on"))
	case 1:
	default:
		names := make([]string, len(modes))
		for i, m := range modes {
			names[i] = string(m)
		}
		return inputerr.FileError(path, 0, fmt.Errorf("several pooling modes (%s) concatenated: embfit pools with one", strings.Join(names, ", ")))
	}
	f.Pooling = Setting[Pooling]{Value: modes[0], From: path}
	var dim float64
	if has, err := field(path, obj, "word_embedding_dimension", &dim); err != nil {
		return err
	} else if has {
		if dim < 1 || dim != math.Trunc(dim) {
			return inputerr.Fieldf(path, 0, "word_embedding_dimension", "%v: want a positive integer", dim)
		}
		f.PoolingDim = int(dim)
	}
	var inc bool
	if has, err := field(path, obj, "include_prompt", &inc); err != nil {
		return err
	} else if has {
		f.IncludePrompt = Setting[bool]{Value: inc, From: path}
	}
	return nil
}

// positiveInt reads an optional positive integer field; huge values (the
// 1e30 "no limit" sentinel of transformers) count as absent.
func positiveInt(path string, obj map[string]json.RawMessage, name string) (int, error) {
	var v float64
	has, err := field(path, obj, name, &v)
	if err != nil || !has {
		return 0, err
	}
	if v < 1 || v != math.Trunc(v) {
		return 0, inputerr.Fieldf(path, 0, name, "%v: want a positive integer", v)
	}
	if v >= 1e9 {
		return 0, nil
	}
	return int(v), nil
}

func (f *Folder) readSentenceBERT() error {
	path := filepath.Join(f.Root, "sentence_bert_config.json")
	obj, ok, err := jsonObject(path)
	if err != nil || !ok {
		return err
	}
	n, err := positiveInt(path, obj, "max_seq_length")
	if err != nil {
		return err
	}
	if n > 0 {
		f.MaxSeqLength = Setting[int]{Value: n, From: path}
	}
	var lower bool
	if has, err := field(path, obj, "do_lower_case", &lower); err != nil {
		return err
	} else if has {
		f.LowerCase = Setting[bool]{Value: lower, From: path}
	}
	return nil
}

func (f *Folder) readSTConfig() error {
	path := filepath.Join(f.Root, "config_sentence_transformers.json")
	obj, ok, err := jsonObject(path)
	if err != nil || !ok {
		return err
	}
	var prompts map[string]string
	if has, err := field(path, obj, "prompts", &prompts); err != nil {
		return err
	} else if has && len(prompts) > 0 {
		f.Prompts, f.PromptsFrom = prompts, path
	}
	var def string
	if has, err := field(path, obj, "default_prompt_name", &def); err != nil {
		return err
	} else if has {
		if _, ok := f.Prompts[def]; !ok {
			return inputerr.Fieldf(path, 0, "default_prompt_name", "%q is not one of the prompts (%s)", def, strings.Join(f.PromptNames(), ", "))
		}
		f.DefaultPrompt = Setting[string]{Value: def, From: path}
	}
	var sim string
	if has, err := field(path, obj, "similarity_fn_name", &sim); err != nil {
		return err
	} else if has {
		s := strings.ToLower(sim)
		if s == "dot_product" {
			s = "dot"
		}
		if !slices.Contains(similarities, s) {
			return inputerr.Fieldf(path, 0, "similarity_fn_name", "%q: want cosine, dot, euclidean or manhattan", sim)
		}
		f.Similarity = Setting[string]{Value: s, From: path}
	}
	return nil
}

func (f *Folder) readTokenizerConfig() error {
	path := filepath.Join(f.Root, "tokenizer_config.json")
	obj, ok, err := jsonObject(path)
	if err != nil || !ok {
		return err
	}
	n, err := positiveInt(path, obj, "model_max_length")
	if err != nil {
		return err
	}
	if n > 0 {
		f.ModelMaxLength = Setting[int]{Value: n, From: path}
	}
	var side string
	if has, err := field(path, obj, "padding_side", &side); err != nil {
		return err
	} else if has {
		if side != "left" && side != "right" {
			return inputerr.Fieldf(path, 0, "padding_side", "%q: want left or right", side)
		}
		f.PaddingSide = Setting[string]{Value: side, From: path}
	}
	return nil
}

func (f *Folder) readHFConfig() error {
	path := filepath.Join(f.Root, "config.json")
	obj, ok, err := jsonObject(path)
	if err != nil || !ok {
		return err
	}
	n, err := positiveInt(path, obj, "max_position_embeddings")
	if err != nil {
		return err
	}
	f.MaxPositions = n
	return nil
}

// PromptNames lists the folder's prompt names, sorted.
func (f Folder) PromptNames() []string {
	names := make([]string, 0, len(f.Prompts))
	for k := range f.Prompts {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// ONNXVariants lists the .onnx files of the folder root and of its onnx/
// sub-folder (paths relative to root, sorted), e.g. model.onnx,
// onnx/model.onnx, onnx/model_O4.onnx, onnx/model_qint8_avx512.onnx.
func ONNXVariants(root string) []string {
	var out []string
	for _, dir := range []string{"", "onnx"} {
		ents, err := os.ReadDir(filepath.Join(root, dir))
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".onnx") {
				out = append(out, filepath.ToSlash(filepath.Join(dir, e.Name())))
			}
		}
	}
	sort.Strings(out)
	return out
}

// FolderConfig is what WriteFolderConfig writes: the settings a model
// folder's configuration files carry.
type FolderConfig struct {
	// Pooling is the folder's pooling; PoolingNone (or "") writes no
	// Pooling module, for a model whose output is pooled already (a merged
	// model).
	Pooling       Pooling
	Dim           int // word_embedding_dimension of the Pooling module
	IncludePrompt bool
	Normalize     bool
	MaxSeqLength  int // 0: none
	LowerCase     bool
	Prompts       map[string]string
	// DefaultPromptName must be a key of Prompts ("" for none).
	DefaultPromptName string
	Similarity        string // "" writes cosine
	PaddingSide       string // "" writes right
}

// WriteFolderConfig writes into dir the configuration files of a model
// folder (modules.json, 1_Pooling/config.json when there is a pooling,
// sentence_bert_config.json, config_sentence_transformers.json,
// tokenizer_config.json), each atomically, in the layout ReadFolder and
// sentence-transformers read. The model and tokenizer files are the
// caller's.
func WriteFolderConfig(dir string, c FolderConfig) error {
	if c.DefaultPromptName != "" {
		if _, ok := c.Prompts[c.DefaultPromptName]; !ok {
			return fmt.Errorf("default prompt name %q is not one of the prompts", c.DefaultPromptName)
		}
	}
	if c.Similarity == "" {
		c.Similarity = "cosine"
	}
	if c.PaddingSide == "" {
		c.PaddingSide = "right"
	}
	type module struct {
		Idx  int    `json:"idx"`
		Name string `json:"name"`
		Path string `json:"path"`
		Type string `json:"type"`
	}
	mods := []module{{0, "0", "", "sentence_transformers.models.Transformer"}}
	files := map[string]any{}
	if c.Pooling != "" && c.Pooling != PoolingNone {
		mods = append(mods, module{1, "1", "1_Pooling", "sentence_transformers.models.Pooling"})
		cfg := map[string]any{"word_embedding_dimension": c.Dim, "include_prompt": c.IncludePrompt}
		for _, fl := range poolingFlags {
			cfg[fl.key] = fl.mode == c.Pooling
		}
		files[filepath.Join("1_Pooling", "config.json")] = cfg
	}
	if c.Normalize {
		n := len(mods)
		mods = append(mods, module{n, fmt.Sprint(n), fmt.Sprintf("%d_Normalize", n), "sentence_transformers.models.Normalize"})
	}
	files["modules.json"] = mods
	sb := map[string]any{"do_lower_case": c.LowerCase}
	if c.MaxSeqLength > 0 {
		sb["max_seq_length"] = c.MaxSeqLength
	}
	files["sentence_bert_config.json"] = sb
	prompts := c.Prompts
	if prompts == nil {
		prompts = map[string]string{}
	}
	var def any
	if c.DefaultPromptName != "" {
		def = c.DefaultPromptName
	}
	files["config_sentence_transformers.json"] = map[string]any{"model_type": "SentenceTransformer", "prompts": prompts, "default_prompt_name": def, "similarity_fn_name": c.Similarity}
	tc := map[string]any{"padding_side": c.PaddingSide}
	if c.MaxSeqLength > 0 {
		tc["model_max_length"] = c.MaxSeqLength
	}
	files["tokenizer_config.json"] = tc
	names := make([]string, 0, len(files))
	for k := range files {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		b, err := json.MarshalIndent(files[name], "", "  ")
		if err != nil {
			return err
		}
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := atomicfile.WriteFile(path, append(b, '\n')); err != nil {
			return err
		}
	}
	return nil
}

// FolderConfigOf returns the FolderConfig that describes p, for writing
// beside a model that embeds as p does; pooling is the pooling the new
// model still needs (PoolingNone when its graph pools).
// A prompt in use that is not one of p.Prompts (an explicit prompt) is
// kept as the default prompt, named "default".
func FolderConfigOf(p Pipeline, pooling Pooling) FolderConfig {
	c := FolderConfig{
		Pooling: pooling, Dim: p.Dim, IncludePrompt: p.IncludePrompt.Value, Normalize: p.Normalize.Value,
		MaxSeqLength: p.MaxLength.Value, LowerCase: p.LowerCase.Value, Prompts: maps.Clone(p.Prompts),
		DefaultPromptName: p.PromptName, Similarity: p.Similarity.Value, PaddingSide: p.PaddingSide.Value,
	}
	if p.Prompt.Value != "" && p.PromptName == "" {
		if c.Prompts == nil {
			c.Prompts = map[string]string{}
		}
		c.Prompts["default"] = p.Prompt.Value
		c.DefaultPromptName = "default"
	}
	return c
}

// CacheKey is a string that differs whenever two pipelines over the same
// model file would embed some item differently: the ONNX file, output,
// pooling, prompt (and whether pooling skips it), normalization, max
// length, lower-casing and padding side. Use it with the model's checksum
// to key cached embeddings.
func (p Pipeline) CacheKey() string {
	b, _ := json.Marshal([]any{p.File, p.Output.Value, p.Pooling.Value, p.Prompt.Value, p.IncludePrompt.Value,
		p.Normalize.Value, p.MaxLength.Value, p.LowerCase.Value, p.PaddingSide.Value, p.Tokenizer != ""})
	return string(b)
}
