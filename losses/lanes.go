package losses

// This file holds the four-lane loops of the triplet kernel: lanes4, the
// common case of mining all (see sideSums.all), and semiCodes, the ranks
// of semihard mining (see sideSums.semiApply). Each evaluates four
// independent streams of negatives, each against its own anchor, and is
// written once in Go (lanes4Go, semiCodesGo) and, on amd64 with AVX2,
// once in assembly (lanes_amd64.s). The two give bit-identical results:
// each lane adds its own terms in its own order, as the Go loop does.

// laneConsts are the anchors of the four lanes: their smallest, second
// smallest and largest D_ap, their number of positives (as floats), and
// the margin.
type laneConsts struct {
	first, second, last, pf [4]float64
	margin                  float64
}

// laneOut are lanes4's per-lane results: Σd and Σb·d over the negatives
// on the common path (d − margin below the second smallest D_ap; b says
// whether it is at or past the smallest), and how many there were and
// how many of them had b set.
type laneOut struct {
	sumD, sumBD [4]float64
	n, n1       [4]int64
}

// lanes4Go is lanes4 in Go. Lane k reads d[i·stride+k] for i in [0, m)
// and adds to na[i·stride+k] the number of active positives when the
// negative is on the common path (pf − b), 0 otherwise. Negatives off the
// common path but below the lane's largest D_ap are listed in rare as
// 4·i+k, in increasing order; it returns how many. +Inf distances count
// nothing.
func lanes4Go(d, na []float64, m, stride int, c *laneConsts, rare []int32, out *laneOut) int {
	nr := 0
	for i := range m {
		o := i * stride
		dv, nv := d[o:o+4:o+4], na[o:o+4:o+4]
		for k := range 4 {
			dn := dv[k]
			x := dn - c.margin
			if x < c.second[k] {
				var fb float64
				if c.first[k] <= x {
					fb = 1
					out.n1[k]++
					out.sumBD[k] += dn
				}
				nv[k] += c.pf[k] - fb
				out.sumD[k] += dn
				out.n[k]++
			} else {
				if x < c.last[k] {
					rare[nr] = int32(4*i + k)
					nr++
				}
			}
		}
	}
	return nr
}

// lanes4 is lanes4Go, in assembly where the CPU allows (see lanes_amd64.go).
func lanes4(d, na []float64, m, stride int, c *laneConsts, rare []int32, out *laneOut) int {
	if m == 0 {
		return 0
	}
	_ = d[(m-1)*stride+3]
	_ = na[(m-1)*stride+3]
	_ = rare[4*m-1]
	if haveLanesAsm {
		return lanes4Asm(&d[0], &na[0], m, stride, c, &rare[0], out)
	}
	return lanes4Go(d, na, m, stride, c, rare, out)
}

// laneSemi are the anchors of four lanes for semihard mining: each
// lane's sorted D_ap padded with +Inf (pad[i][k] is lane k's i-th), its
// smallest and largest D_ap, and the margin.
type laneSemi struct {
	pad         [16][4]float64
	first, last [4]float64
	margin      float64
}

// semiCodes sets code[4i+k], for the negative at d[i·stride+k] against
// lane k's anchor, to alo | mhi<<8 with alo = #{D_ap ≤ d − margin} and
// mhi = #{D_ap < d} when it forms a semihard triplet (first < d,
// d − margin < last and mhi > alo), and to 0 otherwise.
func semiCodes(d []float64, m, stride int, c *laneSemi, code []int64) {
	if m == 0 {
		return
	}
	_ = d[(m-1)*stride+3]
	_ = code[4*m-1]
	if haveLanesAsm {
		semiCodesAsm(&d[0], m, stride, c, &code[0])
		return
	}
	semiCodesGo(d, m, stride, c, code)
}

// semiCodesGo is semiCodes in Go (semiCodesAsm gives the same codes).
func semiCodesGo(d []float64, m, stride int, c *laneSemi, code []int64) {
	for i := range m {
		for k := range 4 {
			dn := d[i*stride+k]
			x := dn - c.margin
			var alo, mhi int64
			for p := range 16 {
				if c.pad[p][k] <= x {
					alo++
				}
				if c.pad[p][k] < dn {
					mhi++
				}
			}
			var v int64
			if x < c.last[k] && c.first[k] < dn && mhi > alo {
				v = alo | mhi<<8
			}
			code[4*i+k] = v
		}
	}
}
