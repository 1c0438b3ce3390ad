package losses

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/embfit/embfit/internal/linalg"
)

// centerDef is the center loss's entry in the registry.
var centerDef = &def[Center]{name: "center", params: []param[Center]{
	floatParam("alpha", 0.5, unit, func(c *Center) *float64 { return &c.Alpha }),
	floatParam("lambda", 0.01, nonNegative, func(c *Center) *float64 { return &c.Lambda }),
	boolParam("normalize", false, func(c *Center) *bool { return &c.Normalize }),
}}

var (
	_ TrainingLoss = (*Center)(nil)
	_ Float64Loss  = (*Center)(nil)
	_ Trainable    = (*CenterTrainer)(nil)
	_ Float64Loss  = (*CenterTrainer)(nil)
)

// Center is the audit form of the center loss (Wen et al., ECCV 2016):
// L_C = mean_i ½‖x_i − c_{y_i}‖² with c_j the mean of class j in the batch,
// held constant, so ∂L/∂x_i = (x_i − c_{y_i})/N (which is also the exact
// gradient, since the residuals of a class sum to zero). Alpha and Lambda
// are the parameters of the training form (see TrainingForm and
// CenterTrainer) and do not affect the audit value. Labels-only (pair
// form: see Contrastive).
type Center struct {
	// Alpha and Lambda are the training-form parameters (echoed only).
	Alpha, Lambda float64
	// Normalize L2-normalizes the rows first.
	Normalize bool
}

// TrainingForm implements TrainingLoss: it returns the center loss's
// training form for s (a *CenterTrainer with c's parameters).
func (c *Center) TrainingForm(s TrainingSetup) (Trainable, error) {
	return NewCenterTrainer(*c, s.Classes, s.Dim, s.Seed)
}

// Name returns "center".
func (c *Center) Name() string { return centerDef.name }

// Params returns alpha, lambda and normalize.
func (c *Center) Params() map[string]any { return centerDef.values(c) }

// Eval implements Loss.
func (c *Center) Eval(b Batch, grad blas32.General) float64 { return evalVia64(b, grad, c.EvalFloat64) }

// evalVia64 evaluates a float32 batch with a loss's float64 form f: X is
// widened, the gradient (when grad.Data != nil) rounded back to float32.
func evalVia64(b Batch, grad blas32.General, f func(Batch64, blas64.General) float64) float64 {
	var g blas64.General
	if grad.Data != nil {
		g = newMatrix64(grad.Rows, grad.Cols)
	}
	v := f(Batch64{X: to64(b.X), Labels: b.Labels, Queries: b.Queries}, g)
	if grad.Data != nil {
		for i := range g.Rows {
			dr := linalg.Row(grad, i)
			for k := range dr {
				dr[k] = float32(g.Data[i*g.Cols+k])
			}
		}
	}
	return v
}

// EvalFloat64 implements Float64Loss.
func (c *Center) EvalFloat64(b Batch64, grad blas64.General) float64 {
	n, d := b.X.Rows, b.X.Cols
	labels := batchLabels(n, b.Labels, b.Queries)
	wantGrad := grad.Data != nil
	if wantGrad && (grad.Rows != n || grad.Cols != d) {
		panic("losses: gradient shape does not match X")
	}
	if n == 0 {
		return 0
	}
	u, norms, _ := prep64(b.X, c.Normalize)
	// Class means in row order.
	idx := map[int]int{}
	var sums []float64
	var counts []float64
	cls := make([]int, n)
	for i, y := range labels {
		k, ok := idx[y]
		if !ok {
			k = len(counts)
			idx[y] = k
			counts = append(counts, 0)
			sums = append(sums, make([]float64, d)...)
		}
		cls[i] = k
		counts[k]++
		ur := u.Data[i*d : (i+1)*d]
		for j, v := range ur {
			sums[k*d+j] += v
		}
	}
	for k, c := range counts {
		for j := range d {
			sums[k*d+j] /= c
		}
	}
	var total float64
	gu := make([]float64, n*d)
	for i := range n {
		ur := u.Data[i*d : (i+1)*d]
		cr := sums[cls[i]*d : (cls[i]+1)*d]
		for j := range d {
			r := ur[j] - cr[j]
			total += 0.5 * r * r
			gu[i*d+j] = r / float64(n)
		}
	}
	if wantGrad {
		gradOut(gu, d, norms, func(i int, dst []float64) { copy(dst, u.Data[i*d:(i+1)*d]) }, func(i int, g []float64) {
			copy(grad.Data[i*grad.Stride:i*grad.Stride+d], g)
		})
	}
	return total / float64(n)
}

func to64(x blas32.General) blas64.General {
	m := newMatrix64(x.Rows, x.Cols)
	for i := range x.Rows {
		for k, v := range linalg.Row(x, i) {
			m.Data[i*x.Cols+k] = float64(v)
		}
	}
	return m
}

// CenterTrainer is the training form of the center loss: a linear
// classifier (weights W, NumClasses×Dim, and bias, 1×NumClasses) on the
// embeddings with softmax cross-entropy, plus λ·L_C with per-class centers
// kept as state:
//
//	L = mean_i CE(W·x_i + b, y_i) + λ · mean_i ½‖x_i − c_{y_i}‖².
//
// Eval writes ∂L/∂X into grad and ∂L/∂W, ∂L/∂b into WeightGrads (centers
// held constant). Step then applies Wen et al.'s rule with the batch last
// seen by Eval: Δc_j = Σ_{i:y_i=j}(c_j − x_i) / (1 + n_j), c_j ← c_j − α·Δc_j.
// Labels must lie in [0, NumClasses); pair-form batches are not supported.
type CenterTrainer struct {
	// Center holds the parameters: Alpha is the center learning rate,
	// Lambda the weight of L_C, Normalize L2-normalizes the rows first.
	// Name and Params are the audit form's.
	Center
	// NumClasses and Dim give the classifier's shape (NumClasses×Dim).
	NumClasses int
	Dim        int

	w, b       blas32.General // NumClasses×Dim, 1×NumClasses
	gw, gb     blas32.General
	centers    []float64 // NumClasses×Dim
	lastX      []float64 // working rows of the last batch
	lastLabels []int
}

// NewCenterTrainer returns a center-loss trainer with c's parameters for
// numClasses classes of dim-dimensional embeddings. W is drawn from
// N(0, 1/dim) and the centers start at zero, both deterministically from
// seed; the bias starts at zero.
func NewCenterTrainer(c Center, numClasses, dim int, seed uint64) (*CenterTrainer, error) {
	if err := centerDef.validate(&c); err != nil {
		return nil, err
	}
	if numClasses < 1 || dim < 1 {
		return nil, fmt.Errorf("center: need numClasses ≥ 1 and dim ≥ 1, got %d, %d", numClasses, dim)
	}
	t := &CenterTrainer{Center: c, NumClasses: numClasses, Dim: dim,
		w: linalg.NewMatrix(numClasses, dim), b: linalg.NewMatrix(1, numClasses),
		gw: linalg.NewMatrix(numClasses, dim), gb: linalg.NewMatrix(1, numClasses),
		centers: make([]float64, numClasses*dim)}
	rng := rand.New(rand.NewPCG(seed, 0x63656e746572))
	sd := 1 / math.Sqrt(float64(dim))
	for i := range t.w.Data {
		t.w.Data[i] = float32(rng.NormFloat64() * sd)
	}
	return t, nil
}

// Weights returns the classifier weights W (NumClasses×Dim) and bias (1×NumClasses).
func (t *CenterTrainer) Weights() []blas32.General { return []blas32.General{t.w, t.b} }

// WeightGrads returns ∂L/∂W and ∂L/∂b from the last Eval.
func (t *CenterTrainer) WeightGrads() []blas32.General { return []blas32.General{t.gw, t.gb} }

// Centers returns a copy of the class centers, NumClasses×Dim row-major.
func (t *CenterTrainer) Centers() []float64 { return append([]float64(nil), t.centers...) }

// Eval implements Loss (see CenterTrainer).
func (t *CenterTrainer) Eval(b Batch, grad blas32.General) float64 {
	return evalVia64(b, grad, t.EvalFloat64)
}

// EvalFloat64 implements Float64Loss. The classifier product runs in
// float64 (gonum blas64); WeightGrads are stored as float32.
func (t *CenterTrainer) EvalFloat64(b Batch64, grad blas64.General) float64 {
	n, d, C := b.X.Rows, b.X.Cols, t.NumClasses
	if b.Queries > 0 {
		panic("losses: CenterTrainer does not take pair-form batches")
	}
	if d != t.Dim || len(b.Labels) != n {
		panic("losses: CenterTrainer batch shape mismatch")
	}
	for _, y := range b.Labels {
		if y < 0 || y >= C {
			panic(fmt.Sprintf("losses: label %d outside [0,%d)", y, C))
		}
	}
	u, norms, _ := prep64(b.X, t.Normalize)
	t.lastX = append(t.lastX[:0], u.Data...)
	t.lastLabels = append(t.lastLabels[:0], b.Labels...)
	clear(t.gw.Data)
	clear(t.gb.Data)
	if n == 0 {
		return 0
	}
	w64 := newMatrix64(C, d)
	for i, v := range t.w.Data {
		w64.Data[i] = float64(v)
	}
	logits := newMatrix64(n, C)
	blas64.Gemm(blas.NoTrans, blas.Trans, 1, u, w64, 0, logits)
	inv := 1 / float64(n)
	var ce, lc float64
	for i := range n {
		row := logits.Data[i*C : (i+1)*C]
		mx := math.Inf(-1)
		for k := range row {
			row[k] += float64(t.b.Data[k])
			mx = max(mx, row[k])
		}
		var z float64
		for _, v := range row {
			z += math.Exp(v - mx)
		}
		y := b.Labels[i]
		ce += mx + math.Log(z) - row[y]
		for k, v := range row { // row becomes ∂L/∂logits
			row[k] = math.Exp(v-mx) / z * inv
		}
		row[y] -= inv
		for k, v := range row {
			t.gb.Data[k] += float32(v)
		}
	}
	gw := newMatrix64(C, d)
	blas64.Gemm(blas.Trans, blas.NoTrans, 1, logits, u, 0, gw)
	for i, v := range gw.Data {
		t.gw.Data[i] = float32(v)
	}
	gu := newMatrix64(n, d)
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, logits, w64, 0, gu)
	for i := range n {
		y := b.Labels[i]
		for k := range d {
			r := u.Data[i*d+k] - t.centers[y*d+k]
			lc += 0.5 * r * r
			gu.Data[i*d+k] += t.Lambda * r * inv
		}
	}
	if grad.Data != nil {
		gradOut(gu.Data, d, norms, func(i int, dst []float64) { copy(dst, u.Data[i*d:(i+1)*d]) }, func(i int, g []float64) {
			copy(grad.Data[i*grad.Stride:i*grad.Stride+d], g)
		})
	}
	return ce*inv + t.Lambda*lc*inv
}

// Step applies the center update rule with the batch last passed to Eval.
func (t *CenterTrainer) Step() {
	d := t.Dim
	delta := make([]float64, t.NumClasses*d)
	cnt := make([]float64, t.NumClasses)
	for i, y := range t.lastLabels {
		cnt[y]++
		for k := range d {
			delta[y*d+k] += t.centers[y*d+k] - t.lastX[i*d+k]
		}
	}
	for j, c := range cnt {
		if c == 0 {
			continue
		}
		for k := range d {
			t.centers[j*d+k] -= t.Alpha * delta[j*d+k] / (1 + c)
		}
	}
}
