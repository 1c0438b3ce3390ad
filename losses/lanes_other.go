//go:build !amd64 || purego

package losses

const haveLanesAsm = false

func lanes4Asm(d, na *float64, m, stride int, c *laneConsts, rare *int32, out *laneOut) int {
	panic("losses: no assembly lanes4")
}
