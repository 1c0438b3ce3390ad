//go:build amd64 && !purego

#include "textflag.h"

// Only VEX-encoded instructions touch the vector registers here (VMOVQ,
// not MOVQ, for AX → X). A legacy SSE instruction after a 256-bit one has
// dirtied the upper halves costs a state transition: on the AMD EPYC VM
// this was measured on, one MOVQ AX, X2 after the first VBROADCASTSD cost
// about 115 ns per call, more than a whole 32-step row of semi4Asm.

// func lanes4Asm(d, na *float64, m, stride int, c *laneConsts, rare *int32, out *laneOut) int
//
// Lane k of step i reads d[i·stride+k]. With x = d − margin:
//   common = x < second, b = common && first ≤ x,
//   na += common ? pf − b : +0, sumD += common ? d : +0, sumBD += b ? d : +0,
//   n += common, n1 += b, and (¬common && x < last) appends 4i+k to rare.
// Adding +0 changes nothing (all these sums are ≥ +0), so every lane gives
// the bits of lanes4Go.
TEXT ·lanes4Asm(SB), NOSPLIT, $0-64
	MOVQ d+0(FP), SI
	MOVQ na+8(FP), DI
	MOVQ m+16(FP), CX
	MOVQ stride+24(FP), DX
	SHLQ $3, DX
	MOVQ c+32(FP), R8
	VMOVUPD 0(R8), Y0         // first
	VMOVUPD 32(R8), Y1        // second
	VMOVUPD 64(R8), Y2        // last
	VMOVUPD 96(R8), Y4        // pf
	VBROADCASTSD 128(R8), Y3  // margin
	MOVQ rare+40(FP), R9
	MOVQ out+48(FP), R11
	MOVQ $0x3FF0000000000000, AX
	VMOVQ AX, X15
	VBROADCASTSD X15, Y15     // 1.0
	VXORPD Y5, Y5, Y5         // sumD
	VXORPD Y6, Y6, Y6         // sumBD
	VPXOR Y7, Y7, Y7          // n
	VPXOR Y8, Y8, Y8          // n1
	XORQ BX, BX               // step i
	XORQ R12, R12             // rare count

loop:
	CMPQ BX, CX
	JGE done
	VMOVUPD (SI), Y9          // d
	VSUBPD Y3, Y9, Y10        // x = d − margin
	VCMPPD $1, Y1, Y10, Y11   // common = x < second
	VCMPPD $2, Y10, Y0, Y12   // first ≤ x
	VANDPD Y11, Y12, Y12      // b
	VANDPD Y15, Y12, Y13      // b as 1.0 / +0
	VSUBPD Y13, Y4, Y14       // pf − b
	VANDPD Y11, Y14, Y14      // … or +0 off the common path
	VADDPD (DI), Y14, Y14
	VMOVUPD Y14, (DI)
	VANDPD Y11, Y9, Y13
	VADDPD Y13, Y5, Y5        // sumD
	VANDPD Y12, Y9, Y13
	VADDPD Y13, Y6, Y6        // sumBD
	VPSUBQ Y11, Y7, Y7        // n (a true mask is −1)
	VPSUBQ Y12, Y8, Y8        // n1
	VCMPPD $1, Y2, Y10, Y13   // x < last
	VANDNPD Y13, Y11, Y13     // ¬common && x < last
	VMOVMSKPD Y13, AX
	TESTL AX, AX
	JNZ rare

next:
	ADDQ DX, SI
	ADDQ DX, DI
	INCQ BX
	JMP loop

rare:
	BSFL AX, R13
	MOVQ BX, R14
	SHLQ $2, R14
	ADDQ R13, R14
	MOVL R14, (R9)(R12*4)
	INCQ R12
	BTRL R13, AX
	TESTL AX, AX
	JNZ rare
	JMP next

done:
	VMOVUPD Y5, 0(R11)
	VMOVUPD Y6, 32(R11)
	VMOVDQU Y7, 64(R11)
	VMOVDQU Y8, 96(R11)
	VZEROUPPER
	MOVQ R12, ret+56(FP)
	RET

// func subDistsAsm(s *float32, sqQ, d *float64, n int, sqa float64)
//
// d[j] = √(sqa + sqQ[j] − 2·s[j]), with a negative radicand replaced by +0
// (not −0 or NaN, as in subDists), for j in [0, n), n a multiple of 4.
TEXT ·subDistsAsm(SB), NOSPLIT, $0-40
	MOVQ s+0(FP), SI
	MOVQ sqQ+8(FP), R8
	MOVQ d+16(FP), DI
	MOVQ n+24(FP), CX
	VBROADCASTSD sqa+32(FP), Y0
	VXORPD Y1, Y1, Y1
	XORQ BX, BX

dloop:
	CMPQ BX, CX
	JGE ddone
	VCVTPS2PD (SI)(BX*4), Y2
	VADDPD Y2, Y2, Y2         // 2s, exactly
	VADDPD (R8)(BX*8), Y0, Y3 // sqa + sqQ
	VSUBPD Y2, Y3, Y3
	VCMPPD $1, Y1, Y3, Y4     // radicand < 0
	VANDNPD Y3, Y4, Y3        // … then +0
	VSQRTPD Y3, Y3
	VMOVUPD Y3, (DI)(BX*8)
	ADDQ $4, BX
	JMP dloop

ddone:
	VZEROUPPER
	RET

// func subCoefAsm(d, na *float64, s *float32, n int, cnt *[4]float64)
//
// s[j] = float32(d[j] > 0 ? na[j]/d[j] : +0) for j in [0, n), n a multiple
// of 4; cnt[k] gets the sum of na[j] over j ≡ k (mod 4).
TEXT ·subCoefAsm(SB), NOSPLIT, $0-40
	MOVQ d+0(FP), SI
	MOVQ na+8(FP), R8
	MOVQ s+16(FP), DI
	MOVQ n+24(FP), CX
	MOVQ cnt+32(FP), R9
	VXORPD Y1, Y1, Y1
	VXORPD Y5, Y5, Y5
	XORQ BX, BX

cloop:
	CMPQ BX, CX
	JGE cdone
	VMOVUPD (SI)(BX*8), Y2    // d
	VMOVUPD (R8)(BX*8), Y3    // na
	VADDPD Y3, Y5, Y5
	VDIVPD Y2, Y3, Y4         // na / d
	VCMPPD $1, Y2, Y1, Y6     // 0 < d
	VANDPD Y6, Y4, Y4
	VCVTPD2PSY Y4, X4
	VMOVUPS X4, (DI)(BX*4)
	ADDQ $4, BX
	JMP cloop

cdone:
	VMOVUPD Y5, (R9)
	VZEROUPPER
	RET

// func semi4Asm(d, na *float64, m, stride, groups int, c *laneSemi, out *semiOut)
//
// For lane k of step i (d[i·stride+k], x = d − margin), positive p is
// active when act_p = (d > pad_p) ∧ ¬(x ≥ pad_p), both comparisons false
// on NaN, as in semi4Go. The four act masks of a
// group of positives are blended into one vector of 16-bit words (word w
// of lane k is positive 4g+w) and subtracted from the group's counters;
// their sum, turned positive, gives each lane's fm by VPSADBW. Then
// na += fm and fd += fm·d, where fm·d is masked to +0 when it is NaN
// (fm = 0 at d = +Inf), which adds nothing, as semi4Go skips it.
//
// Registers: Y0 margin, Y1 zero, Y2 2⁵², Y3 Σ of the group words,
// Y9 d, Y10 x, Y11–Y14 the group counters, Y15 fd; Y4–Y7 scratch.

// SEMIACT sets dst to act for the positive at off(R8) (Y5 is scratch).
#define SEMIACT(off, dst) \
	VCMPPD $0x0E, off(R8), Y9, dst; \
	VCMPPD $0x0D, off(R8), Y10, Y5; \
	VANDNPD dst, Y5, dst

// SEMIACTB is SEMIACT for a positive shared by the four lanes, the
// scalar at off(R8) (broadcast into Y8).
#define SEMIACTB(off, dst) \
	VBROADCASTSD off(R8), Y8; \
	VCMPPD $1, Y9, Y8, dst; \
	VCMPPD $2, Y10, Y8, Y5; \
	VANDNPD dst, Y5, dst

// SEMIGROUPB is SEMIGROUP for positives shared by the lanes (o0…o3 are
// scalar offsets).
#define SEMIGROUPB(o0, o1, o2, o3, acc) \
	SEMIACTB(o0, Y7); \
	SEMIACTB(o1, Y6); \
	VPBLENDW $0x22, Y6, Y7, Y7; \
	SEMIACTB(o2, Y6); \
	VPBLENDW $0x44, Y6, Y7, Y7; \
	SEMIACTB(o3, Y6); \
	VPBLENDW $0x88, Y6, Y7, Y7; \
	VPSUBW Y7, acc, acc; \
	VPADDW Y7, Y3, Y3

// SEMILANESUM stores the sum over the four lanes of acc's words (the
// counts of one group of positives) as four words at off(R10).
#define SEMILANESUM(acc, xacc, off) \
	VEXTRACTI128 $1, acc, X4; \
	VPADDW X4, xacc, X4; \
	VPSHUFD $0x4E, X4, X5; \
	VPADDW X5, X4, X4; \
	VMOVQ X4, off(R10)

// SEMIGROUP counts the group of positives at offsets o0…o3 into acc.
#define SEMIGROUP(o0, o1, o2, o3, acc) \
	SEMIACT(o0, Y7); \
	SEMIACT(o1, Y6); \
	VPBLENDW $0x22, Y6, Y7, Y7; \
	SEMIACT(o2, Y6); \
	VPBLENDW $0x44, Y6, Y7, Y7; \
	SEMIACT(o3, Y6); \
	VPBLENDW $0x88, Y6, Y7, Y7; \
	VPSUBW Y7, acc, acc; \
	VPADDW Y7, Y3, Y3

// SEMISTEP loads step i's distances and clears Y3.
#define SEMISTEP \
	VMOVUPD (SI), Y9; \
	VSUBPD Y0, Y9, Y10; \
	VPXOR Y3, Y3, Y3

// SEMIEND turns Y3 into fm, adds it to na and fm·d to fd, and advances.
#define SEMIEND \
	VPSUBW Y3, Y1, Y4; \
	VPSADBW Y1, Y4, Y4; \
	VPOR Y2, Y4, Y4; \
	VSUBPD Y2, Y4, Y4; \
	VADDPD (DI), Y4, Y6; \
	VMOVUPD Y6, (DI); \
	VMULPD Y9, Y4, Y6; \
	VCMPPD $7, Y6, Y6, Y5; \
	VANDPD Y5, Y6, Y6; \
	VADDPD Y6, Y15, Y15; \
	ADDQ DX, SI; \
	ADDQ DX, DI; \
	DECQ CX

TEXT ·semi4Asm(SB), NOSPLIT, $0-56
	MOVQ d+0(FP), SI
	MOVQ na+8(FP), DI
	MOVQ m+16(FP), CX
	MOVQ stride+24(FP), DX
	SHLQ $3, DX
	MOVQ groups+32(FP), R9
	MOVQ c+40(FP), R8
	MOVQ out+48(FP), R10
	VBROADCASTSD 512(R8), Y0  // margin
	VPXOR Y1, Y1, Y1
	MOVQ $0x4330000000000000, AX
	VMOVQ AX, X2
	VBROADCASTSD X2, Y2       // 2⁵²
	VPXOR Y11, Y11, Y11
	VPXOR Y12, Y12, Y12
	VPXOR Y13, Y13, Y13
	VPXOR Y14, Y14, Y14
	VXORPD Y15, Y15, Y15
	TESTQ CX, CX
	JEQ semidone
	CMPQ R9, $2
	JLT semi1
	JEQ semi2
	CMPQ R9, $3
	JEQ semi3

semi4:
	SEMISTEP
	SEMIGROUP(0, 32, 64, 96, Y11)
	SEMIGROUP(128, 160, 192, 224, Y12)
	SEMIGROUP(256, 288, 320, 352, Y13)
	SEMIGROUP(384, 416, 448, 480, Y14)
	SEMIEND
	JNZ semi4
	JMP semidone

semi3:
	SEMISTEP
	SEMIGROUP(0, 32, 64, 96, Y11)
	SEMIGROUP(128, 160, 192, 224, Y12)
	SEMIGROUP(256, 288, 320, 352, Y13)
	SEMIEND
	JNZ semi3
	JMP semidone

semi2:
	SEMISTEP
	SEMIGROUP(0, 32, 64, 96, Y11)
	SEMIGROUP(128, 160, 192, 224, Y12)
	SEMIEND
	JNZ semi2
	JMP semidone

semi1:
	SEMISTEP
	SEMIGROUP(0, 32, 64, 96, Y11)
	SEMIEND
	JNZ semi1

semidone:
	VMOVDQU Y11, 0(R10)
	VMOVDQU Y12, 32(R10)
	VMOVDQU Y13, 64(R10)
	VMOVDQU Y14, 96(R10)
	VMOVUPD Y15, 128(R10)
	VZEROUPPER
	RET

// func semiRowAsm(d, na *float64, m, groups int, pad *[16]float64, margin float64, out *semiRowOut)
//
// semi4Asm with stride 4 and the same anchor (padded sorted positives pad)
// in every lane: a row of 4m negatives against one anchor. The counts are
// summed over the lanes (out.cnt[p]); out.fd[k] is lane k's Σ fm·d.
TEXT ·semiRowAsm(SB), NOSPLIT, $0-56
	MOVQ d+0(FP), SI
	MOVQ na+8(FP), DI
	MOVQ m+16(FP), CX
	MOVQ groups+24(FP), R9
	MOVQ pad+32(FP), R8
	VBROADCASTSD margin+40(FP), Y0
	MOVQ out+48(FP), R10
	MOVQ $32, DX
	VPXOR Y1, Y1, Y1
	MOVQ $0x4330000000000000, AX
	VMOVQ AX, X2
	VBROADCASTSD X2, Y2       // 2⁵²
	VPXOR Y11, Y11, Y11
	VPXOR Y12, Y12, Y12
	VPXOR Y13, Y13, Y13
	VPXOR Y14, Y14, Y14
	VXORPD Y15, Y15, Y15
	TESTQ CX, CX
	JEQ rowdone
	CMPQ R9, $2
	JLT row1
	JEQ row2
	CMPQ R9, $3
	JEQ row3

row4:
	SEMISTEP
	SEMIGROUPB(0, 8, 16, 24, Y11)
	SEMIGROUPB(32, 40, 48, 56, Y12)
	SEMIGROUPB(64, 72, 80, 88, Y13)
	SEMIGROUPB(96, 104, 112, 120, Y14)
	SEMIEND
	JNZ row4
	JMP rowdone

row3:
	SEMISTEP
	SEMIGROUPB(0, 8, 16, 24, Y11)
	SEMIGROUPB(32, 40, 48, 56, Y12)
	SEMIGROUPB(64, 72, 80, 88, Y13)
	SEMIEND
	JNZ row3
	JMP rowdone

row2:
	SEMISTEP
	SEMIGROUPB(0, 8, 16, 24, Y11)
	SEMIGROUPB(32, 40, 48, 56, Y12)
	SEMIEND
	JNZ row2
	JMP rowdone

row1:
	SEMISTEP
	SEMIGROUPB(0, 8, 16, 24, Y11)
	SEMIEND
	JNZ row1

rowdone:
	SEMILANESUM(Y11, X11, 0)
	SEMILANESUM(Y12, X12, 8)
	SEMILANESUM(Y13, X13, 16)
	SEMILANESUM(Y14, X14, 24)
	VMOVUPD Y15, 32(R10)
	VZEROUPPER
	RET
