package quantize_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/graph"
	"github.com/embfit/embfit/onnx/onnxtest"
	"github.com/embfit/embfit/onnx/quantize"
)

func TestPerColumn(t *testing.T) {
	tests := []struct {
		name   string
		w      []float32
		k, n   int
		q      []int8
		scales []float32
	}{
		{"symmetric", []float32{1, -2, -0.5, 1}, 2, 2, []int8{127, -127, -64, 64}, []float32{1.0 / 127, 2.0 / 127}},
		{"zero column", []float32{0, 3, 0, -3}, 2, 2, []int8{0, 127, 0, -127}, []float32{1, 3.0 / 127}},
		{"half rounds to even", []float32{127, 0.5, 1, 1.5}, 4, 1, []int8{127, 0, 1, 2}, []float32{1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, s := quantize.PerColumn(tc.w, tc.k, tc.n)
			if !slices.Equal(q, tc.q) {
				t.Errorf("q = %v, want %v", q, tc.q)
			}
			for j := range s {
				if math.Abs(float64(s[j]-tc.scales[j])) > 1e-7 {
					t.Errorf("scales = %v, want %v", s, tc.scales)
				}
			}
			for i, v := range tc.w {
				if d := math.Abs(float64(v) - float64(q[i])*float64(s[i%tc.n])); d > float64(s[i%tc.n])/2+1e-7 {
					t.Errorf("element %d: error %g above half a step", i, d)
				}
			}
		})
	}
}

// gemmModel is y = alpha·x·Wᵀ + beta·c (transB) with x [batch, 16].
func gemmModel(t *testing.T) (string, []float32, []float32) {
	rng := rand.New(rand.NewPCG(4, 5))
	w := make([]float32, 8*16)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	c := make([]float32, 8)
	for i := range c {
		c[i] = float32(rng.NormFloat64())
	}
	m := graph.New("gemm", 13)
	m.AddInput("x", graph.Float, graph.Sym("batch"), graph.Fixed(16))
	m.AddInitializerFloat("W", []int64{8, 16}, w)
	m.AddInitializerFloat("C", []int64{8}, c)
	m.AddNode("Gemm", []string{"x", "W", "C"}, []string{"y"}, graph.AttrInt("transB", 1), graph.AttrFloat("alpha", 0.5), graph.AttrFloat("beta", 2))
	m.AddOutput("y", graph.Float, graph.Sym("batch"), graph.Fixed(8))
	p := filepath.Join(t.TempDir(), "gemm.onnx")
	if err := m.Save(p); err != nil {
		t.Fatal(err)
	}
	return p, w, c
}

func run(t *testing.T, path string, inputs map[string]onnx.Tensor, output string) []float32 {
	t.Helper()
	s, err := onnx.OpenSession(path, output)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run(inputs)
	if err != nil {
		t.Fatal(err)
	}
	return out[0].Float
}

func textInputs(b, seq int, seed uint64) map[string]onnx.Tensor {
	rng := rand.New(rand.NewPCG(seed, 1))
	ids, mask, types := make([]int64, b*seq), make([]int64, b*seq), make([]int64, b*seq)
	for i := range b {
		n := 1 + rng.IntN(seq)
		for j := range n {
			ids[i*seq+j] = int64(2 + rng.IntN(20))
			mask[i*seq+j] = 1
		}
	}
	sh := []int64{int64(b), int64(seq)}
	return map[string]onnx.Tensor{"input_ids": {Shape: sh, Int64: ids}, "attention_mask": {Shape: sh, Int64: mask}, "token_type_ids": {Shape: sh, Int64: types}}
}

// relErr is ‖a-b‖/‖a‖.
func relErr(a, b []float32) float64 {
	var d, n float64
	for i := range a {
		d += (float64(a[i]) - float64(b[i])) * (float64(a[i]) - float64(b[i]))
		n += float64(a[i]) * float64(a[i])
	}
	return math.Sqrt(d / n)
}

// TestDynamic quantizes generated models in both formats, runs them in
// ONNX Runtime next to the float originals and checks the outputs agree
// to int8 precision, that no float weight is left and that the file
// shrank.
func TestDynamic(t *testing.T) {
	dir := t.TempDir()
	tok, err := onnxtest.TokenModel{Dim: 32, Layers: 3, Seed: 2, TokenTypeIDs: true}.Write(filepath.Join(dir, "tok"))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := onnxtest.Transformer{Layers: 2, Hidden: 64, Heads: 4, FF: 256, Vocab: 30, Seed: 7}.Write(filepath.Join(dir, "tr"))
	if err != nil {
		t.Fatal(err)
	}
	gemm, _, _ := gemmModel(t)
	x := make([]float32, 5*16)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)))
	}
	models := []struct {
		name, path, output string
		inputs             map[string]onnx.Tensor
		nodes, skipped     int
		maxRel             float64
	}{
		{"token model", tok.Model, "last_hidden_state", textInputs(4, 6, 1), 3, 0, 0.03},
		// Attention's two activation-by-activation MatMuls per layer stay.
		{"transformer", tr.Model, "last_hidden_state", textInputs(3, 9, 2), 12, 4, 0.05},
		{"gemm", gemm, "y", map[string]onnx.Tensor{"x": {Shape: []int64{5, 16}, Float: x}}, 1, 0, 0.02},
	}
	for _, mc := range models {
		want := run(t, mc.path, mc.inputs, mc.output)
		for _, f := range quantize.Formats {
			t.Run(mc.name+"/"+string(f), func(t *testing.T) {
				m, err := graph.Load(mc.path)
				if err != nil {
					t.Fatal(err)
				}
				rep, err := quantize.Dynamic(m, quantize.Options{Format: f})
				if err != nil {
					t.Fatal(err)
				}
				if rep.Quantized != mc.nodes || len(rep.Skipped) != mc.skipped {
					t.Errorf("quantized %d nodes, skipped %v; want %d and %d", rep.Quantized, rep.Skipped, mc.nodes, mc.skipped)
				}
				for _, s := range rep.Skipped {
					if !strings.HasSuffix(s, "weight is not an initializer") {
						t.Errorf("skipped %s", s)
					}
				}
				if rep.Int8Bytes*3 > rep.FloatBytes {
					t.Errorf("weights %d → %d bytes: want about a quarter", rep.FloatBytes, rep.Int8Bytes)
				}
				for _, n := range m.Graph().Node {
					if n.OpType == "MatMul" && strings.HasSuffix(n.Input[1], ".weight") || n.OpType == "Gemm" {
						t.Errorf("float node %s %v left", n.OpType, n.Input)
					}
				}
				if f == quantize.FormatDynamicQuantizeMatMul {
					// Biases are folded: no Add reads a quantized node's output.
					q, inits := map[string]bool{}, map[string]bool{}
					for _, n := range m.Graph().Node {
						if n.OpType == "DynamicQuantizeMatMul" {
							q[n.Output[0]] = true
						}
					}
					for _, in := range m.Graph().Initializer {
						inits[in.Name] = true
					}
					for _, n := range m.Graph().Node {
						if n.OpType == "Add" && (q[n.Input[0]] && inits[n.Input[1]] || inits[n.Input[0]] && q[n.Input[1]]) {
							t.Errorf("bias Add %s not folded", n.Name)
						}
					}
				}
				for _, in := range m.Graph().Initializer {
					if strings.HasSuffix(in.Name, ".weight") || in.Name == "W" || strings.HasPrefix(in.Name, "W") && len(in.Name) == 2 {
						t.Errorf("float weight %s left", in.Name)
					}
				}
				p := filepath.Join(t.TempDir(), "q.onnx")
				if err := m.Save(p); err != nil {
					t.Fatal(err)
				}
				got := run(t, p, mc.inputs, mc.output)
				if e := relErr(want, got); e > mc.maxRel || e == 0 {
					t.Errorf("relative error %.4g, want in (0, %g]", e, mc.maxRel)
				} else {
					t.Logf("relative error %.4g", e)
				}
			})
		}
	}
}

func TestDynamicRefuses(t *testing.T) {
	dir := t.TempDir()
	lookup, err := onnxtest.TokenModel{Dim: 8}.Write(filepath.Join(dir, "lookup"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := onnxtest.TokenModel{Dim: 8, Layers: 1}.Write(filepath.Join(dir, "tok"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, model string
		o           quantize.Options
		want        string
	}{
		{"lookup table only", lookup.Model, quantize.Options{}, quantize.ErrNothingToQuantize.Error()},
		{"twice", "", quantize.Options{}, quantize.ErrNothingToQuantize.Error()},
		{"unknown format", tok.Model, quantize.Options{Format: "int4"}, `quantization format "int4"`},
		{"below the minimum size", tok.Model, quantize.Options{MinElements: 100}, quantize.ErrNothingToQuantize.Error()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m *graph.Model
			if tc.model == "" {
				m, _ = graph.Load(tok.Model)
				if _, err := quantize.Dynamic(m, tc.o); err != nil {
					t.Fatal(err)
				}
			} else if m, err = graph.Load(tc.model); err != nil {
				t.Fatal(err)
			}
			_, err := quantize.Dynamic(m, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "m")
	if _, err := (onnxtest.TokenModel{Dim: 16, Layers: 2}).Write(filepath.Join(src, "onnx")); err != nil {
		t.Fatal(err)
	}
	// A Hugging Face folder: configs at the top, the model under onnx/.
	for name, body := range map[string]string{
		"config.json": `{"model_type":"bert"}`, "tokenizer_config.json": `{"model_max_length":128}`,
		"1_Pooling/config.json": `{}`, "vocab.txt": "a\n", "model.safetensors": "weights", "onnx/model_O2.onnx": "x",
	} {
		p := filepath.Join(src, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(src, "2_Normalize"), 0o755)
	dst := filepath.Join(dir, "q")
	rep, err := quantize.Files(src, dst, false, quantize.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Model != filepath.Join(dst, "onnx", "model.onnx") || rep.Quantized != 2 {
		t.Errorf("report %+v", rep)
	}
	wantCopied := []string{"1_Pooling/config.json", "config.json", "onnx/tokenizer.json", "tokenizer_config.json", "vocab.txt"}
	if !slices.Equal(rep.Copied, wantCopied) {
		t.Errorf("copied %v, want %v", rep.Copied, wantCopied)
	}
	for _, p := range []string{"model.safetensors", "onnx/model_O2.onnx"} {
		if _, err := os.Stat(filepath.Join(dst, p)); err == nil {
			t.Errorf("%s carried over", p)
		}
	}
	if st, err := os.Stat(filepath.Join(dst, "2_Normalize")); err != nil || !st.IsDir() {
		t.Errorf("empty module folder not kept: %v", err)
	}
	files, err := onnx.ResolveModel(dst)
	if err != nil || files.MaxLength != 128 || files.Tokenizer == "" {
		t.Errorf("quantized folder resolves to %+v, %v", files, err)
	}
	// The output exists: refused, untouched; with overwrite, replaced.
	if _, err := quantize.Files(src, dst, false, quantize.Options{}); !errors.Is(err, quantize.ErrExists) {
		t.Errorf("existing output: err = %v", err)
	}
	os.WriteFile(filepath.Join(dst, "stale.json"), []byte("{}"), 0o644)
	if _, err := quantize.Files(src, dst, true, quantize.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dst, "stale.json")); err == nil {
		t.Error("overwrite kept a stale file")
	}
	// No temporary folder is left beside the output.
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("%d entries beside the output, want 2 (m, q)", len(ents))
	}
	// One file in, one file out; a lookup-only model writes nothing.
	one := filepath.Join(dir, "one.onnx")
	if _, err := quantize.Files(filepath.Join(src, "onnx", "model.onnx"), one, false, quantize.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := onnx.OpenSession(one); err != nil {
		t.Errorf("quantized file does not open: %v", err)
	}
	lookup, _ := onnxtest.TokenModel{}.Write(filepath.Join(dir, "lookup"))
	if _, err := quantize.Files(lookup.Dir, filepath.Join(dir, "lq"), false, quantize.Options{}); !errors.Is(err, quantize.ErrNothingToQuantize) {
		t.Errorf("lookup model: err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "lq")); err == nil {
		t.Error("failed quantization left an output")
	}
}

// FuzzDynamic feeds arbitrary bytes that parse as ONNX models to Dynamic:
// it must return an error or a model that passes Check, never panic.
func FuzzDynamic(f *testing.F) {
	dir := f.TempDir()
	tok, err := onnxtest.TokenModel{Dim: 4, Layers: 1}.Write(dir)
	if err != nil {
		f.Fatal(err)
	}
	b, _ := os.ReadFile(tok.Model)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := graph.Unmarshal(b)
		if err != nil {
			return
		}
		if _, err := quantize.Dynamic(m, quantize.Options{}); err == nil {
			if err := m.Check(); err != nil {
				t.Errorf("quantized model fails Check: %v", err)
			}
		}
	})
}

// TestDeterministic quantizes the same model twice: the files are equal
// byte for byte.
func TestDeterministic(t *testing.T) {
	dir := t.TempDir()
	tr, err := onnxtest.Transformer{Layers: 2, Hidden: 32, Heads: 4, FF: 64, Vocab: 50, Seed: 9}.Write(filepath.Join(dir, "m"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range quantize.Formats {
		var files [2][]byte
		for i := range files {
			out := filepath.Join(dir, string(f)+strconv.Itoa(i)+".onnx")
			if _, err := quantize.Files(tr.Model, out, false, quantize.Options{Format: f}); err != nil {
				t.Fatal(err)
			}
			if files[i], err = os.ReadFile(out); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(files[0], files[1]) {
			t.Errorf("%s: two runs wrote different bytes", f)
		}
	}
}

// TestThreadsIndependent embeds with the int8 model on one and on two
// intra-op threads: the embeddings are equal bit for bit.
func TestThreadsIndependent(t *testing.T) {
	dir := t.TempDir()
	tok, err := onnxtest.TokenModel{Dim: 64, Layers: 3, Seed: 3}.Write(filepath.Join(dir, "m"))
	if err != nil {
		t.Fatal(err)
	}
	q := filepath.Join(dir, "q")
	if _, err := quantize.Files(tok.Dir, q, false, quantize.Options{}); err != nil {
		t.Fatal(err)
	}
	texts := make([]string, 300)
	for i := range texts {
		texts[i] = strings.Repeat(onnxtest.DefaultWords[i%len(onnxtest.DefaultWords)]+" ", 1+i%40) + onnxtest.DefaultWords[(i*7)%len(onnxtest.DefaultWords)]
	}
	var got [2][]float32
	for i, threads := range []int{1, 2} {
		enc, err := onnx.OpenEncoder(q, onnx.EncoderSettings{Threads: threads, Normalize: true})
		if err != nil {
			t.Fatal(err)
		}
		dst := blas32.General{Rows: len(texts), Cols: enc.Dim(), Stride: enc.Dim(), Data: make([]float32, len(texts)*enc.Dim())}
		if err := enc.Encode(context.Background(), dst, texts); err != nil {
			t.Fatal(err)
		}
		enc.Close()
		got[i] = dst.Data
	}
	if !slices.Equal(got[0], got[1]) {
		t.Error("int8 embeddings differ between 1 and 2 threads")
	}
}
