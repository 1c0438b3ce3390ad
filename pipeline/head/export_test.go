package head

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/graph"
)

// perturbedHead returns a head of settings s whose parameters are moved
// away from their initial values, so every weight matters.
func perturbedHead(t *testing.T, s Settings, seed uint64) Head {
	t.Helper()
	h, err := New(s, seed)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 5))
	for _, p := range h.Params() {
		for i := range p.Data {
			p.Data[i] += float32(0.2 * r.NormFloat64())
		}
	}
	return h
}

func maxAbsDiff(a, b []float32) float64 {
	var m float64
	for i := range a {
		m = max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}

func TestHeadONNXMatchesGo(t *testing.T) {
	for _, s := range []Settings{
		{Kind: "linear", In: 8},
		{Kind: "linear", In: 8, Out: 5, Normalize: true},
		{Kind: "mlp", In: 8, Hidden: 12},
		{Kind: "mlp", In: 8, Out: 6, Normalize: true},
	} {
		t.Run(fmt.Sprintf("%s_%d_%v", s.Kind, s.Out, s.Normalize), func(t *testing.T) {
			h := perturbedHead(t, s, 11)
			b, err := Model(h).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			sess, err := onnx.OpenSessionBytes(b)
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			x := randMat(rand.New(rand.NewPCG(1, 2)), 7, 8)
			out, err := sess.Run(map[string]onnx.Tensor{InputName: {Shape: []int64{7, 8}, Float: x.Data}})
			if err != nil {
				t.Fatal(err)
			}
			want := linalg.NewMatrix(7, h.Settings().Out)
			Apply(h, want, x)
			if d := maxAbsDiff(out[0].Float, want.Data); d > 1e-5 || len(out[0].Float) != len(want.Data) {
				t.Errorf("ORT vs Go: max |diff| %g (shape %v)", d, out[0].Shape)
			}
		})
	}
}

// tinyEncoder writes a token-table encoder (input_ids, attention_mask →
// last_hidden_state [batch, tokens, D] = table[input_ids]) at the given
// opset and returns its path and table.
func tinyEncoder(t *testing.T, opset int64, vocab, d int) (string, blas32.General) {
	t.Helper()
	table := randMat(rand.New(rand.NewPCG(uint64(opset), 3)), vocab, d)
	m := graph.New("tiny", opset)
	m.AddInput("input_ids", graph.Int64, graph.Sym("batch"), graph.Sym("tokens"))
	m.AddInput("attention_mask", graph.Int64, graph.Sym("batch"), graph.Sym("tokens"))
	m.AddInitializerFloat("table", []int64{int64(vocab), int64(d)}, table.Data)
	m.AddNode("Gather", []string{"table", "input_ids"}, []string{"last_hidden_state"}, graph.AttrInt("axis", 0))
	m.AddOutput("last_hidden_state", graph.Float, graph.Sym("batch"), graph.Sym("tokens"), graph.Fixed(int64(d)))
	path := filepath.Join(t.TempDir(), "encoder.onnx")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	return path, table
}

func TestMergedONNXMatchesGo(t *testing.T) {
	const vocab, d = 20, 6
	ids := []int64{1, 5, 7, 0, 3, 3, 19, 2, 4, 0, 0, 0}
	mask := []int64{1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0}
	for _, opset := range []int64{11, 17} {
		path, table := tinyEncoder(t, opset, vocab, d)
		for _, pool := range []string{graph.PoolMean, graph.PoolCLS, graph.PoolMax} {
			for _, hs := range []Settings{{Kind: "linear", In: d}, {Kind: "mlp", In: d, Out: 4, Normalize: true}} {
				t.Run(fmt.Sprintf("opset%d_%s_%s", opset, pool, hs.Kind), func(t *testing.T) {
					h := perturbedHead(t, hs, 3)
					m, err := Merged(path, h, MergeSettings{Pooling: pool})
					if err != nil {
						t.Fatal(err)
					}
					b, err := m.Marshal()
					if err != nil {
						t.Fatal(err)
					}
					sess, err := onnx.OpenSessionBytes(b)
					if err != nil {
						t.Fatal(err)
					}
					defer sess.Close()
					out, err := sess.Run(map[string]onnx.Tensor{
						"input_ids":      {Shape: []int64{3, 4}, Int64: ids},
						"attention_mask": {Shape: []int64{3, 4}, Int64: mask},
					})
					if err != nil {
						t.Fatal(err)
					}
					// Go: pool the table rows, apply the head, normalize.
					pooled := linalg.NewMatrix(3, d)
					for b := range 3 {
						row := linalg.Row(pooled, b)
						var n float64
						acc := make([]float64, d)
						for k := range d {
							acc[k] = math.Inf(-1)
							if pool != graph.PoolMax {
								acc[k] = 0
							}
						}
						for tk := range 4 {
							if mask[b*4+tk] == 0 || (pool == graph.PoolCLS && tk > 0) {
								continue
							}
							n++
							for k, v := range linalg.Row(table, int(ids[b*4+tk])) {
								if pool == graph.PoolMax {
									acc[k] = max(acc[k], float64(v))
								} else {
									acc[k] += float64(v)
								}
							}
						}
						for k := range d {
							if pool == graph.PoolMean {
								acc[k] /= n
							}
							row[k] = float32(acc[k])
						}
					}
					want := linalg.NewMatrix(3, h.Settings().Out)
					Apply(h, want, pooled)
					for i := range 3 {
						r := linalg.Row(want, i)
						var ss float64
						for _, v := range r {
							ss += float64(v) * float64(v)
						}
						for k := range r {
							r[k] = float32(float64(r[k]) / math.Sqrt(ss))
						}
					}
					if len(out) != 1 || len(out[0].Float) != len(want.Data) {
						t.Fatalf("output shape %v", out[0].Shape)
					}
					if diff := maxAbsDiff(out[0].Float, want.Data); diff > 1e-5 {
						t.Errorf("merged ORT vs Go: max |diff| %g", diff)
					}
				})
			}
		}
	}
}

func TestMergedModelErrors(t *testing.T) {
	path, _ := tinyEncoder(t, 17, 5, 4)
	h, _ := New(Settings{In: 4}, 1)
	for _, s := range []MergeSettings{{Pooling: "none"}, {Pooling: "median"}, {Output: "pooler_output"}, {Mask: "mask"}} {
		if _, err := Merged(path, h, s); err == nil {
			t.Errorf("%+v: no error", s)
		}
	}
	wrong, _ := New(Settings{In: 3}, 1)
	if _, err := Merged(path, wrong, MergeSettings{}); err == nil {
		t.Error("head width mismatch accepted")
	}
}
