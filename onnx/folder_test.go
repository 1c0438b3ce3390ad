package onnx_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/inputerr"
	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/onnxtest"
	"github.com/embfit/embfit/onnx/tokenizer"
)

// stReference computes in plain Go what a sentence-transformers folder
// should embed text to: the prompt prepended, lower-cased if asked,
// tokenized, token vectors from the model's tables (Written.Hidden), the
// first promptLen tokens dropped when the prompt is excluded, pooled and
// normalized as sentence-transformers' Pooling and Normalize modules do.
func stReference(w onnxtest.Written, tk *tokenizer.Tokenizer, text, prompt string, lower bool, maxLen, skip int, p onnx.Pooling, norm bool) []float64 {
	text = prompt + text
	if lower {
		text = strings.ToLower(text)
	}
	ids := tk.Encode(text, maxLen).IDs
	h := w.Hidden(ids)
	n := len(h)
	skip = min(skip, n)
	out := make([]float64, w.Dim)
	switch p {
	case onnx.PoolingCLS:
		for j := range out {
			out[j] = float64(h[0][j])
		}
	case onnx.PoolingLastToken:
		for j := range out {
			out[j] = float64(h[n-1][j])
		}
	case onnx.PoolingMax:
		for j := range out {
			out[j] = math.Inf(-1)
			for k := skip; k < n; k++ {
				out[j] = math.Max(out[j], float64(h[k][j]))
			}
		}
	default:
		var wsum float64
		for k := skip; k < n; k++ {
			wt := 1.0
			if p == onnx.PoolingWeightedMean {
				wt = float64(k + 1) // positions count from 1 (right padding)
			}
			wsum += wt
			for j := range out {
				out[j] += wt * float64(h[k][j])
			}
		}
		div := wsum
		if p == onnx.PoolingMeanSqrtLen {
			div = math.Sqrt(wsum)
		}
		for j := range out {
			out[j] /= div
		}
	}
	if norm {
		var s float64
		for _, v := range out {
			s += v * v
		}
		for j := range out {
			out[j] /= math.Sqrt(s)
		}
	}
	return out
}

var folderTexts = []string{
	"the quick brown fox jumps over the lazy dog",
	"cat",
	"Hello, world!",
	"the cat sat on the mat .",
	"red blue red blue",
	"over the lazy dog , the quick fox",
	"The QUICK Fox",
}

func TestSentenceTransformersFolders(t *testing.T) {
	no := false
	type want struct {
		pooling   onnx.Pooling
		norm      bool
		maxLen    int
		prompt    string
		promptLen int // tokens (special ones before it included) the prompt takes
		exclude   bool
		lower     bool
	}
	for _, tc := range []struct {
		name string
		f    onnxtest.STFolder
		want want
	}{
		{"cls normalized (BGE-like, pooling flags)", onnxtest.STFolder{Model: onnxtest.TokenModel{Template: "bert", Layers: 1}, Pooling: "cls", PoolingFlags: true, Normalize: true},
			want{pooling: onnx.PoolingCLS, norm: true, maxLen: 256}},
		{"mean, max length 5 (MiniLM-like)", onnxtest.STFolder{Model: onnxtest.TokenModel{Template: "bert", Layers: 1}, Pooling: "mean", PoolingFlags: true, MaxSeqLength: 5},
			want{pooling: onnx.PoolingMean, maxLen: 5}},
		{"max", onnxtest.STFolder{Model: onnxtest.TokenModel{Layers: 1}, Pooling: "max", Normalize: true},
			want{pooling: onnx.PoolingMax, norm: true, maxLen: 256}},
		{"mean_sqrt_len_tokens", onnxtest.STFolder{Model: onnxtest.TokenModel{Template: "bert"}, Pooling: "mean_sqrt_len_tokens"},
			want{pooling: onnx.PoolingMeanSqrtLen, maxLen: 256}},
		{"weightedmean", onnxtest.STFolder{Model: onnxtest.TokenModel{Template: "bert", Layers: 1}, Pooling: "weightedmean", Normalize: true},
			want{pooling: onnx.PoolingWeightedMean, norm: true, maxLen: 256}},
		{"default prompt (E5-like)", onnxtest.STFolder{Model: onnxtest.TokenModel{Template: "bert", Layers: 1}, Pooling: "mean", Normalize: true,
			Prompts: map[string]string{"query": "the quick ", "document": ""}, DefaultPromptName: "query", Similarity: "cosine"},
			want{pooling: onnx.PoolingMean, norm: true, maxLen: 256, prompt: "the quick ", promptLen: 3}},
		{"prompt excluded from pooling (INSTRUCTOR-like)", onnxtest.STFolder{Model: onnxtest.TokenModel{Template: "bert", Layers: 1}, Pooling: "mean", IncludePrompt: &no,
			Prompts: map[string]string{"query": "hello world , "}, DefaultPromptName: "query"},
			want{pooling: onnx.PoolingMean, maxLen: 256, prompt: "hello world , ", promptLen: 4, exclude: true}},
		{"max with prompt excluded", onnxtest.STFolder{Model: onnxtest.TokenModel{Layers: 1}, Pooling: "max", IncludePrompt: &no,
			Prompts: map[string]string{"q": "red cat "}, DefaultPromptName: "q"},
			want{pooling: onnx.PoolingMax, maxLen: 256, prompt: "red cat ", promptLen: 2, exclude: true}},
		{"do_lower_case", onnxtest.STFolder{Model: onnxtest.TokenModel{CaseSensitive: true}, Pooling: "mean", LowerCase: true, ModelMaxLength: 512},
			want{pooling: onnx.PoolingMean, maxLen: 512, lower: true}},
		{"decoder: last token, left padding, EOS, position_ids", onnxtest.STFolder{Model: onnxtest.TokenModel{Template: "eos", PositionIDs: true, Causal: true, Layers: 1},
			Pooling: "lasttoken", Normalize: true, PaddingSide: "left", Prompts: map[string]string{"query": "hello : "}, DefaultPromptName: "query"},
			want{pooling: onnx.PoolingLastToken, norm: true, maxLen: 256, prompt: "hello : ", promptLen: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w, err := tc.f.Write(dir)
			if err != nil {
				t.Fatal(err)
			}
			tk, err := tokenizer.Load(w.Tokenizer)
			if err != nil {
				t.Fatal(err)
			}
			var first []float32
			for _, bs := range []int{3, 1} {
				enc, err := onnx.OpenEncoder(dir, onnx.EncoderSettings{BatchSize: bs})
				if err != nil {
					t.Fatal(err)
				}
				p := enc.Pipeline()
				if p.Pooling.Value != tc.want.pooling || p.Normalize.Value != tc.want.norm || p.MaxLength.Value != tc.want.maxLen ||
					p.Prompt.Value != tc.want.prompt || p.PromptLength != tc.want.promptLen || p.LowerCase.Value != tc.want.lower {
					t.Fatalf("pipeline %+v, want %+v", p, tc.want)
				}
				if want := filepath.Join(dir, "1_Pooling", "config.json"); p.Pooling.From != want {
					t.Errorf("pooling from %q, want %q", p.Pooling.From, want)
				}
				if tc.want.norm && p.Normalize.From != filepath.Join(dir, "modules.json") {
					t.Errorf("normalize from %q", p.Normalize.From)
				}
				if tc.f.MaxSeqLength > 0 && p.MaxLength.From != filepath.Join(dir, "sentence_bert_config.json") {
					t.Errorf("max length from %q", p.MaxLength.From)
				}
				if p.Model != filepath.Join(dir, "onnx", "model.onnx") || p.File != "onnx/model.onnx" {
					t.Errorf("model %q file %q", p.Model, p.File)
				}
				dst := blas32.General{Rows: len(folderTexts), Cols: enc.Dim(), Stride: enc.Dim(), Data: make([]float32, len(folderTexts)*enc.Dim())}
				if err := enc.Encode(context.Background(), dst, folderTexts); err != nil {
					t.Fatal(err)
				}
				enc.Close()
				skip := 0
				if tc.want.exclude {
					skip = tc.want.promptLen
				}
				for i, text := range folderTexts {
					ref := stReference(w, tk, text, tc.want.prompt, tc.want.lower, tc.want.maxLen, skip, tc.want.pooling, tc.want.norm)
					for j, v := range ref {
						if got := float64(dst.Data[i*dst.Stride+j]); math.Abs(got-v) > 1e-6*math.Max(1, math.Abs(v)) {
							t.Fatalf("batch %d: %q[%d] = %v, Go computation %v", bs, text, j, got, v)
						}
					}
				}
				if first == nil {
					first = dst.Data
				} else {
					for k := range first {
						if first[k] != dst.Data[k] {
							t.Fatalf("batch size 1 and 3 differ at %d: %v vs %v", k, dst.Data[k], first[k])
						}
					}
				}
			}
		})
	}
}

// TestPaddingSideSetting checks that an explicit padding side overrides
// the folder's, and that with position_ids computed from the mask a causal
// model embeds the same whichever side pads.
func TestPaddingSideSetting(t *testing.T) {
	dir := t.TempDir()
	f := onnxtest.STFolder{Model: onnxtest.TokenModel{Template: "eos", PositionIDs: true, Causal: true}, Pooling: "lasttoken", PaddingSide: "left"}
	if _, err := f.Write(dir); err != nil {
		t.Fatal(err)
	}
	embed := func(s onnx.EncoderSettings) []float32 {
		enc, err := onnx.OpenEncoder(dir, s)
		if err != nil {
			t.Fatal(err)
		}
		defer enc.Close()
		if s.PaddingSide != "" && enc.Pipeline().PaddingSide.From != onnx.SourceExplicit {
			t.Errorf("padding side from %q", enc.Pipeline().PaddingSide.From)
		}
		dst := blas32.General{Rows: 2, Cols: enc.Dim(), Stride: enc.Dim(), Data: make([]float32, 2*enc.Dim())}
		if err := enc.Encode(context.Background(), dst, []string{"cat", "the quick brown fox"}); err != nil {
			t.Fatal(err)
		}
		return dst.Data
	}
	left, right := embed(onnx.EncoderSettings{}), embed(onnx.EncoderSettings{PaddingSide: "right"})
	// Both sides are correct implementations of the same model: the last
	// real token is found either way.
	for k := range left {
		if math.Abs(float64(left[k]-right[k])) > 1e-5 {
			t.Fatalf("left and right padding differ at %d: %v vs %v", k, left[k], right[k])
		}
	}
}

func TestONNXVariants(t *testing.T) {
	dir := t.TempDir()
	f := onnxtest.STFolder{Model: onnxtest.TokenModel{}, Pooling: "mean", Variants: []string{"model_O4.onnx", "model_qint8_avx512.onnx"}}
	if _, err := f.Write(dir); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file, want, err string
		warn            bool
	}{
		{"", "onnx/model.onnx", "", true},
		{"model_O4.onnx", "onnx/model_O4.onnx", "", false},
		{"onnx/model_qint8_avx512.onnx", "onnx/model_qint8_avx512.onnx", "", false},
		{"model_O9.onnx", "", `file: "model_O9.onnx": not in model folder`, false},
	} {
		p, warns, err := onnx.Resolve(dir, onnx.EncoderSettings{File: tc.file})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "onnx/model_O4.onnx") {
				t.Errorf("file %q: error %v, want %q listing the variants", tc.file, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.File != tc.want || len(p.Variants) != 3 || (len(warns) > 0) != tc.warn {
			t.Errorf("file %q: chose %q of %v, notes %q", tc.file, p.File, p.Variants, warns)
		}
	}
}

func TestPromptSettings(t *testing.T) {
	dir := t.TempDir()
	f := onnxtest.STFolder{Model: onnxtest.TokenModel{Template: "bert"}, Pooling: "mean", Prompts: map[string]string{"query": "the ", "passage": "a "}, DefaultPromptName: "query"}
	if _, err := f.Write(dir); err != nil {
		t.Fatal(err)
	}
	st := filepath.Join(dir, "config_sentence_transformers.json")
	for _, tc := range []struct {
		s          onnx.EncoderSettings
		prompt     string
		name, from string
		err        string
	}{
		{onnx.EncoderSettings{}, "the ", "query", st, ""},
		{onnx.EncoderSettings{PromptName: "passage"}, "a ", "passage", st, ""},
		{onnx.EncoderSettings{Prompt: "cat "}, "cat ", "", onnx.SourceExplicit, ""},
		{onnx.EncoderSettings{PromptName: "doc"}, "", "", "", `prompt_name: "doc" is not one of the model's prompts (passage, query)`},
	} {
		p, _, err := onnx.Resolve(dir, tc.s)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: error %v, want %q", tc.s, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.Prompt.Value != tc.prompt || p.PromptName != tc.name || p.Prompt.From != tc.from {
			t.Errorf("%+v: prompt %+v name %q", tc.s, p.Prompt, p.PromptName)
		}
	}
}

func TestBadFolderFiles(t *testing.T) {
	for _, tc := range []struct {
		file, content, want string
	}{
		{"modules.json", `{"not": "a list"}`, "modules.json: want a JSON array"},
		{"modules.json", `[{"idx":0,"path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"path":"2_Dense","type":"sentence_transformers.models.Dense"}]`, "modules.json: modules.json lists 2_Dense (sentence_transformers.models.Dense), which embfit cannot apply"},
		{"1_Pooling/config.json", `not json`, "1_Pooling/config.json: not a JSON object"},
		{"1_Pooling/config.json", `{"pooling_mode": "sum"}`, `1_Pooling/config.json: pooling_mode: "sum": want cls, mean`},
		{"1_Pooling/config.json", `{"pooling_mode_cls_token": true}`, "several pooling modes (cls, mean) concatenated"},
		{"1_Pooling/config.json", `{"pooling_mode_mean_tokens": "yes"}`, `pooling_mode_mean_tokens: want a boolean, got "yes"`},
		{"1_Pooling/config.json", `{"pooling_mode": "mean", "word_embedding_dimension": 7}`, "word_embedding_dimension: 7, but the model's token vectors have 8 values"},
		{"sentence_bert_config.json", `{"max_seq_length": -3}`, "sentence_bert_config.json: max_seq_length: -3: want a positive integer"},
		{"sentence_bert_config.json", `{"max_seq_length": 1.5}`, "max_seq_length: 1.5: want a positive integer"},
		{"config_sentence_transformers.json", `{"prompts": {"q": 3}}`, "prompts: want a object of strings"},
		{"config_sentence_transformers.json", `{"prompts": {"q": "x"}, "default_prompt_name": "query"}`, `default_prompt_name: "query" is not one of the prompts (q)`},
		{"config_sentence_transformers.json", `{"similarity_fn_name": "jaccard"}`, `similarity_fn_name: "jaccard": want cosine`},
		{"tokenizer_config.json", `{"model_max_length": "long"}`, `tokenizer_config.json: model_max_length: want a number, got "long"`},
		{"tokenizer_config.json", `{"padding_side": "middle"}`, `padding_side: "middle": want left or right`},
		{"tokenizer_config.json", `[1,2]`, "tokenizer_config.json: not a JSON object"},
		{"config.json", `{"max_position_embeddings": 0}`, "config.json: max_position_embeddings: 0: want a positive integer"},
	} {
		dir := t.TempDir()
		if _, err := (onnxtest.STFolder{Model: onnxtest.TokenModel{}, Pooling: "mean"}).Write(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := onnx.Resolve(dir, onnx.EncoderSettings{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: error %v, want %q", tc.file, tc.content, err, tc.want)
			continue
		}
		if e, ok := inputerr.As(err); !ok || !strings.HasSuffix(e.File, filepath.FromSlash(tc.file)) {
			t.Errorf("%s: error %v does not name the file", tc.file, err)
		}
	}
}

func TestTensorModels(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tm        onnxtest.TensorModel
		batch     int
		wantBatch int
		wantNote  bool
		items     int
	}{
		{"NHWC in, rank-4 out, fixed batch 1", onnxtest.TensorModel{ItemShape: []int64{6, 4, 1}, OutShape: []int64{1, 1, 5}, FixedBatch: 1}, 0, 1, true, 5},
		{"feature dim first", onnxtest.TensorModel{ItemShape: []int64{3, 2}, OutShape: []int64{5, 1, 1}}, 2, 2, false, 5},
		{"fixed batch 4, ragged last batch", onnxtest.TensorModel{ItemShape: []int64{2, 2, 3}, OutShape: []int64{1, 7}, FixedBatch: 4}, 64, 4, true, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tensor.onnx")
			w, d, err := tc.tm.Write(path)
			if err != nil {
				t.Fatal(err)
			}
			enc, err := onnx.OpenEncoder(path, onnx.EncoderSettings{BatchSize: tc.batch})
			if err != nil {
				t.Fatal(err)
			}
			defer enc.Close()
			p := enc.Pipeline()
			if enc.Dim() != d || p.BatchSize.Value != tc.wantBatch || (len(enc.Warnings()) == 1) != tc.wantNote || p.Input != "tensor" || p.Pooling.Value != onnx.PoolingNone {
				t.Fatalf("dim %d (want %d), pipeline %+v, notes %q", enc.Dim(), d, p, enc.Warnings())
			}
			if tc.wantNote && p.BatchSize.From != onnx.SourceModel {
				t.Errorf("batch size from %q", p.BatchSize.From)
			}
			per := len(w) / d
			x := blas32.General{Rows: tc.items, Cols: per, Stride: per, Data: make([]float32, tc.items*per)}
			for i := range x.Data {
				x.Data[i] = float32(math.Sin(float64(i)))
			}
			dst := blas32.General{Rows: tc.items, Cols: d, Stride: d, Data: make([]float32, tc.items*d)}
			if err := enc.EncodeFloats(context.Background(), dst, x, nil); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < tc.items; i++ {
				for j := 0; j < d; j++ {
					var want float64
					for k := 0; k < per; k++ {
						want += float64(x.Data[i*per+k]) * float64(w[k*d+j])
					}
					if got := float64(dst.Data[i*d+j]); math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
						t.Fatalf("item %d [%d] = %v, want %v", i, j, got, want)
					}
				}
			}
			if _, _, err := onnx.Resolve(path, onnx.EncoderSettings{Prompt: "query: "}); err == nil || !strings.Contains(err.Error(), "takes a float tensor (input input)") {
				t.Errorf("prompt on a tensor model: %v", err)
			}
		})
	}
}

func TestCheckItemShape(t *testing.T) {
	for _, tc := range []struct {
		got, want []int64
		err       string
	}{
		{[]int64{76, 32, 1}, []int64{76, 32, 1}, ""},
		{[]int64{2432}, []int64{76, 32, 1}, ""},
		{[]int64{2431}, []int64{76, 32, 1}, "2431 values, the model's item shape [76 32 1] needs 2432"},
		{[]int64{76, 1, 32}, []int64{76, 32, 1}, "dimension 2 has 1 values, the model's item shape [76 32 1] needs 32"},
		{[]int64{76, 32}, []int64{76, 32, 1}, "rank 2, the model's item shape [76 32 1] has rank 3"},
		{[]int64{6}, []int64{6}, ""},
		{[]int64{5}, []int64{6}, "dimension 1 has 5 values"},
	} {
		err := onnx.CheckItemShape(tc.got, tc.want)
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("CheckItemShape(%v, %v) = %v, want %q", tc.got, tc.want, err, tc.err)
		}
	}
}

// FuzzReadFolder feeds arbitrary bytes to every configuration file a
// model folder may hold: ReadFolder never panics, and its errors name the
// file.
func FuzzReadFolder(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `{"pooling_mode":"cls"}`, `[{"idx":1,"path":"1_Pooling","type":"sentence_transformers.models.Pooling"}]`,
		`{"max_seq_length":512,"do_lower_case":true}`, `{"prompts":{"q":"x"},"default_prompt_name":"q"}`, `{"model_max_length":1e30,"padding_side":"left"}`, `nul`} {
		for i := 0; i < 6; i++ {
			f.Add(i, []byte(s))
		}
	}
	files := []string{"modules.json", "1_Pooling/config.json", "sentence_bert_config.json", "config_sentence_transformers.json", "tokenizer_config.json", "config.json"}
	f.Fuzz(func(t *testing.T, which int, data []byte) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "1_Pooling"), 0o755)
		os.WriteFile(filepath.Join(dir, "modules.json"), []byte(`[{"idx":0,"path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"path":"1_Pooling","type":"sentence_transformers.models.Pooling"}]`), 0o644)
		os.WriteFile(filepath.Join(dir, "1_Pooling", "config.json"), []byte(`{"pooling_mode":"mean"}`), 0o644)
		name := files[((which%len(files))+len(files))%len(files)]
		os.WriteFile(filepath.Join(dir, name), data, 0o644)
		_, err := onnx.ReadFolder(dir)
		if err != nil {
			if e, ok := inputerr.As(err); !ok || e.File == "" {
				t.Fatalf("error without a file: %v", err)
			}
		}
	})
}

// TestWriteFolderConfigRoundTrip: a model folder written from a resolved
// pipeline resolves to the same pipeline.
func TestWriteFolderConfigRoundTrip(t *testing.T) {
	no := false
	src := t.TempDir()
	f := onnxtest.STFolder{Model: onnxtest.TokenModel{Template: "bert"}, Pooling: "weightedmean", Normalize: true, MaxSeqLength: 9, IncludePrompt: &no,
		Prompts: map[string]string{"query": "the ", "document": ""}, DefaultPromptName: "query", Similarity: "dot", PaddingSide: "left"}
	w, err := f.Write(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []onnx.EncoderSettings{{}, {Prompt: "cat "}, {PromptName: "document", NoNormalize: true, MaxLength: 5}} {
		p, _, err := onnx.Resolve(src, s)
		if err != nil {
			t.Fatal(err)
		}
		dst := t.TempDir()
		for _, name := range []string{"tokenizer.json"} {
			b, _ := os.ReadFile(filepath.Join(src, name))
			os.WriteFile(filepath.Join(dst, name), b, 0o644)
		}
		b, _ := os.ReadFile(w.Model)
		os.WriteFile(filepath.Join(dst, "model.onnx"), b, 0o644)
		p.Dim = w.Dim
		if err := onnx.WriteFolderConfig(dst, onnx.FolderConfigOf(p, p.Pooling.Value)); err != nil {
			t.Fatal(err)
		}
		q, _, err := onnx.Resolve(dst, onnx.EncoderSettings{})
		if err != nil {
			t.Fatal(err)
		}
		q.Dim = w.Dim
		if p.CacheKey() == q.CacheKey() {
			t.Fatalf("cache keys equal although the files differ (%s)", p.File)
		}
		p.File, q.File = "", ""
		if p.CacheKey() != q.CacheKey() || p.PromptLength != q.PromptLength || p.Similarity.Value != q.Similarity.Value {
			t.Errorf("settings %+v: round trip\n%s\n%s", s, p.CacheKey(), q.CacheKey())
		}
	}
}
