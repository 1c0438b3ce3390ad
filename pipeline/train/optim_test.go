package train

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"
)

func vec(v ...float32) blas32.General {
	return blas32.General{Rows: 1, Cols: len(v), Stride: len(v), Data: v}
}

func TestOptimizerStepsMatchHandComputed(t *testing.T) {
	const lr = 0.1
	flat := OptimSettings{LR: lr, WarmupRatio: -1, Schedule: ScheduleConstant, ClipNorm: -1}
	for _, tc := range []struct {
		name string
		s    OptimSettings
		want [2]float64 // parameter after steps 1 and 2 from p=1 with g=0.5
	}{
		// SGD momentum 0.9: m=0.5, p=0.95; m=0.95, p=0.855.
		{"sgd", func() OptimSettings { s := flat; s.Name = OptimSGD; return s }(), [2]float64{0.95, 0.855}},
		{"sgd-nomomentum", func() OptimSettings { s := flat; s.Name = OptimSGD; s.Momentum = -1; return s }(), [2]float64{0.95, 0.9}},
		// SGD with L2 weight decay 0.1: g1=0.6, p=0.94; g2=0.5+0.094=0.594, m=0.54+0.594=1.134, p=0.8266.
		{"sgd-wd", func() OptimSettings { s := flat; s.Name = OptimSGD; s.WeightDecay = 0.1; return s }(), [2]float64{0.94, 0.8266}},
		// Adam with a constant gradient moves by lr·g/(|g|+eps) each step.
		{"adam", func() OptimSettings { s := flat; s.Name = OptimAdam; return s }(), [2]float64{1 - lr*0.5/(0.5+1e-8), 1 - 2*lr*0.5/(0.5+1e-8)}},
		// AdamW decays first: p ← p − lr·wd·p, then the Adam step.
		{"adamw", func() OptimSettings { s := flat; s.Name = OptimAdamW; s.WeightDecay = 0.5; return s }(),
			[2]float64{1 - lr*0.5*1 - lr*0.5/(0.5+1e-8), (0.95-lr*0.5/(0.5+1e-8))*(1-lr*0.5) - lr*0.5/(0.5+1e-8)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := vec(1)
			o, err := NewOptimizer(tc.s, []blas32.General{p}, 10)
			if err != nil {
				t.Fatal(err)
			}
			for k := 0; k < 2; k++ {
				o.Step([]blas32.General{vec(0.5)})
				if math.Abs(float64(p.Data[0])-tc.want[k]) > 1e-6 {
					t.Errorf("step %d: p = %.7f, want %.7f", k+1, p.Data[0], tc.want[k])
				}
			}
		})
	}
}

func TestOptimizerSchedule(t *testing.T) {
	for _, tc := range []struct {
		schedule string
		want     []float64 // lr at steps 0..7, total 8, warm-up 2 steps
	}{
		{ScheduleCosine, []float64{0.5, 1, 1, 1 * 0.5 * (1 + math.Cos(math.Pi/6)), 0.75, 0.5, 0.25, 0.5 * (1 + math.Cos(math.Pi*5/6))}},
		{ScheduleLinear, []float64{0.5, 1, 1, 5.0 / 6, 4.0 / 6, 3.0 / 6, 2.0 / 6, 1.0 / 6}},
		{ScheduleConstant, []float64{0.5, 1, 1, 1, 1, 1, 1, 1}},
	} {
		o, err := NewOptimizer(OptimSettings{LR: 1, WarmupRatio: 0.25, Schedule: tc.schedule}, nil, 8)
		if err != nil {
			t.Fatal(err)
		}
		for step, want := range tc.want {
			if got := o.LR(step); math.Abs(got-want) > 1e-12 {
				t.Errorf("%s step %d: lr %v, want %v", tc.schedule, step, got, want)
			}
		}
	}
}

func TestOptimizerClipsGlobalNorm(t *testing.T) {
	p1, p2 := vec(0), vec(0)
	o, _ := NewOptimizer(OptimSettings{Name: OptimSGD, LR: 1, Momentum: -1, WarmupRatio: -1, Schedule: ScheduleConstant, ClipNorm: 1}, []blas32.General{p1, p2}, 1)
	norm := o.Step([]blas32.General{vec(3), vec(4)})
	if norm != 5 {
		t.Errorf("norm %v, want 5", norm)
	}
	if math.Abs(float64(p1.Data[0])+0.6) > 1e-7 || math.Abs(float64(p2.Data[0])+0.8) > 1e-7 {
		t.Errorf("clipped step moved to %v %v, want -0.6 -0.8", p1.Data[0], p2.Data[0])
	}
}

func TestOptimizerStateRoundTrip(t *testing.T) {
	run := func(split bool) float32 {
		p := vec(1, 2)
		o, _ := NewOptimizer(OptimSettings{}, []blas32.General{p}, 6)
		for k := 0; k < 6; k++ {
			if split && k == 3 {
				st := o.State()
				saved := append([]float32(nil), p.Data...)
				p = vec(saved...)
				o, _ = NewOptimizer(OptimSettings{}, []blas32.General{p}, 6)
				if err := o.SetState(st); err != nil {
					t.Fatal(err)
				}
			}
			o.Step([]blas32.General{vec(float32(k)-1.5, 0.25)})
		}
		return p.Data[0]
	}
	if a, b := run(false), run(true); a != b {
		t.Errorf("resumed optimizer ends at %v, uninterrupted at %v", b, a)
	}
}

func TestOptimSettingsDefaultsIdempotent(t *testing.T) {
	for _, s := range []OptimSettings{{}, {Name: OptimSGD}, {Name: OptimAdam, ClipNorm: -1}} {
		a, err := s.WithDefaults()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := a.WithDefaults()
		if a != b {
			t.Errorf("%+v then %+v", a, b)
		}
	}
	for _, s := range []OptimSettings{{Name: "lbfgs"}, {LR: -1}, {Schedule: "step"}, {WarmupRatio: 1}} {
		if _, err := s.WithDefaults(); err == nil {
			t.Errorf("%+v: no error", s)
		}
	}
}
