package graph

import (
	"fmt"

	"github.com/embfit/embfit/onnx/onnxpb"
)

// Pooling modes understood by AppendPooling (the same names as the
// encoder's pooling setting).
const (
	PoolMean         = "mean"                 // attention-mask-weighted mean over tokens
	PoolCLS          = "cls"                  // the first real token
	PoolMax          = "max"                  // masked maximum over tokens
	PoolMeanSqrtLen  = "mean_sqrt_len_tokens" // masked sum / sqrt(number of real tokens)
	PoolWeightedMean = "weightedmean"         // mean weighted 1, 2, … from the first real token
	PoolLastToken    = "lasttoken"            // the last real token
	PoolNone         = "none"                 // the output is already [batch, D]
)

// AppendL2Normalize adds an L2 normalization of each row of x (the last
// axis) to m, named prefix+"l2" (made unique), and returns its name.
func AppendL2Normalize(m *Model, x, prefix string) string {
	out := m.UniqueName(prefix + "l2")
	m.AddNode("LpNormalization", []string{x}, []string{out}, AttrInt("axis", -1), AttrInt("p", 2))
	return out
}

// AppendPooling adds nodes reducing the encoder output x of the given
// rank to [batch, D] with pooling mode (one of the Pool constants; every
// mode but none finds the real tokens through the mask input, so left
// and right padding give the same result; cls without a mask input takes
// position 0) and returns the result's name; tensor names start with
// "embfit_pool_". It uses opset-appropriate forms of ReduceSum/ReduceMax
// and Unsqueeze (axes as attributes before opset 13/18, as inputs after).
func AppendPooling(m *Model, x string, rank int, mode, mask string) (string, error) {
	opset := m.Opset()
	name := func(n string) string { return m.UniqueName("embfit_pool_" + n) }
	axesConst := func(v ...int64) string {
		n := name("axes")
		m.AddInitializerInt64(n, []int64{int64(len(v))}, v)
		return n
	}
	switch mode {
	case PoolNone:
		if rank != 2 {
			return "", fmt.Errorf("pooling none needs a [batch, D] output, this one has rank %d", rank)
		}
		return x, nil
	case PoolCLS, PoolMean, PoolMax, PoolMeanSqrtLen, PoolWeightedMean, PoolLastToken:
		if rank != 3 {
			return "", fmt.Errorf("pooling %s needs a [batch, tokens, D] output, this one has rank %d", mode, rank)
		}
	default:
		return "", fmt.Errorf("unknown pooling %q (want mean, cls, max, mean_sqrt_len_tokens, weightedmean, lasttoken or none)", mode)
	}
	hasMask := false
	for _, in := range m.Inputs() {
		if in.Name == mask {
			hasMask = true
		}
	}
	if mode == PoolCLS && !hasMask {
		idx := name("cls_index")
		m.AddInitializerInt64(idx, nil, []int64{0})
		out := name("cls")
		m.AddNode("Gather", []string{x, idx}, []string{out}, AttrInt("axis", 1))
		return out, nil
	}
	if !hasMask {
		return "", fmt.Errorf("pooling %s needs the mask input %q", mode, mask)
	}
	if (mode == PoolCLS || mode == PoolLastToken || mode == PoolWeightedMean) && opset < 11 {
		return "", fmt.Errorf("pooling %s needs opset ≥ 11 (CumSum), the model has %d", mode, opset)
	}
	maskF := name("mask_float")
	m.AddNode("Cast", []string{mask}, []string{maskF}, AttrInt("to", int64(onnxpb.TensorProto_FLOAT)))
	mask3 := name("mask3")
	if opset >= 13 {
		m.AddNode("Unsqueeze", []string{maskF, axesConst(2)}, []string{mask3})
	} else {
		m.AddNode("Unsqueeze", []string{maskF}, []string{mask3}, AttrInts("axes", 2))
	}
	reduce := func(op, in string, keep int64) string {
		out := name(op)
		if (op == "ReduceSum" && opset >= 13) || opset >= 18 {
			m.AddNode(op, []string{in, axesConst(1)}, []string{out}, AttrInt("keepdims", keep))
		} else {
			m.AddNode(op, []string{in}, []string{out}, AttrInts("axes", 1), AttrInt("keepdims", keep))
		}
		return out
	}
	konst := func(tag string, v float32) string {
		n := name(tag)
		m.AddInitializerFloat(n, nil, []float32{v})
		return n
	}
	count := func() string { // number of real tokens per row, at least 1e-9
		den := reduce("ReduceSum", mask3, 0)
		denC := name("den")
		m.AddNode("Max", []string{den, konst("eps", 1e-9)}, []string{denC})
		return denC
	}
	switch mode {
	case PoolCLS, PoolLastToken, PoolWeightedMean:
		// rank[b,t] = 1, 2, … at the real tokens of row b (0 at padding),
		// wherever the padding is.
		cum := name("cumsum")
		m.AddInitializerInt64(cum+"_axis", nil, []int64{1})
		m.AddNode("CumSum", []string{mask3, cum + "_axis"}, []string{cum})
		rankT := name("rank")
		m.AddNode("Mul", []string{cum, mask3}, []string{rankT})
		weights := rankT
		if mode != PoolWeightedMean {
			// one-hot at rank 1 (cls) or at rank = number of real tokens.
			target := konst("one", 1)
			if mode == PoolLastToken {
				target = reduce("ReduceSum", mask3, 1)
			}
			eq := name("is_target")
			m.AddNode("Equal", []string{rankT, target}, []string{eq})
			weights = name("onehot")
			m.AddNode("Cast", []string{eq}, []string{weights}, AttrInt("to", int64(onnxpb.TensorProto_FLOAT)))
		}
		weighted := name("weighted")
		m.AddNode("Mul", []string{x, weights}, []string{weighted})
		num := reduce("ReduceSum", weighted, 0)
		if mode != PoolWeightedMean {
			return num, nil
		}
		den := reduce("ReduceSum", weights, 0)
		denC := name("wden")
		m.AddNode("Max", []string{den, konst("eps", 1e-9)}, []string{denC})
		out := name("weightedmean")
		m.AddNode("Div", []string{num, denC}, []string{out})
		return out, nil
	case PoolMeanSqrtLen:
		masked := name("masked")
		m.AddNode("Mul", []string{x, mask3}, []string{masked})
		num := reduce("ReduceSum", masked, 0)
		sq := name("sqrt_len")
		m.AddNode("Sqrt", []string{count()}, []string{sq})
		out := name("mean_sqrt_len")
		m.AddNode("Div", []string{num, sq}, []string{out})
		return out, nil
	}
	if mode == PoolMean {
		masked := name("masked")
		m.AddNode("Mul", []string{x, mask3}, []string{masked})
		num := reduce("ReduceSum", masked, 0)
		den := reduce("ReduceSum", mask3, 0)
		denC := name("den")
		m.AddNode("Max", []string{den, konst("eps", 1e-9)}, []string{denC})
		out := name("mean")
		m.AddNode("Div", []string{num, denC}, []string{out})
		return out, nil
	}
	// max: padded positions get −1e9 added before the maximum.
	pen := name("pad_penalty")
	m.AddNode("Sub", []string{mask3, konst("one", 1)}, []string{pen})
	penS := name("pad_penalty_scaled")
	m.AddNode("Mul", []string{pen, konst("big", 1e9)}, []string{penS})
	shifted := name("shifted")
	m.AddNode("Add", []string{x, penS}, []string{shifted})
	return reduce("ReduceMax", shifted, 0), nil
}
