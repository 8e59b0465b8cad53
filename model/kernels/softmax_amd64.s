//go:build amd64 && !purego

#include "textflag.h"

// The softmax kernels (AVX-512): exponentiate-shift-sum and max. n is a
// multiple of 16; the Go twins are in softmax.go.

// REDUCE16 sums the 16 lanes of Z0 into the low lane of X0.
#define REDUCE16 \
	VEXTRACTF64X4 $1, Z0, Y1; \
	VADDPS        Y1, Y0, Y0; \
	VEXTRACTF128  $1, Y0, X1; \
	VADDPS        X1, X0, X0; \
	VPERMILPS     $0x4e, X0, X1; \
	VADDPS        X1, X0, X0; \
	VPERMILPS     $0xb1, X0, X1; \
	VADDPS        X1, X0, X0

// BCAST_CONST broadcasts the float32 bit pattern bits into zmm z.
#define BCAST_CONST(bits, z) \
	MOVL         $bits, AX; \
	VPBROADCASTD AX, z

// func expShiftSumAVX512(x *float32, n int, shift, scale float32) float32
//
// x[i] = exp((x[i] - shift)·scale) for i < n (a multiple of 16); returns
// the sum.
// Cephes expf: n = round(t·log2 e), r = t - n·ln2 (two-part ln2), a degree
// 5 polynomial for (e^r - 1 - r)/r², then VSCALEFPS multiplies by 2^n.
// t is clamped below at -120 (e^-120 underflows to 0); NaN stays NaN
// because VMAXPS returns its second source when either is NaN.
TEXT ·expShiftSumAVX512(SB), NOSPLIT, $0-28
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS shift+16(FP), Z31
	VBROADCASTSS scale+20(FP), Z19
	BCAST_CONST(0x3fb8aa3b, Z30) // log2 e
	BCAST_CONST(0x3f318000, Z29) // ln2, high part 0.693359375
	BCAST_CONST(0xb95e8083, Z28) // ln2, low part -2.12194440e-4
	BCAST_CONST(0x39506967, Z22) // 1.9875691500e-4
	BCAST_CONST(0x3ab743ce, Z23) // 1.3981999507e-3
	BCAST_CONST(0x3c088908, Z24) // 8.3334519073e-3
	BCAST_CONST(0x3d2aa9c1, Z25) // 4.1665795894e-2
	BCAST_CONST(0x3e2aaaaa, Z26) // 1.6666665459e-1
	BCAST_CONST(0x3f000000, Z27) // 5.0000001201e-1
	BCAST_CONST(0x3f800000, Z21) // 1
	BCAST_CONST(0xc2f00000, Z20) // -120
	VPXORD       Z0, Z0, Z0
	TESTQ        CX, CX
	JZ           expdone

exploop:
	VMOVUPS      (SI), Z1
	VSUBPS       Z31, Z1, Z1
	VMULPS       Z19, Z1, Z1
	VMAXPS       Z1, Z20, Z1
	VMULPS       Z30, Z1, Z2
	VRNDSCALEPS  $0, Z2, Z2
	VMOVAPS      Z1, Z3
	VFNMADD231PS Z29, Z2, Z3
	VFNMADD231PS Z28, Z2, Z3
	VMOVAPS      Z22, Z4
	VFMADD213PS  Z23, Z3, Z4
	VFMADD213PS  Z24, Z3, Z4
	VFMADD213PS  Z25, Z3, Z4
	VFMADD213PS  Z26, Z3, Z4
	VFMADD213PS  Z27, Z3, Z4
	VMULPS       Z3, Z3, Z5
	VFMADD213PS  Z3, Z5, Z4
	VADDPS       Z21, Z4, Z4
	VSCALEFPS    Z2, Z4, Z4
	VMOVUPS      Z4, (SI)
	VADDPS       Z4, Z0, Z0
	ADDQ         $64, SI
	SUBQ         $16, CX
	JNZ          exploop

expdone:
	REDUCE16
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func maxAVX512(x *float32, n int) float32
//
// The largest of x[0:n] (n a positive multiple of 16), or NaN when any
// element is NaN (K1 collects the unordered lanes).
TEXT ·maxAVX512(SB), NOSPLIT, $0-20
	MOVQ      x+0(FP), SI
	MOVQ      n+8(FP), CX
	VMOVUPS   (SI), Z0
	VMOVAPS   Z0, Z1
	KXORW     K1, K1, K1

maxloop:
	VMOVUPS   (SI), Z2
	VCMPPS    $3, Z2, Z2, K2
	KORW      K2, K1, K1
	VMAXPS    Z2, Z0, Z0
	ADDQ      $64, SI
	SUBQ      $16, CX
	JNZ       maxloop
	VEXTRACTF64X4 $1, Z0, Y1
	VMAXPS    Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VMAXPS    X1, X0, X0
	VPERMILPS $0x4e, X0, X1
	VMAXPS    X1, X0, X0
	VPERMILPS $0xb1, X0, X1
	VMAXPS    X1, X0, X0
	KORTESTW  K1, K1
	JZ        maxdone
	MOVL      $0x7fc00000, AX
	MOVL      AX, ret+16(FP)
	VZEROUPPER
	RET

maxdone:
	VMOVSS    X0, ret+16(FP)
	VZEROUPPER
	RET

// CVT_Y5_Z4 is VCVTNEPS2BF16 Y5, Z4 (EVEX.512.F3.0F38.W0 72 /r; the Go
// assembler lacks the AVX512_BF16 mnemonics): Y5's 16 words are Z4 rounded
// to bf16, nearest even, subnormal inputs read as zero.
#define CVT_Y5_Z4 BYTE $0x62; BYTE $0xf2; BYTE $0x7e; BYTE $0x48; BYTE $0x72; BYTE $0xec
// CVT_Y15_Z14 is VCVTNEPS2BF16 Y15, Z14, the same instruction on the
// second stream's registers (EVEX R, B = 0 for registers 8-15).
#define CVT_Y15_Z14 BYTE $0x62; BYTE $0x52; BYTE $0x7e; BYTE $0x48; BYTE $0x72; BYTE $0xfe

// EXP2POLY4 sets Z4 = 2^Z1 as ExpShiftSumBF16 defines it (softmaxbf16.go,
// whose Go twin exp2Poly4 repeats these operations): Z1 clamped to [Z29,
// Z23] = [-160, 129], then EXP2POLY4_LE(Z1, Z2, Z3, Z4). VMINPS and VMAXPS
// return their second source, Z1, when it is NaN.
#define EXP2POLY4 \
	VMINPS       Z1, Z23, Z1; \
	EXP2POLY4_LE(Z1, Z2, Z3, Z4)

// EXP2POLY4_LE(x, n, f, q) sets q = 2^x (x clobbered) with the bits
// EXP2POLY4 gives for every x but +Inf (past 128 both overflow to +Inf),
// without its upper clamp: x clamped below at
// Z29 = -160, n = round(x), f = x - n, the degree-4 polynomial Z28..Z24 of
// f by Horner, times 2^n.
#define EXP2POLY4_LE(x, n, f, q) \
	VMAXPS       x, Z29, x; \
	VRNDSCALEPS  $0, x, n; \
	VSUBPS       n, x, f; \
	VMOVAPS      Z28, q; \
	VFMADD213PS  Z27, f, q; \
	VFMADD213PS  Z26, f, q; \
	VFMADD213PS  Z25, f, q; \
	VFMADD213PS  Z24, f, q; \
	VSCALEFPS    n, q, q

// EXP2_CONSTS broadcasts EXP2POLY4's constants (AX clobbered).
#define EXP2_CONSTS \
	BCAST_CONST(0xc3200000, Z29); \
	BCAST_CONST(0x43010000, Z23); \
	BCAST_CONST(0x3f7ffff4, Z24); \
	BCAST_CONST(0x3f31706e, Z25); \
	BCAST_CONST(0x3e76036d, Z26); \
	BCAST_CONST(0x3d650a20, Z27); \
	BCAST_CONST(0x3c1ccbeb, Z28)

// func expShiftSumBF16AVX512(p *uint16, x *float32, n int, mul, add float32) float32
//
// p[i] = bf16(2^t), t = x[i]·mul + add, for i < n (a multiple of 16);
// returns Σ 2^t in float32 (AVX512_BF16).
TEXT ·expShiftSumBF16AVX512(SB), NOSPLIT, $0-36
	MOVQ         p+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS mul+24(FP), Z31
	VBROADCASTSS add+28(FP), Z30
	EXP2_CONSTS
	VPXORD       Z0, Z0, Z0
	TESTQ        CX, CX
	JZ           bf16expdone

bf16exploop:
	VMOVUPS      (SI), Z1
	VFMADD213PS  Z30, Z31, Z1 // t = x·mul + add
	EXP2POLY4
	VADDPS       Z4, Z0, Z0
	CVT_Y5_Z4
	VMOVDQU      Y5, (DI)
	ADDQ         $64, SI
	ADDQ         $32, DI
	SUBQ         $16, CX
	JNZ          bf16exploop

bf16expdone:
	REDUCE16
	VMOVSS X0, ret+32(FP)
	VZEROUPPER
	RET

// func softmaxTileBF16AVX512(p *uint16, ldp int, s *float32, n, rows int, mul float32, rowMax, alpha, sums *float32)
//
// One online-softmax step over a tile of scores s [rows, n] that no key
// of is masked (n a positive multiple of 16), in two passes over the rows.
// Pass 1, per row i: m = the row's max (lane maxima in four chains, then
// a butterfly of VSHUFF32X4 and VPERMILPS swaps; lane 0 taken), then m =
// max(m, rowMax[i]); alpha[i] = 2^(rowMax[i]·mul - m·mul) (1 when m ==
// rowMax[i]) and rowMax[i] = m. Pass 2, per row: p[i·ldp + j] =
// bf16(2^(s·mul - m·mul)) and sums[i] = their float32 sum (16 lanes,
// REDUCE16), two vectors per step. softmaxTileBF16Go is its twin.
//
// Why two passes: a row's max, butterfly and alpha are a chain of
// dependent steps that its exponentials wait on; with the maxima of all
// rows first, the exponentials stream without it (a 128x256 tile,
// BenchmarkSoftmaxTileBF16, alternated runs: 5.6-5.8 µs in one pass,
// 5.1-5.2 unrolled without the clamp, 4.3-4.5 in two passes). The
// exponent s·mul - m·mul is never +Inf (m is the max: it is at most
// m·mul's rounding error above 0, or NaN), so EXP2POLY4_LE's missing
// upper clamp changes no bit.
TEXT ·softmaxTileBF16AVX512(SB), NOSPLIT, $0-72
	MOVQ         p+0(FP), DI
	MOVQ         ldp+8(FP), R13
	SHLQ         $1, R13
	MOVQ         s+16(FP), BX
	MOVQ         n+24(FP), R8
	MOVQ         rows+32(FP), R9
	VBROADCASTSS mul+40(FP), Z31
	MOVQ         rowMax+48(FP), R10
	MOVQ         alpha+56(FP), R11
	MOVQ         sums+64(FP), R12
	EXP2_CONSTS
	BCAST_CONST(0x3f800000, Z10) // 1

tilerow:
	// The row's max: four lane-maximum chains (vector j goes to chain
	// j mod 4, every chain starting from vector 0), combined, then a
	// butterfly gives every lane the max of all.
	VMOVUPS      (BX), Z6
	VMOVAPS      Z6, Z11
	VMOVAPS      Z6, Z12
	VMOVAPS      Z6, Z13
	LEAQ         64(BX), SI
	MOVQ         R8, CX
	SUBQ         $16, CX      // floats after vector 0
	CMPQ         CX, $64
	JLT          tilemaxtail

tilemax4:
	VMAXPS       (SI), Z11, Z11
	VMAXPS       64(SI), Z12, Z12
	VMAXPS       128(SI), Z13, Z13
	VMAXPS       192(SI), Z6, Z6
	ADDQ         $256, SI
	SUBQ         $64, CX
	CMPQ         CX, $64
	JGE          tilemax4

tilemaxtail:
	TESTQ        CX, CX
	JZ           tilemaxjoin
	VMAXPS       (SI), Z11, Z11
	SUBQ         $16, CX
	JZ           tilemaxjoin
	VMAXPS       64(SI), Z12, Z12
	SUBQ         $16, CX
	JZ           tilemaxjoin
	VMAXPS       128(SI), Z13, Z13

tilemaxjoin:
	VMAXPS       Z11, Z6, Z6
	VMAXPS       Z13, Z12, Z12
	VMAXPS       Z12, Z6, Z6

tilemaxdone:
	VSHUFF32X4   $0x4e, Z6, Z6, Z7
	VMAXPS       Z7, Z6, Z6
	VSHUFF32X4   $0xb1, Z6, Z6, Z7
	VMAXPS       Z7, Z6, Z6
	VPERMILPS    $0x4e, Z6, Z7
	VMAXPS       Z7, Z6, Z6
	VPERMILPS    $0xb1, Z6, Z7
	VMAXPS       Z7, Z6, Z6
	VBROADCASTSS (R10), Z8
	VMAXPS       Z8, Z6, Z6   // m
	VMULPS       Z31, Z6, Z9  // m·mul
	VMOVSS       X6, (R10)
	VMOVAPS      Z8, Z1
	VFMSUB213PS  Z9, Z31, Z1  // rowMax·mul - m·mul
	EXP2POLY4
	VCMPPS       $0, Z8, Z6, K1 // m == rowMax: alpha is 1 exactly
	VMOVAPS      Z10, K1, Z4
	VMOVSS       X4, (R11)
	MOVQ         R8, AX
	SHLQ         $2, AX
	ADDQ         AX, BX
	ADDQ         $4, R10
	ADDQ         $4, R11
	DECQ         R9
	JNZ          tilerow

	// Pass 2: each row's exponentials, their bf16 words and their sum.
	MOVQ         s+16(FP), BX
	MOVQ         rows+32(FP), R9
	MOVQ         rowMax+48(FP), R10

tileexprow:
	VBROADCASTSS (R10), Z9
	VMULPS       Z31, Z9, Z9  // m·mul
	VPXORD       Z0, Z0, Z0
	MOVQ         BX, SI
	MOVQ         DI, DX
	MOVQ         R8, CX

	CMPQ         CX, $32
	JLT          tileexp

tileexp2:
	VMOVUPS      (SI), Z1
	VMOVUPS      64(SI), Z11
	VFMSUB213PS  Z9, Z31, Z1  // s·mul - m·mul
	VFMSUB213PS  Z9, Z31, Z11
	EXP2POLY4_LE(Z1, Z2, Z3, Z4)
	EXP2POLY4_LE(Z11, Z12, Z13, Z14)
	VADDPS       Z4, Z0, Z0
	VADDPS       Z14, Z0, Z0
	CVT_Y5_Z4
	CVT_Y15_Z14
	VMOVDQU      Y5, (DX)
	VMOVDQU      Y15, 32(DX)
	ADDQ         $128, SI
	ADDQ         $64, DX
	SUBQ         $32, CX
	CMPQ         CX, $32
	JGE          tileexp2
	TESTQ        CX, CX
	JZ           tileexpdone

tileexp:
	VMOVUPS      (SI), Z1
	VFMSUB213PS  Z9, Z31, Z1  // s·mul - m·mul
	EXP2POLY4_LE(Z1, Z2, Z3, Z4)
	VADDPS       Z4, Z0, Z0
	CVT_Y5_Z4
	VMOVDQU      Y5, (DX)
	ADDQ         $64, SI
	ADDQ         $32, DX
	SUBQ         $16, CX
	JNZ          tileexp

tileexpdone:

	REDUCE16
	VMOVSS       X0, (R12)
	MOVQ         SI, BX
	ADDQ         R13, DI
	ADDQ         $4, R10
	ADDQ         $4, R12
	DECQ         R9
	JNZ          tileexprow
	VZEROUPPER
	RET
