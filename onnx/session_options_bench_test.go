package onnx_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/embfit/embfit/internal/procstat"
	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/quantize"
	"github.com/embfit/embfit/onnx/tokenizer"
)

// BenchmarkSessionOptions runs the MiniLM-shaped transformer, float32
// and int8, on 640 WordNet test glosses (length-sorted batches of 64,
// bert-base-uncased tokens) under ONNX Runtime session options embfit
// could choose: intra-op threads 1 or 2, thread-pool spinning on (ORT's
// default) or off, and each graph optimization level. It reports texts/s
// and texts per CPU-second (session.Run only; tokenizing is done once
// beforehand).
func BenchmarkSessionOptions(b *testing.B) {
	if err := onnx.Init(); err != nil {
		b.Fatal(err)
	}
	fp32, int8 := miniLM(b, quantize.FormatMatMulInteger)
	tk, err := tokenizer.Load(filepath.Join(fp32, "tokenizer.json"))
	if err != nil {
		b.Fatal(err)
	}
	texts := wordnetGlosses(b, 640)
	encs := make([]tokenizer.Encoding, len(texts))
	for i, s := range texts {
		encs[i] = tk.Encode(s, 256)
	}
	slices.SortStableFunc(encs, func(a, b tokenizer.Encoding) int { return len(a.IDs) - len(b.IDs) })
	type batch struct {
		shape            ort.Shape
		ids, mask, types []int64
	}
	var batches []batch
	for s := 0; s < len(encs); s += 64 {
		part := encs[s:min(s+64, len(encs))]
		t := len(part[len(part)-1].IDs)
		bt := batch{shape: ort.NewShape(int64(len(part)), int64(t)), ids: make([]int64, len(part)*t), mask: make([]int64, len(part)*t), types: make([]int64, len(part)*t)}
		for r, e := range part {
			copy(bt.ids[r*t:], e.IDs)
			for k := range e.IDs {
				bt.mask[r*t+k] = 1
			}
		}
		batches = append(batches, bt)
	}
	levels := map[string]ort.GraphOptimizationLevel{
		"disable": ort.GraphOptimizationLevelDisableAll, "basic": ort.GraphOptimizationLevelEnableBasic,
		"extended": ort.GraphOptimizationLevelEnableExtended, "all": ort.GraphOptimizationLevelEnableAll,
	}
	configs := []struct {
		threads int
		spin    bool
		level   string
	}{
		{2, true, "all"}, {2, false, "all"}, {1, false, "all"},
		{2, true, "extended"}, {2, true, "basic"}, {2, true, "disable"},
	}
	for _, c := range configs {
		for _, m := range []struct{ name, dir string }{{"fp32", fp32}, {"int8", int8}} {
			name := fmt.Sprintf("%s/threads=%d/spin=%t/opt=%s", m.name, c.threads, c.spin, c.level)
			b.Run(name, func(b *testing.B) {
				o, err := ort.NewSessionOptions()
				if err != nil {
					b.Fatal(err)
				}
				defer o.Destroy()
				spin := "0"
				if c.spin {
					spin = "1"
				}
				for _, err := range []error{
					o.SetIntraOpNumThreads(c.threads), o.SetInterOpNumThreads(1),
					o.SetGraphOptimizationLevel(levels[c.level]),
					o.AddSessionConfigEntry("session.intra_op.allow_spinning", spin),
				} {
					if err != nil {
						b.Fatal(err)
					}
				}
				s, err := ort.NewDynamicAdvancedSession(filepath.Join(m.dir, "model.onnx"),
					[]string{"input_ids", "attention_mask", "token_type_ids"}, []string{"last_hidden_state"}, o)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Destroy()
				runAll := func() {
					for _, bt := range batches {
						in := make([]ort.Value, 3)
						for k, d := range [][]int64{bt.ids, bt.mask, bt.types} {
							if in[k], err = ort.NewTensor(bt.shape, d); err != nil {
								b.Fatal(err)
							}
						}
						out := []ort.Value{nil}
						if err := s.Run(in, out); err != nil {
							b.Fatal(err)
						}
						out[0].Destroy()
						for _, v := range in {
							v.Destroy()
						}
					}
				}
				runAll() // warm-up: first-run allocations
				cpu0 := procstat.CPUTime()
				b.ResetTimer()
				for range b.N {
					runAll()
				}
				el, cpu := b.Elapsed(), procstat.CPUTime()-cpu0
				b.ReportMetric(float64(b.N*len(texts))/el.Seconds(), "texts/s")
				b.ReportMetric(float64(b.N*len(texts))/cpu.Seconds(), "texts/cpu-s")
			})
		}
	}
}
