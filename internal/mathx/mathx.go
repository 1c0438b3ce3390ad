// Package mathx holds the scalar functions that the numeric packages
// share, written once in their overflow-free forms.
//
// Each takes the exponential it is computed with: math.Exp, or a faster
// approximation of the caller's (package losses uses its own table-based
// e^x). The result is then exactly what the caller's exponential gives, so
// a package that switches to these functions keeps its bits.
package mathx

import "math"

// Softplus returns log(1 + eˣ) without overflow: x + log1p(e⁻ˣ) for
// x > 0, log1p(eˣ) otherwise, with exp computing the exponential.
func Softplus(x float64, exp func(float64) float64) float64 {
	if x > 0 {
		return x + math.Log1p(exp(-x))
	}
	return math.Log1p(exp(x))
}

// Sigmoid returns 1/(1 + e⁻ˣ) without overflow, with exp computing the
// exponential.
func Sigmoid(x float64, exp func(float64) float64) float64 {
	if x >= 0 {
		return 1 / (1 + exp(-x))
	}
	e := exp(x)
	return e / (1 + e)
}

// SoftplusSigmoid returns Softplus(x, exp) and Sigmoid(x, exp) from one
// exponential (the same values when exp(0) = exp(−0)).
func SoftplusSigmoid(x float64, exp func(float64) float64) (sp, sg float64) {
	if x > 0 {
		e := exp(-x)
		return x + math.Log1p(e), 1 / (1 + e)
	}
	e := exp(x)
	return math.Log1p(e), e / (1 + e)
}
