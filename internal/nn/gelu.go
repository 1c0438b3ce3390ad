package nn

import "math"

// Constants of Φ: erf by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7),
// whose exp(−x²) at x = h/√2 is also the normal density's exponential.
const (
	asP  = 0.3275911
	asA1 = 0.254829592
	asA2 = -0.284496736
	asA3 = 1.421413741
	asA4 = -1.453152027
	asA5 = 1.061405429

	invSqrt2   = 0.70710678118654752440
	invSqrt2Pi = 0.39894228040143267794
	log2e      = 1.44269504088896340736
	ln2Hi      = 0.693145751953125 // ln 2 split so k·ln2Hi is exact
	ln2Lo      = 1.428606765330187045e-06
)

// Phi returns Φ(h), the standard normal CDF, and φ(h), its density, in
// float32 from a single exponential. |Φ − Φ_exact| ≤ 3e-7 and
// |φ − φ_exact| ≤ 1e-7 for every finite h (tested against math.Erf).
func Phi(h float32) (cdf, pdf float32) { return phi(h) }

func phi(h float32) (cdf, pdf float32) {
	x := h * invSqrt2
	ax := x
	if ax < 0 {
		ax = -ax
	}
	e := expNeg(-x * x) // exp(−h²/2)
	t := 1 / (1 + asP*ax)
	erfc := t * (asA1 + t*(asA2+t*(asA3+t*(asA4+t*asA5)))) * e
	if x >= 0 {
		cdf = 1 - 0.5*erfc
	} else {
		cdf = 0.5 * erfc
	}
	return cdf, e * invSqrt2Pi
}

// expNeg returns e^y for y ≤ 0 in float32 (relative error a few ulp;
// 0 below −87, where float32 would go subnormal; NaN stays NaN).
func expNeg(y float32) float32 {
	if y < -87 {
		return 0
	}
	// y = k·ln2 + r, |r| ≤ ln2/2; e^y = 2^k·e^r.
	kf := y*log2e - 0.5
	k := int32(kf) // truncation toward zero of a value ≤ 0: rounds y·log2e to nearest
	fk := float32(k)
	r := (y - fk*ln2Hi) - fk*ln2Lo
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	return p * math.Float32frombits(uint32(k+127)<<23)
}
