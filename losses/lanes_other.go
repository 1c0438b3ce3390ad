//go:build !amd64 || purego

package losses

const haveLanesAsm = false

func lanes4Asm(d, na *float64, m, stride int, c *laneConsts, rare *int32, out *laneOut) int {
	panic("losses: no assembly lanes4")
}

func subDistsAsm(s *float32, sqQ, d *float64, n int, sqa float64) {
	panic("losses: no assembly subDists")
}

func subCoefAsm(d, na *float64, s *float32, n int, cnt *[4]float64) {
	panic("losses: no assembly subCoef")
}

func semi4Asm(d, na *float64, m, stride, groups int, c *laneSemi, out *semiOut) {
	panic("losses: no assembly semi4")
}

func semiRowAsm(d, na *float64, m, groups int, pad *[16]float64, margin float64, out *semiRowOut) {
	panic("losses: no assembly semiRow")
}
