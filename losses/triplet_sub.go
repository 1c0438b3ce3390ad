package losses

import "math"

// This file holds the triplet tile kernel for the default case: Euclidean
// distances on normalized rows, mining all or semihard, reduction
// avg_nonzero, at most 16 positives per anchor (tripletTiles.fast).
//
// A tile is done in sub-blocks of subEdge×subEdge pairs. The distances of
// a sub-block are computed once into a buffer that stays in the L2 cache;
// then each row anchor is evaluated along its row of the buffer and each
// column anchor down its column, in loops whose anchor is fixed (its
// sorted positives stay in registers), and finally the coefficients are
// written. Evaluating both ends of a pair in one loop loaded a different
// column anchor every iteration and kept Go's register allocator busy
// spilling: it was about 1.6 times slower.

// subEdge is the edge of the sub-blocks.
const subEdge = 128

// subBuf is a worker's buffers for one sub-block: distances (+Inf for
// pairs that are not negatives of the sub-block) and active counts.
type subBuf struct {
	d  [subEdge * subEdge]float64
	na [subEdge * subEdge]float64
}

// sideSums is one anchor's running sums over a tile. For mining all: its
// loss sum and its active negatives with alo = 0 and alo = 1 (larger alo
// go straight to the difference counters). For semihard mining: how many
// negatives each positive forms a semihard triplet with, and Σ fm·d over
// the negatives (fm being a negative's number of semihard triplets);
// flush turns them into the loss sum.
type sideSums struct {
	sum    float64
	n0, n1 int32
	cnt    [16]int32
	fd     float64
}

// tileSub is tileFast for Euclidean distances on normalized rows.
func (k *tripletTiles) tileSub(e *tileEngine, t *tileTask) {
	n, w, sq := e.n, e.w, e.ctx.sq
	margin, semi := k.t.Margin, k.t.Mining == MineSemihard
	diff := k.diff[t.worker]
	nr, nc := t.p1-t.p0, t.q1-t.q0
	if t.sc.sub == nil {
		t.sc.sub = new(subBuf)
		t.sc.rare = make([]int32, 4*subEdge)
	}
	if cap(t.sc.sides) < nr+nc {
		t.sc.sides = make([]sideSums, nr+nc)
	}
	sides := t.sc.sides[:nr+nc]
	clear(sides)
	rowSides, colSides := sides[:nr], sides[nr:]
	buf := t.sc.sub
	inf := math.Inf(1)
	var cnt float64
	for rb := 0; rb < nr; rb += subEdge {
		re := min(nr, rb+subEdge)
		cs := 0
		if t.diag {
			cs = rb // sub-blocks left of the diagonal are below it
		}
		for cb := cs; cb < nc; cb += subEdge {
			ce := min(nc, cb+subEdge)
			bw := ce - cb
			onDiag := t.diag && cb == rb
			sqQ := sq[t.q0+cb : t.q0+ce]
			clear(buf.na[:(re-rb)*subEdge])
			// Rows: distances, then the row anchor's side.
			for i := rb; i < re; i++ {
				a := t.p0 + i
				row := w[a*n+t.q0+cb : a*n+t.q0+ce]
				d := buf.d[(i-rb)*subEdge : (i-rb)*subEdge+bw]
				subDists(sq[a], sqQ, row, d)
				// The anchor's class is the row range [lo, hi) (rows are
				// sorted by class): those columns are positives.
				lo, hi := e.ctx.lo[a]-(t.q0+cb), e.ctx.hi[a]-(t.q0+cb)
				for j := max(lo, 0); j < min(hi, bw); j++ {
					d[j] = inf
				}
				if onDiag {
					for j := range min(bw, i-rb+1) {
						d[j] = inf // on or below the diagonal
					}
				}
				na := buf.na[(i-rb)*subEdge : (i-rb)*subEdge+bw]
				if semi {
					rowSides[i].semiRow(&k.anchors[a], d, na, margin)
				} else {
					rowSides[i].allRow(&k.anchors[a], &k.hot[a], d, na, margin, diff, t.sc.rare)
				}
			}
			// Columns: the column anchor's side, down the column; for
			// mining all, four columns at a time (see lanes4).
			m := re - rb
			j0 := 0
			for ; j0+4 <= bw; j0 += 4 {
				c := t.q0 + cb + j0
				if semi {
					semiCols4(&k.quads[c/4], colSides[cb+j0:cb+j0+4], buf.d[j0:], buf.na[j0:], m)
				} else {
					allCols4(k.anchors[c:c+4], k.hot[c:c+4], colSides[cb+j0:cb+j0+4], buf.d[j0:], buf.na[j0:], m, margin, diff, t.sc.rare)
				}
			}
			for j := j0; j < bw; j++ {
				c := t.q0 + cb + j
				d := buf.d[j : j+(m-1)*subEdge+1]
				na := buf.na[j : j+(m-1)*subEdge+1]
				if semi {
					pad, s := &k.anchors[c].pad, &colSides[cb+j]
					for i := range m {
						s.semiOne(pad, margin, d[i*subEdge], &na[i*subEdge])
					}
				} else {
					colSides[cb+j].all(&k.anchors[c], &k.hot[c], d, na, margin, diff, subEdge)
				}
			}
			// Coefficients −∂(sum)/∂d ÷ d for the sub-block's pairs.
			for i := rb; i < re; i++ {
				a := t.p0 + i
				row := w[a*n+t.q0+cb : a*n+t.q0+ce]
				d := buf.d[(i-rb)*subEdge : (i-rb)*subEdge+bw]
				na := buf.na[(i-rb)*subEdge : (i-rb)*subEdge+bw]
				cnt += subCoef(d, na, row)
			}
		}
	}
	sumR, sumC := e.slot(k.sum, t.ti, t.tj), e.slot(k.sum, t.tj, t.ti)
	for i := range rowSides {
		sumR[i] += rowSides[i].flush(&k.anchors[t.p0+i], semi, margin, diff)
	}
	for c := range colSides {
		sumC[c] += colSides[c].flush(&k.anchors[t.q0+c], semi, margin, diff)
	}
	k.cnt[t.worker] += int64(cnt)
}

// subDists sets d[j] to the Euclidean distance between the anchor
// (squared norm sqa) and column j from its similarity s[j].
func subDists(sqa float64, sqQ []float64, s []float32, d []float64) {
	d, sqQ = d[:len(s)], sqQ[:len(s)]
	j := 0
	if n4 := len(s) &^ 3; haveLanesAsm && n4 > 0 {
		subDistsAsm(&s[0], &sqQ[0], &d[0], n4, sqa)
		j = n4
	}
	for ; j < len(s); j++ {
		d2 := sqa + sqQ[j] - 2*float64(s[j])
		if d2 < 0 {
			d2 = 0
		}
		d[j] = math.Sqrt(d2)
	}
}

// subCoef overwrites s[j] with na[j]/d[j] (0 at d = 0, and at the +Inf
// that mark pairs which are not negatives: positive pairs get their
// coefficients in finish, entries below the diagonal are never read) and
// returns the sum of the na[j].
func subCoef(d, na []float64, s []float32) float64 {
	na, s = na[:len(d)], s[:len(d)]
	var cnt float64 // a sum of small integers: exact in any order
	j := 0
	if n4 := len(d) &^ 3; haveLanesAsm && n4 > 0 {
		var c [4]float64
		subCoefAsm(&d[0], &na[0], &s[0], n4, &c)
		cnt, j = (c[0]+c[1])+(c[2]+c[3]), n4
	}
	for ; j < len(d); j++ {
		v := 0.0
		if dn := d[j]; dn > 0 {
			v = na[j] / dn
		}
		cnt += na[j]
		s[j] = float32(v)
	}
	return cnt
}

// flush adds the side's counts to anchor A's difference counters and
// returns its loss sum. For mining all these are the alo = 0 and alo = 1
// counts. For semihard mining (semi) they are the per-positive counts,
// and the loss sum, Σ over the semihard triplets of D_ap − d + margin, is
// Σ_p D_ap·cnt_p + margin·Σ_p cnt_p − Σ fm·d.
func (s *sideSums) flush(A *tripletAnchor, semi bool, margin float64, diff []int32) float64 {
	if !semi {
		if s.n0 != 0 {
			diff[A.doff] += s.n0
		}
		if s.n1 != 0 {
			diff[A.doff+1] += s.n1
		}
		return s.sum
	}
	var sp float64
	var tot int32
	for p, c := range s.cnt[:min(A.p, 16)] {
		if c != 0 {
			sp += A.pad[p] * float64(c)
			tot += c
			diff[A.doff+p] += c
			diff[A.doff+p+1] -= c
		}
	}
	return sp + float64(tot)*margin - s.fd
}

// all evaluates the negatives at distances d[0], d[step], d[2·step], …
// against anchor A (hot part H) for mining all: negative i forms an active
// triplet with the sorted positives from alo = #{D_ap ≤ d − margin} on.
// It adds their number to na[i] and their loss terms to s. +Inf
// distances count nothing.
//
// For alo ≤ 1, alo = b is one comparison and the loss terms are
// Σ_{p ≥ b} (D_ap − d + margin) = preP + P·margin − P·d − b·(pre1 + margin)
// + b·d: only Σd, Σb and Σb·d are gathered per element. alo ≥ 2 (d −
// margin at or past the second smallest D_ap) is counted by a short loop.
func (s *sideSums) all(A *tripletAnchor, H *tripletHot, d, na []float64, margin float64, diff []int32, step int) {
	first, second, last, pf := H.first, H.second, H.last, H.pf
	var nCommon, n1 int32
	var sumD, sumBD, rare float64
	na = na[:len(d)]
	for i := 0; i < len(d); i += step {
		dn := d[i]
		x := dn - margin
		if x < second {
			b := b2i(first <= x)
			fb := float64(b)
			na[i] += pf - fb
			sumD += dn
			sumBD += fb * dn
			n1 += int32(b)
			nCommon++
		} else if x < last {
			rare += A.rare(dn, margin, &na[i], diff)
		}
	}
	s.add(H, margin, rare, sumD, sumBD, nCommon, n1)
}

// allRow is all along one row (step 1), its first multiple of four
// entries through lanes4 (four interleaved streams against the same
// anchor, whose sums are then added in a fixed order). rare is scratch
// of at least len(d) entries.
func (s *sideSums) allRow(A *tripletAnchor, H *tripletHot, d, na []float64, margin float64, diff, rare []int32) {
	n4 := len(d) &^ 3
	c := laneConsts{margin: margin}
	for k := range 4 {
		c.first[k], c.second[k], c.last[k], c.pf[k] = H.first, H.second, H.last, H.pf
	}
	var out laneOut
	nr := lanes4(d[:n4], na[:n4], n4/4, 4, &c, rare, &out)
	sumD := (out.sumD[0] + out.sumD[1]) + (out.sumD[2] + out.sumD[3])
	sumBD := (out.sumBD[0] + out.sumBD[1]) + (out.sumBD[2] + out.sumBD[3])
	nCommon := int32(out.n[0] + out.n[1] + out.n[2] + out.n[3])
	n1 := int32(out.n1[0] + out.n1[1] + out.n1[2] + out.n1[3])
	var rareSum float64
	for _, r := range rare[:nr] {
		rareSum += A.rare(d[r], margin, &na[r], diff)
	}
	pf, first, second, last := H.pf, H.first, H.second, H.last
	for i := n4; i < len(d); i++ {
		dn := d[i]
		x := dn - margin
		if x < second {
			var fb float64
			if first <= x {
				fb = 1
				n1++
				sumBD += dn
			}
			na[i] += pf - fb
			sumD += dn
			nCommon++
		} else if x < last {
			rareSum += A.rare(dn, margin, &na[i], diff)
		}
	}
	s.add(H, margin, rareSum, sumD, sumBD, nCommon, n1)
}

// allCols4 is all down four adjacent columns at once through lanes4:
// column k's anchor is anchors[k] (hot[k]), its sums go to sides[k], and
// it reads d[i·subEdge+k] and adds to na[i·subEdge+k] for i in [0, m).
// The results are those of all, bit for bit.
func allCols4(anchors []tripletAnchor, hot []tripletHot, sides []sideSums, d, na []float64, m int, margin float64, diff, rare []int32) {
	c := laneConsts{margin: margin}
	for k := range 4 {
		h := &hot[k]
		c.first[k], c.second[k], c.last[k], c.pf[k] = h.first, h.second, h.last, h.pf
	}
	var out laneOut
	nr := lanes4(d, na, m, subEdge, &c, rare, &out)
	var rareSum [4]float64
	for _, r := range rare[:nr] {
		i, k := int(r)/4, int(r)%4
		o := i*subEdge + k
		rareSum[k] += anchors[k].rare(d[o], margin, &na[o], diff)
	}
	for k := range 4 {
		sides[k].add(&hot[k], margin, rareSum[k], out.sumD[k], out.sumBD[k], int32(out.n[k]), int32(out.n1[k]))
	}
}

// rare handles a negative at distance dn whose dn − margin is at or past
// the anchor's second smallest D_ap (and below its largest): it adds the
// number of active positives to *na, counts them in diff and returns
// their loss terms.
func (A *tripletAnchor) rare(dn, margin float64, na *float64, diff []int32) float64 {
	x := dn - margin
	alo := 2
	for alo < 16 && A.pad[alo] <= x {
		alo++
	}
	m := float64(A.p - alo)
	*na += m
	diff[A.doff+alo]++
	return A.pre[A.p&31] - A.pre[alo&31] + m*(margin-dn)
}

// add folds one pass's gathered sums into s (see all for the formula).
func (s *sideSums) add(H *tripletHot, margin, rare, sumD, sumBD float64, nCommon, n1 int32) {
	fn, f1 := float64(nCommon), float64(n1)
	s.sum += rare + fn*(H.sum+H.pf*margin) - H.pf*sumD - f1*(H.pre1+margin) + sumBD
	s.n0 += nCommon - n1
	s.n1 += n1
}

// semiRow adds the semihard terms of the negatives at distances d
// against anchor A to s and their numbers of semihard triplets to na: the
// first multiple of four through semiRow4 (four interleaved streams
// against the same anchor, whose results are then added in a fixed
// order), the rest through semiOne.
func (s *sideSums) semiRow(A *tripletAnchor, d, na []float64, margin float64) {
	g := (min(A.p, 16) + 3) / 4
	if g == 0 {
		return // no positives: no triplets
	}
	if n4 := len(d) &^ 3; n4 > 0 {
		var out semiRowOut
		semiRow4(d[:n4], na[:n4], n4/4, g, &A.pad, margin, &out)
		s.fd += (out.fd[0] + out.fd[1]) + (out.fd[2] + out.fd[3])
		for p := range 4 * g {
			s.cnt[p] += int32(out.cnt[p])
		}
		d, na = d[n4:], na[n4:]
	}
	for i, dn := range d {
		s.semiOne(&A.pad, margin, dn, &na[i])
	}
}

// semiCols4 is semiRow down four adjacent columns at once: column k's
// anchor is lane k of c (see tripletTiles.quads), its sums go to
// sides[k], and it reads d[i·subEdge+k] and adds to na[i·subEdge+k] for
// i in [0, m).
func semiCols4(c *laneSemi, sides []sideSums, d, na []float64, m int) {
	var out semiOut
	semi4(d, na, m, subEdge, c.groups, c, &out)
	for k := range 4 {
		s := &sides[k]
		s.fd += out.fd[k]
		for p := range 4 * c.groups {
			s.cnt[p] += int32(out.cnt[p/4][k][p%4])
		}
	}
}

// semiQuads sets quads[q] to the lane table of anchors 4q … 4q+3.
func semiQuads(quads []laneSemi, anchors []tripletAnchor, margin float64) {
	for q := range quads {
		c := &quads[q]
		c.margin, c.groups = margin, 0
		for k := range 4 {
			A := &anchors[4*q+k]
			c.groups = max(c.groups, (min(A.p, 16)+3)/4)
			for p := range 16 {
				c.pad[p][k] = A.pad[p]
			}
		}
	}
}

// semiOne is one lane of semi4Go for a single negative at distance dn
// against the anchor with padded sorted positives pad: it counts the
// semihard triplets per positive into s, adds their number to *na, and
// that number times dn to s.fd.
func (s *sideSums) semiOne(pad *[16]float64, margin, dn float64, na *float64) {
	x := dn - margin
	fm := 0
	for p, v := range pad {
		if v < dn && !(v <= x) {
			s.cnt[p]++
			fm++
		}
	}
	f := float64(fm)
	*na += f
	if fm != 0 {
		s.fd += float64(f * dn)
	}
}
