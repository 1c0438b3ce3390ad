package losses

// This file holds the four-lane loops of the triplet kernel: lanes4, the
// common case of mining all (see sideSums.all), and semi4, semihard
// mining (see sideSums.semiRow). Each evaluates four
// independent streams of negatives, each against its own anchor, and is
// written once in Go (lanes4Go, semi4Go) and, on amd64 with AVX2,
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
// lane's D_ap padded with +Inf (pad[p][k] is lane k's p-th), the margin,
// and the number of groups of four positives that hold any lane's D_ap.
// (The assembly reads pad and margin at fixed offsets.)
type laneSemi struct {
	pad    [16][4]float64
	margin float64
	groups int
}

// semiOut are semi4's per-lane results. cnt[g][k][w] is the number of
// lane k's negatives that form a semihard triplet with the lane's sorted
// positive 4g+w (at most m ≤ 65,535 per call), and fd[k] is Σ fm·d over
// lane k's negatives in order, fm being a negative's number of semihard
// triplets (negatives with fm = 0 add nothing).
type semiOut struct {
	cnt [4][4][4]uint16
	fd  [4]float64
}

// semi4Go is semi4 in Go. Lane k reads d[i·stride+k] for i in [0, m); the
// negative at distance d forms a semihard triplet with positive p exactly
// when pad[p] < d and not pad[p] ≤ d − margin (so never with the +Inf
// padding, and never when d is +Inf or NaN). Only positives below
// 4·groups are looked at. It adds fm to na[i·stride+k].
func semi4Go(d, na []float64, m, stride, groups int, c *laneSemi, out *semiOut) {
	for i := range m {
		o := i * stride
		dv, nv := d[o:o+4:o+4], na[o:o+4:o+4]
		for k := range 4 {
			dn := dv[k]
			x := dn - c.margin
			fm := 0
			for p := range 4 * groups {
				if v := c.pad[p][k]; v < dn && !(v <= x) {
					out.cnt[p/4][k][p%4]++
					fm++
				}
			}
			f := float64(fm)
			nv[k] += f
			if fm != 0 {
				out.fd[k] += float64(f * dn) // the conversion forbids a fused multiply-add
			}
		}
	}
}

// semi4 is semi4Go, in assembly where the CPU allows (see lanes_amd64.go).
// groups is at most 4 and m at most 65,535.
func semi4(d, na []float64, m, stride, groups int, c *laneSemi, out *semiOut) {
	if m == 0 || groups == 0 {
		return
	}
	if groups > 4 || m > 65535 {
		panic("losses: semi4 out of range")
	}
	_ = d[(m-1)*stride+3]
	_ = na[(m-1)*stride+3]
	if haveLanesAsm {
		semi4Asm(&d[0], &na[0], m, stride, groups, c, out)
		return
	}
	semi4Go(d, na, m, stride, groups, c, out)
}

// semiRowOut are semiRow4's results: cnt[p] is the number of negatives
// forming a semihard triplet with positive p (summed over the lanes), and
// fd[k] is lane k's Σ fm·d (as in semiOut).
type semiRowOut struct {
	cnt [16]uint16
	fd  [4]float64
}

// semiRowGo is semi4Go for one anchor (padded sorted positives pad) in
// every lane, stride 4: the 4m negatives d[0:4m] of a row.
func semiRowGo(d, na []float64, m, groups int, pad *[16]float64, margin float64, out *semiRowOut) {
	c := laneSemi{margin: margin}
	for p := range 4 * groups {
		v := pad[p]
		c.pad[p] = [4]float64{v, v, v, v}
	}
	var o semiOut
	semi4Go(d, na, m, 4, groups, &c, &o)
	for p := range 4 * groups {
		cg := &o.cnt[p/4]
		out.cnt[p] = cg[0][p%4] + cg[1][p%4] + cg[2][p%4] + cg[3][p%4]
	}
	out.fd = o.fd
}

// semiRow4 is semiRowGo, in assembly where the CPU allows. groups is at
// most 4 and 4m at most 65,535.
func semiRow4(d, na []float64, m, groups int, pad *[16]float64, margin float64, out *semiRowOut) {
	if m == 0 || groups == 0 {
		return
	}
	if groups > 4 || 4*m > 65535 {
		panic("losses: semiRow4 out of range")
	}
	_ = d[4*m-1]
	_ = na[4*m-1]
	if haveLanesAsm {
		semiRowAsm(&d[0], &na[0], m, groups, pad, margin, out)
		return
	}
	semiRowGo(d, na, m, groups, pad, margin, out)
}
