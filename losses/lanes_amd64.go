//go:build amd64 && !purego

package losses

import "golang.org/x/sys/cpu"

// haveLanesAsm reports whether lanes4 runs in assembly (the CPU has
// AVX2); it is read-only after initialization.
var haveLanesAsm = cpu.X86.HasAVX2

// lanes4Asm is lanes4Go in AVX2 assembly (lanes_amd64.s): one lane per
// 64-bit element of a YMM register. The caller checks the bounds.
//
//go:noescape
func lanes4Asm(d, na *float64, m, stride int, c *laneConsts, rare *int32, out *laneOut) int

// subDistsAsm and subCoefAsm are the vector loops of subDists and
// subCoef (lanes_amd64.s), for a multiple of 4 elements.
//
//go:noescape
func subDistsAsm(s *float32, sqQ, d *float64, n int, sqa float64)

//go:noescape
func subCoefAsm(d, na *float64, s *float32, n int, cnt *[4]float64)

// semi4Asm is semi4Go in AVX2 assembly.
//
//go:noescape
func semi4Asm(d, na *float64, m, stride, groups int, c *laneSemi, out *semiOut)

// semiRowAsm is semiRowGo in AVX2 assembly.
//
//go:noescape
func semiRowAsm(d, na *float64, m, groups int, pad *[16]float64, margin float64, out *semiRowOut)
