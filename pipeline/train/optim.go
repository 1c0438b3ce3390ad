package train

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas/blas32"
)

// Optimizer names accepted by OptimSettings.Name.
const (
	OptimSGD   = "sgd"
	OptimAdam  = "adam"
	OptimAdamW = "adamw"
)

// Learning-rate schedules accepted by OptimSettings.Schedule.
const (
	ScheduleCosine   = "cosine"
	ScheduleLinear   = "linear"
	ScheduleConstant = "constant"
)

// OptimSettings configures an optimizer and its learning-rate schedule.
// A zero field means its default; for the fields that can be switched
// off (Momentum, WeightDecay, WarmupRatio, ClipNorm) a negative value
// means off. WithDefaults is idempotent, so resolved settings can be
// stored in config.json and read back unchanged.
type OptimSettings struct {
	// Name is "adamw" (default), "adam" or "sgd".
	Name string `json:"name"`
	// LR is the peak learning rate; default 1e-3 (adam, adamw), 0.05 (sgd).
	LR float64 `json:"lr"`
	// Momentum is SGD's heavy-ball momentum; default 0.9.
	Momentum float64 `json:"momentum"`
	// Beta1, Beta2, Eps are Adam's constants; defaults 0.9, 0.999, 1e-8.
	Beta1 float64 `json:"beta1"`
	Beta2 float64 `json:"beta2"`
	Eps   float64 `json:"eps"`
	// WeightDecay: decoupled for adamw (p ← p − lr·wd·p), added to the
	// gradient (L2) for sgd and adam. Default 0.01 for adamw, off otherwise.
	WeightDecay float64 `json:"weight_decay"`
	// WarmupRatio is the fraction of all steps spent warming the learning
	// rate up linearly from 0; default 0.1.
	WarmupRatio float64 `json:"warmup_ratio"`
	// Schedule after warm-up: "cosine" (default, down to 0), "linear"
	// (down to 0) or "constant".
	Schedule string `json:"schedule"`
	// ClipNorm clips the global L2 norm of all gradients; default 1.0.
	ClipNorm float64 `json:"clip_norm"`
}

// WithDefaults returns s with defaults filled in, or an error naming the
// bad setting.
func (s OptimSettings) WithDefaults() (OptimSettings, error) {
	if s.Name == "" {
		s.Name = OptimAdamW
	}
	switch s.Name {
	case OptimSGD, OptimAdam, OptimAdamW:
	default:
		return s, fmt.Errorf("optimizer: unknown name %q (want sgd, adam or adamw)", s.Name)
	}
	if s.LR == 0 {
		s.LR = 1e-3
		if s.Name == OptimSGD {
			s.LR = 0.05
		}
	}
	if s.LR < 0 || math.IsNaN(s.LR) || math.IsInf(s.LR, 0) {
		return s, fmt.Errorf("optimizer: learning rate %v must be positive", s.LR)
	}
	if s.Momentum == 0 {
		s.Momentum = 0.9
	}
	if s.Beta1 == 0 {
		s.Beta1 = 0.9
	}
	if s.Beta2 == 0 {
		s.Beta2 = 0.999
	}
	if s.Eps == 0 {
		s.Eps = 1e-8
	}
	if s.Momentum >= 1 || s.Beta1 < 0 || s.Beta1 >= 1 || s.Beta2 < 0 || s.Beta2 >= 1 || s.Eps < 0 {
		return s, fmt.Errorf("optimizer: momentum/beta must be in [0,1) and eps ≥ 0")
	}
	if s.WeightDecay == 0 {
		s.WeightDecay = -1
		if s.Name == OptimAdamW {
			s.WeightDecay = 0.01
		}
	}
	if s.WarmupRatio == 0 {
		s.WarmupRatio = 0.1
	}
	if s.WarmupRatio >= 1 {
		return s, fmt.Errorf("optimizer: warm-up ratio %v must be below 1", s.WarmupRatio)
	}
	if s.Schedule == "" {
		s.Schedule = ScheduleCosine
	}
	switch s.Schedule {
	case ScheduleCosine, ScheduleLinear, ScheduleConstant:
	default:
		return s, fmt.Errorf("optimizer: unknown schedule %q (want cosine, linear or constant)", s.Schedule)
	}
	if s.ClipNorm == 0 {
		s.ClipNorm = 1
	}
	return s, nil
}

func on(v float64) float64 { return max(v, 0) }

// Optimizer updates parameter matrices in place from their gradients.
// Its moments are kept in float64. Parameters must be contiguous
// (Stride == Cols).
type Optimizer struct {
	s          OptimSettings
	params     []blas32.General
	m, v       [][]float64
	step       int // steps taken
	totalSteps int
}

// NewOptimizer returns an optimizer for params over totalSteps steps
// (which sets the schedule's length). s is resolved with WithDefaults.
func NewOptimizer(s OptimSettings, params []blas32.General, totalSteps int) (*Optimizer, error) {
	s, err := s.WithDefaults()
	if err != nil {
		return nil, err
	}
	o := &Optimizer{s: s, params: params, totalSteps: max(totalSteps, 1)}
	for _, p := range params {
		if p.Stride != p.Cols {
			panic("optimizer: parameters must be contiguous")
		}
		o.m = append(o.m, make([]float64, len(p.Data)))
		if s.Name != OptimSGD {
			o.v = append(o.v, make([]float64, len(p.Data)))
		}
	}
	return o, nil
}

// Settings returns the resolved settings.
func (o *Optimizer) Settings() OptimSettings { return o.s }

// Steps returns the number of steps taken so far.
func (o *Optimizer) Steps() int { return o.step }

// LR returns the learning rate used at step t (0-based): linear warm-up
// over the first ⌈WarmupRatio·total⌉ steps, then the schedule.
func (o *Optimizer) LR(t int) float64 {
	warm := int(math.Ceil(on(o.s.WarmupRatio) * float64(o.totalSteps)))
	if t < warm {
		return o.s.LR * float64(t+1) / float64(warm)
	}
	p := float64(t-warm) / float64(max(o.totalSteps-warm, 1))
	p = min(p, 1)
	switch o.s.Schedule {
	case ScheduleCosine:
		return o.s.LR * 0.5 * (1 + math.Cos(math.Pi*p))
	case ScheduleLinear:
		return o.s.LR * (1 - p)
	}
	return o.s.LR
}

// Step applies one update from grads (same order and shapes as the
// parameters; scaled in place when clipped) and returns the global
// gradient norm before clipping.
func (o *Optimizer) Step(grads []blas32.General) float64 {
	if len(grads) != len(o.params) {
		panic("optimizer: gradient count does not match parameters")
	}
	var ss float64
	for _, g := range grads {
		for _, v := range g.Data {
			ss += float64(v) * float64(v)
		}
	}
	norm := math.Sqrt(ss)
	scale := 1.0
	if c := on(o.s.ClipNorm); c > 0 && norm > c {
		scale = c / norm
	}
	lr := o.LR(o.step)
	o.step++
	wd := on(o.s.WeightDecay)
	switch o.s.Name {
	case OptimSGD:
		mom := on(o.s.Momentum)
		for k, p := range o.params {
			g, m := grads[k].Data, o.m[k]
			for i, w := range p.Data {
				gi := float64(g[i])*scale + wd*float64(w)
				m[i] = mom*m[i] + gi
				p.Data[i] = float32(float64(w) - lr*m[i])
			}
		}
	case OptimAdam, OptimAdamW:
		b1, b2 := o.s.Beta1, o.s.Beta2
		c1 := 1 - math.Pow(b1, float64(o.step))
		c2 := 1 - math.Pow(b2, float64(o.step))
		decoupled := o.s.Name == OptimAdamW
		for k, p := range o.params {
			g, m, v := grads[k].Data, o.m[k], o.v[k]
			for i, w := range p.Data {
				wf := float64(w)
				gi := float64(g[i]) * scale
				if decoupled {
					wf -= lr * wd * wf
				} else {
					gi += wd * wf
				}
				m[i] = b1*m[i] + (1-b1)*gi
				v[i] = b2*v[i] + (1-b2)*gi*gi
				wf -= lr * (m[i] / c1) / (math.Sqrt(v[i]/c2) + o.s.Eps)
				p.Data[i] = float32(wf)
			}
		}
	}
	return norm
}

// OptimState is an optimizer's resumable state.
type OptimState struct {
	Step int
	M, V [][]float64
}

// State returns a copy of the optimizer's state.
func (o *Optimizer) State() OptimState {
	st := OptimState{Step: o.step}
	for _, m := range o.m {
		st.M = append(st.M, append([]float64(nil), m...))
	}
	for _, v := range o.v {
		st.V = append(st.V, append([]float64(nil), v...))
	}
	return st
}

// SetState restores a state returned by State for the same parameters.
func (o *Optimizer) SetState(st OptimState) error {
	if len(st.M) != len(o.m) || len(st.V) != len(o.v) {
		return fmt.Errorf("optimizer state: %d/%d moment vectors, want %d/%d", len(st.M), len(st.V), len(o.m), len(o.v))
	}
	for k := range o.m {
		if len(st.M[k]) != len(o.m[k]) {
			return fmt.Errorf("optimizer state: moment %d has %d values, want %d", k, len(st.M[k]), len(o.m[k]))
		}
		copy(o.m[k], st.M[k])
	}
	for k := range o.v {
		if len(st.V[k]) != len(o.v[k]) {
			return fmt.Errorf("optimizer state: moment %d has %d values, want %d", k, len(st.V[k]), len(o.v[k]))
		}
		copy(o.v[k], st.V[k])
	}
	o.step = st.Step
	return nil
}
