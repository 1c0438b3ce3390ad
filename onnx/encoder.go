package onnx

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	ort "github.com/yalue/onnxruntime_go"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/inputerr"
	"github.com/embfit/embfit/internal/rows"
	"github.com/embfit/embfit/internal/tensorjson"
	"github.com/embfit/embfit/onnx/graph"
	"github.com/embfit/embfit/onnx/tokenizer"
)

// Pooling turns a model's output for one item into one vector.
type Pooling string

// Poolings, as sentence-transformers' Pooling module defines them, over
// an item's real tokens (attention_mask 1) wherever padding puts them.
// PoolingAuto (the zero value) is the model folder's pooling, else mean
// for token outputs [B,T,D] and none for pooled outputs [B,D].
const (
	PoolingAuto         Pooling = ""
	PoolingMean         Pooling = "mean"                 // mean of the token vectors
	PoolingCLS          Pooling = "cls"                  // the first token's vector
	PoolingMax          Pooling = "max"                  // elementwise max
	PoolingMeanSqrtLen  Pooling = "mean_sqrt_len_tokens" // sum / sqrt(number of tokens)
	PoolingWeightedMean Pooling = "weightedmean"         // mean weighted by position 1, 2, … from the first real token
	PoolingLastToken    Pooling = "lasttoken"            // the last real token's vector (decoder embedders)
	PoolingNone         Pooling = "none"                 // the output is already [B,D]
)

// Poolings lists the valid Pooling values but PoolingAuto.
var Poolings = []Pooling{PoolingMean, PoolingCLS, PoolingMax, PoolingMeanSqrtLen, PoolingWeightedMean, PoolingLastToken, PoolingNone}

// Default encoder settings.
const (
	DefaultBatchSize = 64
	DefaultMaxLength = 256
)

// EncoderSettings configures an Encoder. The zero value means defaults,
// and a model folder's configuration files (see Folder) come before
// embfit's defaults; a setting given here overrides both. Encoder.Pipeline
// says where each resolved setting came from.
type EncoderSettings struct {
	// File chooses the ONNX file inside a model folder, like
	// sentence-transformers' file_name: e.g. "onnx/model_O4.onnx" or
	// "model_qint8_avx512.onnx" (looked for in onnx/ too).
	File string `json:"file,omitempty"`
	// Prompt is prepended to every text. PromptName picks one of the
	// folder's prompts (config_sentence_transformers.json); Prompt wins
	// when both are given. With neither, the folder's default_prompt_name
	// applies, else no prompt.
	Prompt     string `json:"prompt,omitempty"`
	PromptName string `json:"prompt_name,omitempty"`
	// NoNormalize turns off the normalization a folder's Normalize module
	// asks for (Normalize turns it on).
	NoNormalize bool `json:"no_normalize,omitempty"`
	// PaddingSide, "left" or "right", overrides tokenizer_config.json's
	// padding_side (default right).
	PaddingSide string `json:"padding_side,omitempty"`
	// Output names the model output to embed with; default
	// "sentence_embedding", else "last_hidden_state", else the only output.
	Output string `json:"output,omitempty"`
	// Pooling; default PoolingAuto.
	Pooling Pooling `json:"pooling,omitempty"`
	// Normalize scales every embedding to unit L2 norm (default: as the
	// folder's modules.json says, else off).
	Normalize bool `json:"normalize"`
	// BatchSize is the number of items per session run (default 64). A
	// model whose batch dimension is fixed runs batches of exactly that
	// size (a note says so when BatchSize differs).
	BatchSize int `json:"batch_size,omitempty"`
	// MaxLength is the maximum number of tokens per text, special tokens
	// included. Default: sentence_bert_config.json's max_seq_length, else
	// tokenizer_config.json's model_max_length (at most config.json's
	// max_position_embeddings), else 256. It is clamped, with a warning,
	// to the model's limit when one is known (a fixed sequence dimension of
	// input_ids, tokenizer_config.json's model_max_length, tokenizer.json's
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

// Pipeline is an encoder's resolved configuration: every setting that
// shapes an embedding, with where it came from (see Setting).
type Pipeline struct {
	Model    string   `json:"model"`              // the .onnx file
	File     string   `json:"file"`               // its name in the folder
	Variants []string `json:"variants,omitempty"` // the folder's ONNX files
	Root     string   `json:"root,omitempty"`     // the model folder
	// Input is "text" (token ids) or "tensor" (one float32 input).
	Input string `json:"input"`
	// InputName names the model input (for tensor models) and ItemShape
	// is its fixed per-item shape (nil when not fixed).
	InputName string  `json:"input_name,omitempty"`
	ItemShape []int64 `json:"item_shape,omitempty"`
	// Tokenizer is the tokenizer.json path; TokenizerFamily its model
	// (WordPiece, WordLevel).
	Tokenizer       string `json:"tokenizer,omitempty"`
	TokenizerFamily string `json:"tokenizer_family,omitempty"`
	// PositionIDs reports that the model takes position_ids (computed
	// from the attention mask, as Hugging Face models do).
	PositionIDs   bool             `json:"position_ids,omitempty"`
	Output        Setting[string]  `json:"output"`
	Pooling       Setting[Pooling] `json:"pooling"`
	IncludePrompt Setting[bool]    `json:"include_prompt"`
	Normalize     Setting[bool]    `json:"normalize"`
	MaxLength     Setting[int]     `json:"max_length,omitempty"`
	LowerCase     Setting[bool]    `json:"do_lower_case"`
	PaddingSide   Setting[string]  `json:"padding_side"`
	BatchSize     Setting[int]     `json:"batch_size"`
	// Prompt is the prompt in use ("" for none) and PromptName its name
	// in Prompts when it came from there.
	Prompt     Setting[string]   `json:"prompt"`
	PromptName string            `json:"prompt_name,omitempty"`
	Prompts    map[string]string `json:"prompts,omitempty"`
	// PromptLength is the number of tokens the prompt occupies at the
	// start of each text (special tokens before it included), as
	// sentence-transformers counts it; pooling skips them when
	// IncludePrompt is false.
	PromptLength int             `json:"prompt_length,omitempty"`
	Similarity   Setting[string] `json:"similarity"`
	// Dim is the embedding size, 0 until known.
	Dim int `json:"dim"`
}

// Encoder embeds items with an ONNX model: texts for models with
// input_ids (+ attention_mask, token_type_ids, position_ids) int64
// inputs, float tensors for models with one float32 input. It is not safe
// for concurrent use.
type Encoder struct {
	files      ModelFiles
	info       ModelInfo
	set        EncoderSettings
	pipe       Pipeline
	tok        *tokenizer.Tokenizer
	sess       *ort.DynamicAdvancedSession
	inNames    []string
	text       bool
	float      []int64 // per-item shape of the float input, nil if not fixed
	fixedBatch int     // the model's fixed batch dimension, 0 if dynamic
	padLeft    bool
	skip       int // leading real tokens pooling ignores (an excluded prompt)
	// The output: outKnown once its layout is known; outTokens for token
	// vectors [B,T,D] (else pooled [B,D], possibly with singleton
	// dimensions around D).
	outKnown  bool
	outTokens bool
	dim       int
	warnings  []string
	shared    bool // a WithPrompt view: Close leaves the session alone

	runTime time.Duration
}

// OpenEncoder opens model (an .onnx file or a model folder, see
// ResolveModelFile) with settings s. Errors name the model file, the
// configuration file or the setting at fault.
func OpenEncoder(model string, s EncoderSettings) (*Encoder, error) {
	e, err := newEncoder(model, s)
	if err != nil {
		return nil, err
	}
	if err := Init(); err != nil {
		return nil, err
	}
	opts, err := newSessionOptions(s.Threads)
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	e.sess, err = ort.NewDynamicAdvancedSession(e.files.Model, e.inNames, []string{e.set.Output}, opts)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", e.files.Model, ortError(err))
	}
	if e.dim == 0 || !e.outKnown {
		if err := e.probeDim(); err != nil {
			e.Close()
			return nil, fmt.Errorf("model %s: %w", e.files.Model, err)
		}
	}
	e.pipe.Dim = e.dim
	return e, nil
}

// Resolve works out the pipeline OpenEncoder(model, s) would run, without
// starting ONNX Runtime (so Dim may be 0 when the model file does not
// state it), and the notes OpenEncoder would give.
func Resolve(model string, s EncoderSettings) (Pipeline, []string, error) {
	e, err := newEncoder(model, s)
	if err != nil {
		return Pipeline{}, nil, err
	}
	return e.pipe, e.warnings, nil
}

func newEncoder(model string, s EncoderSettings) (*Encoder, error) {
	files, err := ResolveModelFile(model, s.File)
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
	e.warnings = append(e.warnings, files.Warnings...)
	e.pipe = Pipeline{Model: files.Model, File: files.File, Variants: files.Variants, Root: files.Folder.Root}
	if err := e.validate(); err != nil {
		if ie, ok := inputerr.As(err); ok && ie.Setting != "" {
			return nil, err // names the setting; the model is not at fault
		}
		return nil, fmt.Errorf("model %s: %w", files.Model, err)
	}
	if e.text {
		if files.Tokenizer == "" {
			return nil, inputerr.Settingf("tokenizer", "model %s is a text model without tokenizer.json beside it: give one", files.Model)
		}
		if e.tok, err = tokenizer.Load(files.Tokenizer); err != nil {
			return nil, fmt.Errorf("tokenizer %w", err)
		}
		if rows := info.EmbeddingRows; rows > 0 {
			// An id past the table would fail inside ONNX Runtime (or,
			// negative, wrap to another row): refuse the pair up front.
			if m := e.tok.Model().MaxID(); m >= rows {
				return nil, inputerr.Fieldf(files.Tokenizer, 0, "model.vocab", "ids reach %d but the embedding table of %s has %d rows", m, files.Model, rows)
			}
			if m := e.tok.MaxID(); m >= rows {
				e.warnings = append(e.warnings, fmt.Sprintf("%s: added tokens reach id %d but the embedding table has %d rows; texts holding them will fail", files.Tokenizer, m, rows))
			}
		}
		e.pipe.Tokenizer, e.pipe.TokenizerFamily = files.Tokenizer, e.tok.ModelType()
		if e.pipe.PaddingSide.From == SourceDefault && e.tok.PadLeft() {
			// tokenizer.json's padding.direction, below tokenizer_config.json.
			e.pipe.PaddingSide = Setting[string]{Value: "left", From: files.Tokenizer}
			e.padLeft = true
		}
		e.resolveMaxLength()
		if err := e.resolvePrompt(); err != nil {
			return nil, err
		}
	} else if s.Prompt != "" || s.PromptName != "" {
		return nil, inputerr.Settingf("prompt", "model %s takes a float tensor (input %s), not text: a prompt does not apply", files.Model, e.inNames[0])
	}
	e.set.Normalize = e.pipe.Normalize.Value
	e.set.BatchSize = e.pipe.BatchSize.Value
	return e, nil
}

var textInputs = []string{"input_ids", "attention_mask", "token_type_ids", "position_ids"}

// validate binds inputs, picks the output and resolves the settings that
// do not need the tokenizer.
func (e *Encoder) validate() error {
	s := &e.set
	p := &e.pipe
	fo := e.files.Folder
	if s.BatchSize < 0 {
		return inputerr.Settingf("batch_size", "%d: must be positive", s.BatchSize)
	}
	if s.MaxLength < 0 {
		return inputerr.Settingf("max_length", "%d: must be positive", s.MaxLength)
	}
	p.BatchSize = Setting[int]{Value: DefaultBatchSize, From: SourceDefault}
	if s.BatchSize > 0 {
		p.BatchSize = Setting[int]{Value: s.BatchSize, From: SourceExplicit}
	}
	ins := e.info.Inputs
	if len(ins) == 0 {
		return errors.New("model has no inputs")
	}
	for _, in := range ins {
		if len(in.Dims) > 0 && in.Dims[0].Param == "" && in.Dims[0].Value > 0 {
			e.fixedBatch = int(in.Dims[0].Value)
		}
	}
	if e.fixedBatch > 0 && p.BatchSize.Value != e.fixedBatch {
		e.warnings = append(e.warnings, fmt.Sprintf("batch size %d: the model's batch dimension is fixed at %d: using %d", p.BatchSize.Value, e.fixedBatch, e.fixedBatch))
		p.BatchSize = Setting[int]{Value: e.fixedBatch, From: SourceModel}
	}
	if len(ins) == 1 && ins[0].Type == graphFloat {
		e.inNames = []string{ins[0].Name}
		p.Input, p.InputName = "tensor", ins[0].Name
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
		p.ItemShape = e.float
	} else {
		e.text = true
		p.Input = "text"
		hasIDs := false
		for _, in := range ins {
			if !slices.Contains(textInputs, in.Name) || in.Type != graphInt64 {
				return fmt.Errorf("cannot bind input %s: embfit binds int64 input_ids, attention_mask, token_type_ids, position_ids, or one float32 tensor", in)
			}
			hasIDs = hasIDs || in.Name == "input_ids"
			p.PositionIDs = p.PositionIDs || in.Name == "position_ids"
			e.inNames = append(e.inNames, in.Name)
		}
		if !hasIDs {
			return errors.New("text model without an input_ids input")
		}
	}
	outs := e.info.Outputs
	p.Output = Setting[string]{Value: s.Output, From: SourceExplicit}
	if s.Output == "" {
		p.Output.From = SourceDefault
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
		p.Output.Value = s.Output
	}
	var out *ValueInfo
	for i := range outs {
		if outs[i].Name == s.Output {
			out = &outs[i]
		}
	}
	if out == nil {
		return inputerr.Settingf("output", "no output named %q", s.Output)
	}
	if out.Type != graphFloat {
		return fmt.Errorf("output %s: want float32", out)
	}
	if out.Dims != nil {
		if len(out.Dims) < 2 {
			return fmt.Errorf("output %s: want [B,D] or [B,T,D]", out)
		}
		var rest []graph.Dim // the non-batch dimensions that are not fixed at 1
		for _, d := range out.Dims[1:] {
			if d.Param != "" || d.Value != 1 {
				rest = append(rest, d)
			}
		}
		switch len(rest) {
		case 0:
			e.outKnown, e.dim = true, 1
		case 1, 2:
			e.outKnown, e.outTokens = true, len(rest) == 2
			if last := rest[len(rest)-1]; last.Param == "" && last.Value > 0 {
				e.dim = int(last.Value)
			}
		default:
			return fmt.Errorf("output %s: want [B,D] or [B,T,D] (dimensions fixed at 1 around them are fine)", out)
		}
	}
	if s.Pooling != PoolingAuto && !slices.Contains(Poolings, s.Pooling) {
		names := make([]string, len(Poolings))
		for i, q := range Poolings {
			names[i] = string(q)
		}
		return inputerr.Settingf("pooling", "%q: want %s", s.Pooling, strings.Join(names, ", "))
	}
	p.IncludePrompt = fo.IncludePrompt
	p.Similarity = fo.Similarity
	p.LowerCase = fo.LowerCase
	p.Normalize = fo.Normalize
	switch {
	case s.Normalize && s.NoNormalize:
		return inputerr.Settingf("normalize", "both normalize and no_normalize are set")
	case s.Normalize:
		p.Normalize = Setting[bool]{Value: true, From: SourceExplicit}
	case s.NoNormalize:
		p.Normalize = Setting[bool]{Value: false, From: SourceExplicit}
	}
	p.PaddingSide = fo.PaddingSide
	switch s.PaddingSide {
	case "":
	case "left", "right":
		p.PaddingSide = Setting[string]{Value: s.PaddingSide, From: SourceExplicit}
	default:
		return inputerr.Settingf("padding_side", "%q: want left or right", s.PaddingSide)
	}
	e.padLeft = p.PaddingSide.Value == "left"
	if e.outKnown {
		if err := e.checkPooling(); err != nil {
			return fmt.Errorf("output %s: %w", out, err)
		}
	}
	return nil
}

// checkPooling resolves the pooling once the output's layout is known.
func (e *Encoder) checkPooling() error {
	fo := e.files.Folder
	p := e.set.Pooling
	from := SourceExplicit
	switch {
	case p != PoolingAuto:
	case !e.outTokens:
		p, from = PoolingNone, SourceModel // the output is pooled already
	case fo.Pooling.Value != "":
		p, from = fo.Pooling.Value, fo.Pooling.From
	default:
		p, from = PoolingMean, SourceDefault
	}
	e.set.Pooling = p
	e.pipe.Pooling = Setting[Pooling]{Value: p, From: from}
	if !e.outTokens && p != PoolingNone {
		return inputerr.Settingf("pooling", "%s needs token vectors [B,T,D]; this output is already pooled (use none)", p)
	}
	if e.outTokens && p == PoolingNone {
		return inputerr.Settingf("pooling", "token vectors [B,T,D] need a pooling (mean, cls, max, mean_sqrt_len_tokens, weightedmean or lasttoken)")
	}
	if len(fo.Unsupported) > 0 {
		msg := fmt.Sprintf("modules.json lists %s, which embfit cannot apply (its weights are not in the ONNX graph)", strings.Join(fo.Unsupported, ", "))
		if e.outTokens {
			return inputerr.FileError(filepath.Join(fo.Root, "modules.json"), 0, errors.New(msg))
		}
		e.warnings = append(e.warnings, msg+": assuming the pooled output "+e.set.Output+" includes them")
	}
	if e.outTokens && fo.PoolingDim > 0 && e.dim > 0 && fo.PoolingDim != e.dim && fo.Pooling.From != "" {
		return inputerr.Fieldf(fo.Pooling.From, 0, "word_embedding_dimension", "%d, but the model's token vectors have %d values", fo.PoolingDim, e.dim)
	}
	return nil
}

// resolveMaxLength picks the max length and clamps it to the model's
// limit.
func (e *Encoder) resolveMaxLength() {
	fo := e.files.Folder
	ml := Setting[int]{Value: e.set.MaxLength, From: SourceExplicit}
	switch {
	case e.set.MaxLength > 0:
	case fo.MaxSeqLength.Value > 0:
		ml = fo.MaxSeqLength
	case fo.ModelMaxLength.Value > 0:
		ml = fo.ModelMaxLength
		if fo.MaxPositions > 0 && fo.MaxPositions < ml.Value {
			ml.Value = fo.MaxPositions
		}
	default:
		ml = Setting[int]{Value: DefaultMaxLength, From: SourceDefault}
	}
	limit, from := 0, ""
	lower := func(n int, src string) {
		if n > 0 && (limit == 0 || n < limit) {
			limit, from = n, src
		}
	}
	for _, in := range e.info.Inputs {
		if in.Name == "input_ids" && len(in.Dims) == 2 && in.Dims[1].Param == "" && in.Dims[1].Value > 0 {
			lower(int(in.Dims[1].Value), SourceModel)
		}
	}
	lower(fo.ModelMaxLength.Value, fo.ModelMaxLength.From)
	lower(e.tok.MaxLength(), e.files.Tokenizer)
	if limit > 0 && ml.Value > limit {
		what := from
		if from == SourceModel {
			what = "the model's input_ids shape"
		}
		e.warnings = append(e.warnings, fmt.Sprintf("max length %d is above the model's limit %d (from %s): using %d", ml.Value, limit, what, limit))
		ml = Setting[int]{Value: limit, From: from}
	}
	e.set.MaxLength = ml.Value
	e.pipe.MaxLength = ml
}

// resolvePrompt picks the prompt and counts its tokens.
func (e *Encoder) resolvePrompt() error {
	fo := e.files.Folder
	s := e.set
	p := &e.pipe
	p.Prompts = fo.Prompts
	p.Prompt = Setting[string]{From: SourceDefault}
	switch {
	case s.Prompt != "":
		p.Prompt = Setting[string]{Value: s.Prompt, From: SourceExplicit}
		if s.PromptName != "" {
			e.warnings = append(e.warnings, fmt.Sprintf("both a prompt and a prompt name (%q) are given: using the prompt", s.PromptName))
		}
	case s.PromptName != "":
		text, ok := fo.Prompts[s.PromptName]
		if !ok {
			have := "none"
			if len(fo.Prompts) > 0 {
				have = strings.Join(fo.PromptNames(), ", ")
			}
			return inputerr.Settingf("prompt_name", "%q is not one of the model's prompts (%s)", s.PromptName, have)
		}
		p.Prompt = Setting[string]{Value: text, From: fo.PromptsFrom}
		p.PromptName = s.PromptName
	case fo.DefaultPrompt.Value != "":
		p.Prompt = Setting[string]{Value: fo.Prompts[fo.DefaultPrompt.Value], From: fo.DefaultPrompt.From}
		p.PromptName = fo.DefaultPrompt.Value
	}
	if p.Prompt.Value != "" {
		// As sentence-transformers: the prompt's tokens, special tokens
		// before it included, not a special token the template appends.
		ids := e.tok.Encode(e.prepare(p.Prompt.Value), e.set.MaxLength).IDs
		n := len(ids)
		if n > 0 && e.tok.IsSpecial(ids[n-1]) {
			n--
		}
		p.PromptLength = n
		if !p.IncludePrompt.Value {
			e.skip = n
		}
	}
	return nil
}

// prepare applies the folder's lower-casing to a text.
func (e *Encoder) prepare(text string) string {
	if e.pipe.LowerCase.Value {
		return strings.ToLower(text)
	}
	return text
}

// probeDim runs one item to learn the embedding size and output layout
// when the model file does not state them.
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

// ItemShape is the float input's fixed per-item shape (the dimensions
// after the batch), nil for text models and when it is not fixed.
func (e *Encoder) ItemShape() []int64 { return slices.Clone(e.float) }

// InputName names the model's float input ("" for text models).
func (e *Encoder) InputName() string {
	if e.text {
		return ""
	}
	return e.inNames[0]
}

// Settings returns the effective settings (defaults filled in, output and
// pooling resolved, max length clamped).
func (e *Encoder) Settings() EncoderSettings { return e.set }

// Pipeline returns the resolved configuration with where each setting
// came from.
func (e *Encoder) Pipeline() Pipeline { return e.pipe }

// Files returns the model's resolved files.
func (e *Encoder) Files() ModelFiles { return e.files }

// Info describes the model's inputs, outputs and opset.
func (e *Encoder) Info() ModelInfo { return e.info }

// Tokenizer returns the text model's tokenizer (nil for float models).
func (e *Encoder) Tokenizer() *tokenizer.Tokenizer { return e.tok }

// Warnings lists adjustments made to the settings (e.g. a clamped max
// length or batch size), one sentence each.
func (e *Encoder) Warnings() []string { return e.warnings }

// RunTime is the total time spent inside ONNX Runtime's session run so far.
func (e *Encoder) RunTime() time.Duration { return e.runTime }

// WithPrompt returns an encoder that shares e's session and settings but
// prepends another prompt, resolved as EncoderSettings.Prompt and
// PromptName are (both "": the folder's default prompt, else none); use
// it to embed queries and documents with their own prompts. Closing it
// does nothing; it is unusable once e is closed.
func (e *Encoder) WithPrompt(prompt, name string) (*Encoder, error) {
	if !e.text {
		if prompt == "" && name == "" {
			return e.view(), nil
		}
		return nil, inputerr.Settingf("prompt", "model %s takes a float tensor (input %s), not text: a prompt does not apply", e.files.Model, e.inNames[0])
	}
	v := e.view()
	v.set.Prompt, v.set.PromptName = prompt, name
	v.skip, v.pipe.PromptLength, v.pipe.PromptName = 0, 0, ""
	if err := v.resolvePrompt(); err != nil {
		return nil, err
	}
	return v, nil
}

func (e *Encoder) view() *Encoder {
	v := *e
	v.shared = true
	v.warnings = slices.Clone(e.warnings)
	return &v
}

// Close releases the ORT session.
func (e *Encoder) Close() error {
	if e.shared {
		return nil
	}
	if e.sess == nil {
		return nil
	}
	err := e.sess.Destroy()
	e.sess = nil
	return err
}

// Encode embeds texts into dst (len(texts) × Dim(), caller-owned),
// row i for texts[i]. Texts get the prompt prepended (and are lower-cased
// when the folder says so), are tokenized (truncated to MaxLength), sorted
// by length into batches of BatchSize to waste little padding, run,
// pooled and optionally normalized; results do not depend on the thread
// count or the batch size. A text with no tokens to pool gets the zero
// vector. It stops with ctx's error when ctx is cancelled (also during a
// running batch).
func (e *Encoder) Encode(ctx context.Context, dst blas32.General, texts []string) error {
	if !e.text {
		return fmt.Errorf("model %s takes a float tensor (input %s), not text", e.files.Model, e.inNames[0])
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
	if e.float != nil {
		if err := CheckItemShape(itemShape, e.float); err != nil {
			return err
		}
		itemShape = e.float
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

// CheckItemShape checks an item of shape got (e.g. a nested JSON array's)
// against a model's fixed item shape want: dimension by dimension, or by
// the number of values when got is flat (rank 1). Its error says which
// dimension differs.
func CheckItemShape(got, want []int64) error { return tensorjson.CheckShape(got, want) }

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
	errs := make([]error, len(texts))
	workers := Threads()
	prompt := e.pipe.Prompt.Value
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(texts); i += workers {
				if i%1024 == w && ctx.Err() != nil {
					return
				}
				en, err := e.tok.EncodeText(e.prepare(prompt+texts[i]), e.set.MaxLength)
				out[i], errs[i] = encoded{ids: en.IDs, types: en.TypeIDs}, err
			}
		}(w)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("text %d: %w", i, err)
		}
	}
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

// span is where an item's real tokens are in its row of the output:
// positions first … first+n-1 (n = -1: every position).
type span struct{ first, n int }

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
	bs := e.batchFor(len(order))
	maxT := 1
	for _, en := range enc {
		maxT = max(maxT, len(en.ids))
	}
	ids := make([]int64, bs*maxT)
	mask := make([]int64, bs*maxT)
	types := make([]int64, bs*maxT)
	pos := make([]int64, bs*maxT)
	spans := make([]span, bs)
	pad := e.tok.PadID()
	for start := 0; start < len(order); start += bs {
		if err := ctx.Err(); err != nil {
			return start, err
		}
		batch := order[start:min(start+bs, len(order))]
		b := len(batch)
		if e.fixedBatch > 0 {
			b = e.fixedBatch // rows past the batch are all padding
		}
		t := 1
		for _, i := range batch {
			t = max(t, len(enc[i].ids))
		}
		for r := 0; r < b; r++ {
			var en encoded
			if r < len(batch) {
				en = enc[batch[r]]
			}
			n := len(en.ids)
			off := 0
			if e.padLeft {
				off = t - n
			}
			spans[r] = span{off, n}
			row, mrow, trow, prow := ids[r*t:(r+1)*t], mask[r*t:(r+1)*t], types[r*t:(r+1)*t], pos[r*t:(r+1)*t]
			for k := range row {
				row[k], mrow[k], trow[k], prow[k] = pad, 0, 0, 1 // Hugging Face's position at padding
			}
			copy(row[off:], en.ids)
			copy(trow[off:], en.types)
			for k := 0; k < n; k++ {
				mrow[off+k], prow[off+k] = 1, int64(k) // cumsum(mask) - 1
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
			case "position_ids":
				data = pos
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
		err := e.runAndPool(ctx, inputs, batch, b, spans, t, dst, probe)
		destroyAll(inputs)
		if err != nil {
			return start, err
		}
		if e.set.Progress != nil && !probe {
			e.set.Progress(start+len(batch), len(order))
		}
	}
	return len(order), nil
}

// batchFor is the batch size for n items: the setting, but never more
// than n (buffers are sized from the data) unless the model's batch
// dimension is fixed.
func (e *Encoder) batchFor(n int) int {
	if e.fixedBatch > 0 {
		return e.set.BatchSize
	}
	return max(1, min(e.set.BatchSize, n))
}

func (e *Encoder) embedFloats(ctx context.Context, x blas32.General, itemShape []int64, dst blas32.General, probe bool) (int, error) {
	bs := e.batchFor(x.Rows)
	n := x.Cols
	buf := make([]float32, bs*n)
	spans := make([]span, bs)
	batch := make([]int, bs)
	for start := 0; start < x.Rows; start += bs {
		if err := ctx.Err(); err != nil {
			return start, err
		}
		b := min(bs, x.Rows-start)
		for r := 0; r < b; r++ {
			copy(buf[r*n:(r+1)*n], x.Data[(start+r)*x.Stride:(start+r)*x.Stride+n])
			batch[r] = start + r
			spans[r] = span{0, -1} // no mask: every position counts
		}
		run := b
		if e.fixedBatch > 0 {
			run = e.fixedBatch
			clear(buf[b*n : run*n])
		}
		shape := append(ort.NewShape(int64(run)), itemShape...)
		v, err := ort.NewTensor(shape, buf[:run*n])
		if err != nil {
			return start, err
		}
		inputs := []ort.Value{v}
		err = e.runAndPool(ctx, inputs, batch[:b], run, spans, 0, dst, probe)
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

// runAndPool runs one batch of run rows and writes row batch[r] of dst
// for each item r. spans[r] says where item r's real tokens are; seqLen is
// the token sequence length (0 for tensor inputs).
func (e *Encoder) runAndPool(ctx context.Context, inputs []ort.Value, batch []int, run int, spans []span, seqLen int, dst blas32.General, probe bool) error {
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
	if len(shape) < 2 || shape[0] != int64(run) {
		return fmt.Errorf("output %s has shape %v for a batch of %d: want [B,D] or [B,T,D]", e.set.Output, shape, run)
	}
	if !e.outKnown {
		// The file does not state the output's shape: learn it now.
		var rest []int64
		for _, d := range shape[1:] {
			if d != 1 || len(shape) == 3 && e.text {
				rest = append(rest, d)
			}
		}
		if len(shape) == 2 {
			rest = shape[1:]
		}
		switch len(rest) {
		case 0:
			e.outTokens, e.dim = false, 1
		case 1, 2:
			e.outTokens, e.dim = len(rest) == 2, int(rest[len(rest)-1])
		default:
			return fmt.Errorf("output %s has shape %v: want [B,D] or [B,T,D] (dimensions of 1 around them are fine)", e.set.Output, shape)
		}
		e.outKnown = true
		if err := e.checkPooling(); err != nil {
			return fmt.Errorf("output %s: %w", e.set.Output, err)
		}
	}
	per := int64(1)
	for _, d := range shape[1:] {
		per *= d
	}
	if e.dim == 0 {
		if e.outTokens {
			e.dim = int(shape[len(shape)-1])
		} else {
			e.dim = int(per)
		}
	}
	if probe {
		return nil
	}
	d := e.dim
	tt := 1
	if e.outTokens {
		tt = int(per) / d
	}
	if per != int64(tt*d) || (e.outTokens && seqLen > 0 && tt != seqLen) {
		return fmt.Errorf("output %s has shape %v, want %d values per item (%s)", e.set.Output, shape, d, map[bool]string{true: "token vectors [B,T,D]", false: "[B,D]"}[e.outTokens])
	}
	data := t.GetData()
	acc := make([]float64, d)
	for r, i := range batch {
		row := dst.Data[i*dst.Stride : i*dst.Stride+d]
		item := data[r*tt*d : (r+1)*tt*d]
		sp := spans[r]
		if sp.n < 0 || sp.first+sp.n > tt {
			sp = span{0, tt}
		}
		pool(row, item, sp, min(e.skip, sp.n), d, e.set.Pooling, acc)
		if e.set.Normalize {
			rows.NormalizeVec(row, row)
		}
	}
	return nil
}

// pool writes into row the pooling p of an item's token vectors (item is
// [T,d] row-major; sp says where its real tokens are). The first skip
// real tokens (a prompt excluded from pooling) count for neither mean,
// max nor weights. An item with nothing to pool gets the zero vector.
// Sums accumulate in float64.
func pool(row, item []float32, sp span, skip, d int, p Pooling, acc []float64) {
	tok := func(k int) []float32 { // real token k
		at := sp.first + k
		return item[at*d : (at+1)*d]
	}
	switch p {
	case PoolingNone:
		copy(row, item[:d])
		return
	case PoolingCLS:
		if sp.n > 0 {
			copy(row, tok(0))
		} else {
			clear(row)
		}
		return
	case PoolingLastToken:
		if sp.n > 0 {
			copy(row, tok(sp.n-1))
		} else {
			clear(row)
		}
		return
	case PoolingMax:
		if skip >= sp.n {
			clear(row)
			return
		}
		copy(row, tok(skip))
		for k := skip + 1; k < sp.n; k++ {
			for j, v := range tok(k) {
				if v > row[j] {
					row[j] = v
				}
			}
		}
		return
	}
	clear(acc)
	var wsum float64
	for k := skip; k < sp.n; k++ {
		w := 1.0
		if p == PoolingWeightedMean {
			w = float64(k + 1)
		}
		wsum += w
		for j, v := range tok(k) {
			acc[j] += w * float64(v)
		}
	}
	if wsum == 0 {
		clear(row)
		return
	}
	inv := 1 / wsum
	if p == PoolingMeanSqrtLen {
		inv = 1 / math.Sqrt(wsum)
	}
	for j := range row {
		row[j] = float32(acc[j] * inv)
	}
}
