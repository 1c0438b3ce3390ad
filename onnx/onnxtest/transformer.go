package onnxtest

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/embfit/embfit/internal/atomicfile"
	"github.com/embfit/embfit/onnx/graph"
)

// Transformer describes a BERT-style text encoder with seeded random
// weights and the signature of a Hugging Face BERT export: int64
// input_ids, attention_mask and token_type_ids [batch, sequence] in,
// float32 last_hidden_state [batch, sequence, Hidden] out.
//
// The network is BERT's: word + position + token-type embeddings and a
// LayerNormalization, then Layers post-norm encoder layers, each
// multi-head self-attention (Heads heads, keys masked by attention_mask
// with -10000 added to masked scores) with a residual and LayerNorm, and
// a GELU (erf) feed-forward of width FF with a residual and LayerNorm.
// Every dense layer is a MatMul by a [in, out] weight followed by an Add
// of a bias, as the PyTorch exporter writes them. The zero value is
// MiniLM-L6's shape: 6 layers, hidden 384, 12 heads, feed-forward 1536,
// 512 positions, 2 token types and the vocabulary of the tokenizer (30522
// without one).
//
// Weights are scaled so activations keep unit order through the layers
// (dense weights N(0, 1/in), embeddings N(0, 1)), so attention is neither
// uniform nor one-hot and embeddings of different texts differ.
type Transformer struct {
	Layers, Hidden, Heads, FF int
	Vocab                     int // default: the tokenizer's vocabulary size, else 30522
	MaxPositions              int // default 512
	TypeVocab                 int // default 2
	// Tokenizer is a tokenizer.json copied beside model.onnx; none is
	// written when empty.
	Tokenizer string
	Seed      uint64
}

// Dense is one dense layer y = x·W + B, W [In, Out] row-major.
type Dense struct {
	In, Out int
	W, B    []float32
}

// TransformerLayer holds one encoder layer's weights.
type TransformerLayer struct {
	Q, K, V, O                  Dense
	AttnNormScale, AttnNormBias []float32
	Up, Down                    Dense
	OutNormScale, OutNormBias   []float32
}

// TransformerWeights are the weights of a written Transformer, for
// computing its output in Go (Forward).
type TransformerWeights struct {
	Hidden, Heads, FF int
	// Word [Vocab, Hidden], Position [MaxPositions, Hidden], Type
	// [TypeVocab, Hidden].
	Word, Position, Type       []float32
	EmbNormScale, EmbNormBias  []float32
	Layers                     []TransformerLayer
	Vocab, MaxPositions, Types int
}

// TransformerWritten is what Transformer.Write produced.
type TransformerWritten struct {
	Dir       string // the model folder
	Model     string // model.onnx
	Tokenizer string // tokenizer.json, "" if none was written
	Weights   *TransformerWeights
}

const (
	layerNormEps = 1e-12
	maskedScore  = -10000
)

func (tr Transformer) withDefaults() (Transformer, error) {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&tr.Layers, 6)
	def(&tr.Hidden, 384)
	def(&tr.Heads, 12)
	def(&tr.FF, 1536)
	def(&tr.MaxPositions, 512)
	def(&tr.TypeVocab, 2)
	if tr.Vocab == 0 && tr.Tokenizer != "" {
		n, err := tokenizerVocabSize(tr.Tokenizer)
		if err != nil {
			return tr, err
		}
		tr.Vocab = n
	}
	def(&tr.Vocab, 30522)
	if tr.Hidden%tr.Heads != 0 {
		return tr, fmt.Errorf("onnxtest: hidden %d is not a multiple of heads %d", tr.Hidden, tr.Heads)
	}
	return tr, nil
}

// tokenizerVocabSize returns 1 + the largest id of a tokenizer.json's
// model vocabulary and added tokens.
func tokenizerVocabSize(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var tj struct {
		Added []struct {
			ID int `json:"id"`
		} `json:"added_tokens"`
		Model struct {
			Vocab map[string]int `json:"vocab"`
		} `json:"model"`
	}
	if err := json.Unmarshal(b, &tj); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	n := 0
	for _, id := range tj.Model.Vocab {
		n = max(n, id+1)
	}
	for _, a := range tj.Added {
		n = max(n, a.ID+1)
	}
	if n == 0 {
		return 0, fmt.Errorf("%s: no vocabulary", path)
	}
	return n, nil
}

// Write writes model.onnx, config.json, tokenizer_config.json and (when
// Tokenizer is set) tokenizer.json into dir, created if needed.
func (tr Transformer) Write(dir string) (TransformerWritten, error) {
	tr, err := tr.withDefaults()
	if err != nil {
		return TransformerWritten{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return TransformerWritten{}, err
	}
	w := tr.weights()
	out := TransformerWritten{Dir: dir, Model: filepath.Join(dir, "model.onnx"), Weights: w}
	if err := w.model().Save(out.Model); err != nil {
		return TransformerWritten{}, err
	}
	if tr.Tokenizer != "" {
		b, err := os.ReadFile(tr.Tokenizer)
		if err != nil {
			return TransformerWritten{}, err
		}
		out.Tokenizer = filepath.Join(dir, "tokenizer.json")
		if err := atomicfile.WriteFile(out.Tokenizer, b); err != nil {
			return TransformerWritten{}, err
		}
	}
	cfg, _ := json.MarshalIndent(map[string]any{
		"model_type": "bert", "architectures": []string{"BertModel"},
		"hidden_size": tr.Hidden, "num_hidden_layers": tr.Layers, "num_attention_heads": tr.Heads,
		"intermediate_size": tr.FF, "hidden_act": "gelu", "vocab_size": tr.Vocab,
		"max_position_embeddings": tr.MaxPositions, "type_vocab_size": tr.TypeVocab,
		"layer_norm_eps": layerNormEps,
	}, "", "  ")
	if err := atomicfile.WriteFile(filepath.Join(dir, "config.json"), cfg); err != nil {
		return TransformerWritten{}, err
	}
	tcfg, _ := json.MarshalIndent(map[string]any{"model_max_length": tr.MaxPositions, "do_lower_case": true}, "", "  ")
	if err := atomicfile.WriteFile(filepath.Join(dir, "tokenizer_config.json"), tcfg); err != nil {
		return TransformerWritten{}, err
	}
	return out, nil
}

func (tr Transformer) weights() *TransformerWeights {
	rng := rand.New(rand.NewPCG(tr.Seed, 0xbe27))
	normal := func(n int, std float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * std)
		}
		return v
	}
	around := func(n int, mean, std float64) []float32 {
		v := normal(n, std)
		for i := range v {
			v[i] += float32(mean)
		}
		return v
	}
	dense := func(in, out int) Dense {
		return Dense{In: in, Out: out, W: normal(in*out, 1/math.Sqrt(float64(in))), B: normal(out, 0.02)}
	}
	h := tr.Hidden
	w := &TransformerWeights{
		Hidden: h, Heads: tr.Heads, FF: tr.FF, Vocab: tr.Vocab, MaxPositions: tr.MaxPositions, Types: tr.TypeVocab,
		Word:         normal(tr.Vocab*h, 1),
		Position:     normal(tr.MaxPositions*h, 0.5),
		Type:         normal(tr.TypeVocab*h, 0.1),
		EmbNormScale: around(h, 1, 0.05),
		EmbNormBias:  normal(h, 0.02),
	}
	for range tr.Layers {
		w.Layers = append(w.Layers, TransformerLayer{
			Q: dense(h, h), K: dense(h, h), V: dense(h, h), O: dense(h, h),
			AttnNormScale: around(h, 1, 0.05), AttnNormBias: normal(h, 0.02),
			Up: dense(h, tr.FF), Down: dense(tr.FF, h),
			OutNormScale: around(h, 1, 0.05), OutNormBias: normal(h, 0.02),
		})
	}
	return w
}

// model builds the ONNX graph of w.
func (w *TransformerWeights) model() *graph.Model {
	h, nh := int64(w.Hidden), int64(w.Heads)
	dh := h / nh
	m := graph.New("onnxtest_transformer", 17)
	seq := []graph.Dim{graph.Sym("batch"), graph.Sym("sequence")}
	for _, in := range []string{"input_ids", "attention_mask", "token_type_ids"} {
		m.AddInput(in, graph.Int64, seq...)
	}
	m.AddInitializerFloat("embeddings.word", []int64{int64(w.Vocab), h}, w.Word)
	m.AddInitializerFloat("embeddings.position", []int64{int64(w.MaxPositions), h}, w.Position)
	m.AddInitializerFloat("embeddings.token_type", []int64{int64(w.Types), h}, w.Type)
	m.AddInitializerFloat("embeddings.norm.scale", []int64{h}, w.EmbNormScale)
	m.AddInitializerFloat("embeddings.norm.bias", []int64{h}, w.EmbNormBias)
	m.AddInitializerInt64("c.zero", nil, []int64{0})
	m.AddInitializerInt64("c.one", nil, []int64{1})
	m.AddInitializerInt64("c.axes12", []int64{2}, []int64{1, 2})
	m.AddInitializerInt64("c.split_heads", []int64{4}, []int64{0, 0, nh, dh})
	m.AddInitializerInt64("c.merge_heads", []int64{3}, []int64{0, 0, h})
	m.AddInitializerFloat("c.onef", nil, []float32{1})
	m.AddInitializerFloat("c.masked", nil, []float32{maskedScore})
	m.AddInitializerFloat("c.inv_sqrt_dh", nil, []float32{float32(1 / math.Sqrt(float64(dh)))})
	m.AddInitializerFloat("c.sqrt2", nil, []float32{float32(math.Sqrt2)})
	m.AddInitializerFloat("c.half", nil, []float32{0.5})

	// Embeddings: word + position + token type, LayerNorm.
	m.AddNode("Gather", []string{"embeddings.word", "input_ids"}, []string{"emb.word"}, graph.AttrInt("axis", 0))
	m.AddNode("Shape", []string{"input_ids"}, []string{"emb.shape"})
	m.AddNode("Gather", []string{"emb.shape", "c.one"}, []string{"emb.seq_len"}, graph.AttrInt("axis", 0))
	m.AddNode("Range", []string{"c.zero", "emb.seq_len", "c.one"}, []string{"emb.position_ids"})
	m.AddNode("Gather", []string{"embeddings.position", "emb.position_ids"}, []string{"emb.pos"}, graph.AttrInt("axis", 0))
	m.AddNode("Gather", []string{"embeddings.token_type", "token_type_ids"}, []string{"emb.type"}, graph.AttrInt("axis", 0))
	m.AddNode("Add", []string{"emb.word", "emb.pos"}, []string{"emb.sum1"})
	m.AddNode("Add", []string{"emb.sum1", "emb.type"}, []string{"emb.sum"})
	m.AddNode("LayerNormalization", []string{"emb.sum", "embeddings.norm.scale", "embeddings.norm.bias"}, []string{"emb.out"},
		graph.AttrInt("axis", -1), graph.AttrFloat("epsilon", layerNormEps))

	// Additive key mask [B,1,1,T]: 0 where attention_mask is 1, -10000 where 0.
	m.AddNode("Cast", []string{"attention_mask"}, []string{"mask.f"}, graph.AttrInt("to", int64(graph.Float)))
	m.AddNode("Sub", []string{"c.onef", "mask.f"}, []string{"mask.inv"})
	m.AddNode("Mul", []string{"mask.inv", "c.masked"}, []string{"mask.add2"})
	m.AddNode("Unsqueeze", []string{"mask.add2", "c.axes12"}, []string{"mask.add"})

	dense := func(p, x string, d Dense) string {
		m.AddInitializerFloat(p+".weight", []int64{int64(d.In), int64(d.Out)}, d.W)
		m.AddInitializerFloat(p+".bias", []int64{int64(d.Out)}, d.B)
		m.AddNode("MatMul", []string{x, p + ".weight"}, []string{p + ".mm"})
		m.AddNode("Add", []string{p + ".mm", p + ".bias"}, []string{p + ".out"})
		return p + ".out"
	}
	norm := func(p, x string, scale, bias []float32) string {
		m.AddInitializerFloat(p+".scale", []int64{h}, scale)
		m.AddInitializerFloat(p+".bias", []int64{h}, bias)
		m.AddNode("LayerNormalization", []string{x, p + ".scale", p + ".bias"}, []string{p + ".out"},
			graph.AttrInt("axis", -1), graph.AttrFloat("epsilon", layerNormEps))
		return p + ".out"
	}
	heads := func(p, x string, perm ...int64) string {
		m.AddNode("Reshape", []string{x, "c.split_heads"}, []string{p + ".split"})
		m.AddNode("Transpose", []string{p + ".split"}, []string{p + ".heads"}, graph.AttrInts("perm", perm...))
		return p + ".heads"
	}
	x := "emb.out"
	for l, lw := range w.Layers {
		p := fmt.Sprintf("layer.%d", l)
		q := heads(p+".q", dense(p+".attn.q", x, lw.Q), 0, 2, 1, 3) // [B,H,T,dh]
		k := heads(p+".k", dense(p+".attn.k", x, lw.K), 0, 2, 3, 1) // [B,H,dh,T]
		v := heads(p+".v", dense(p+".attn.v", x, lw.V), 0, 2, 1, 3) // [B,H,T,dh]
		m.AddNode("MatMul", []string{q, k}, []string{p + ".scores.raw"})
		m.AddNode("Mul", []string{p + ".scores.raw", "c.inv_sqrt_dh"}, []string{p + ".scores.scaled"})
		m.AddNode("Add", []string{p + ".scores.scaled", "mask.add"}, []string{p + ".scores"})
		m.AddNode("Softmax", []string{p + ".scores"}, []string{p + ".probs"}, graph.AttrInt("axis", -1))
		m.AddNode("MatMul", []string{p + ".probs", v}, []string{p + ".ctx.heads"})
		m.AddNode("Transpose", []string{p + ".ctx.heads"}, []string{p + ".ctx.t"}, graph.AttrInts("perm", 0, 2, 1, 3))
		m.AddNode("Reshape", []string{p + ".ctx.t", "c.merge_heads"}, []string{p + ".ctx"})
		a := dense(p+".attn.o", p+".ctx", lw.O)
		m.AddNode("Add", []string{x, a}, []string{p + ".attn.res"})
		x = norm(p+".attn.norm", p+".attn.res", lw.AttnNormScale, lw.AttnNormBias)

		u := dense(p+".ff.up", x, lw.Up)
		m.AddNode("Div", []string{u, "c.sqrt2"}, []string{p + ".gelu.div"})
		m.AddNode("Erf", []string{p + ".gelu.div"}, []string{p + ".gelu.erf"})
		m.AddNode("Add", []string{p + ".gelu.erf", "c.onef"}, []string{p + ".gelu.add"})
		m.AddNode("Mul", []string{u, p + ".gelu.add"}, []string{p + ".gelu.mul"})
		m.AddNode("Mul", []string{p + ".gelu.mul", "c.half"}, []string{p + ".gelu"})
		d := dense(p+".ff.down", p+".gelu", lw.Down)
		m.AddNode("Add", []string{x, d}, []string{p + ".ff.res"})
		x = norm(p+".ff.norm", p+".ff.res", lw.OutNormScale, lw.OutNormBias)
	}
	m.AddNode("Identity", []string{x}, []string{"last_hidden_state"})
	m.AddOutput("last_hidden_state", graph.Float, graph.Sym("batch"), graph.Sym("sequence"), graph.Fixed(h))
	return m
}

// Forward computes, in float64 Go, the model's last_hidden_state for one
// sequence: ids, mask and types of equal length T (types may be nil:
// all 0). It returns T×Hidden values, row-major. Positions where mask is
// 0 are computed as the model computes them (attended by nobody, but
// still attending).
func (w *TransformerWeights) Forward(ids, mask, types []int64) []float64 {
	t, h := len(ids), w.Hidden
	x := make([]float64, t*h)
	for i, id := range ids {
		ty := int64(0)
		if types != nil {
			ty = types[i]
		}
		for j := range h {
			x[i*h+j] = float64(w.Word[int(id)*h+j]) + float64(w.Position[i*h+j]) + float64(w.Type[int(ty)*h+j])
		}
	}
	layerNorm(x, h, w.EmbNormScale, w.EmbNormBias)
	dh := h / w.Heads
	scale := 1 / math.Sqrt(float64(dh))
	for _, l := range w.Layers {
		q, k, v := l.Q.apply(x, t), l.K.apply(x, t), l.V.apply(x, t)
		ctx := make([]float64, t*h)
		scores := make([]float64, t)
		for hd := range w.Heads {
			off := hd * dh
			for i := range t {
				mx := math.Inf(-1)
				for j := range t {
					s := 0.0
					for c := range dh {
						s += q[i*h+off+c] * k[j*h+off+c]
					}
					s *= scale
					if mask[j] == 0 {
						s += maskedScore
					}
					scores[j] = s
					mx = math.Max(mx, s)
				}
				sum := 0.0
				for j := range t {
					scores[j] = math.Exp(scores[j] - mx)
					sum += scores[j]
				}
				for j := range t {
					p := scores[j] / sum
					for c := range dh {
						ctx[i*h+off+c] += p * v[j*h+off+c]
					}
				}
			}
		}
		a := l.O.apply(ctx, t)
		for i := range x {
			x[i] += a[i]
		}
		layerNorm(x, h, l.AttnNormScale, l.AttnNormBias)
		u := l.Up.apply(x, t)
		for i, z := range u {
			u[i] = 0.5 * z * (1 + math.Erf(z/math.Sqrt2))
		}
		d := l.Down.apply(u, t)
		for i := range x {
			x[i] += d[i]
		}
		layerNorm(x, h, l.OutNormScale, l.OutNormBias)
	}
	return x
}

// apply returns x·W + B for x with rows rows of d.In values.
func (d Dense) apply(x []float64, rows int) []float64 {
	y := make([]float64, rows*d.Out)
	for r := range rows {
		yr := y[r*d.Out : (r+1)*d.Out]
		for j := range yr {
			yr[j] = float64(d.B[j])
		}
		for i := range d.In {
			xi := x[r*d.In+i]
			wi := d.W[i*d.Out : (i+1)*d.Out]
			for j := range yr {
				yr[j] += xi * float64(wi[j])
			}
		}
	}
	return y
}

func layerNorm(x []float64, h int, scale, bias []float32) {
	for r := 0; r < len(x); r += h {
		row := x[r : r+h]
		mean := 0.0
		for _, v := range row {
			mean += v
		}
		mean /= float64(h)
		vr := 0.0
		for _, v := range row {
			vr += (v - mean) * (v - mean)
		}
		inv := 1 / math.Sqrt(vr/float64(h)+layerNormEps)
		for j, v := range row {
			row[j] = (v-mean)*inv*float64(scale[j]) + float64(bias[j])
		}
	}
}

// ReferenceTokenizer returns the path of a tokenizer.json shipped as test
// data by the Go module github.com/daulet/tokenizers v1.24.0 (never
// imported and not in go.mod; make setup downloads it), e.g.
// "bert-base-uncased.json". It runs `go mod download` of that version,
// which fetches the module from the Go module proxy when it is not cached.
func ReferenceTokenizer(name string) (string, error) {
	out, err := exec.Command("go", "mod", "download", "-json", "github.com/daulet/tokenizers@v1.24.0").Output()
	var mod struct{ Dir, Error string }
	if err != nil || json.Unmarshal(out, &mod) != nil || mod.Dir == "" {
		return "", fmt.Errorf("go mod download github.com/daulet/tokenizers: %v %s %s", err, mod.Error, out)
	}
	p := filepath.Join(mod.Dir, "test", "data", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("reference tokenizer: %w", err)
	}
	return p, nil
}
