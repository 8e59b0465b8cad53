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

// func expShiftSumBF16AVX512(p *uint16, x *float32, n int, mul, add float32) float32
//
// p[i] = bf16(2^t), t = x[i]·mul + add, for i < n (a multiple of 16);
// returns Σ 2^t in float32 (AVX512_BF16). 2^t = 2^n·q(t - n), n = round(t)
// after a clamp to [-160, 129], q the degree-4 polynomial of ExpShiftSumBF16
// (softmaxbf16.go, whose Go twin repeats these operations in this order).
// VMAXPS and VMINPS return their second source, t, when t is NaN.
TEXT ·expShiftSumBF16AVX512(SB), NOSPLIT, $0-36
	MOVQ         p+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS mul+24(FP), Z31
	VBROADCASTSS add+28(FP), Z30
	BCAST_CONST(0xc3200000, Z29) // -160
	BCAST_CONST(0x43010000, Z23) // 129
	BCAST_CONST(0x3f7ffff4, Z24) // q's coefficients, constant term first
	BCAST_CONST(0x3f31706e, Z25)
	BCAST_CONST(0x3e76036d, Z26)
	BCAST_CONST(0x3d650a20, Z27)
	BCAST_CONST(0x3c1ccbeb, Z28)
	VPXORD       Z0, Z0, Z0
	TESTQ        CX, CX
	JZ           bf16expdone

bf16exploop:
	VMOVUPS      (SI), Z1
	VFMADD213PS  Z30, Z31, Z1 // t = x·mul + add
	VMAXPS       Z1, Z29, Z1
	VMINPS       Z1, Z23, Z1
	VRNDSCALEPS  $0, Z1, Z2   // n
	VSUBPS       Z2, Z1, Z3   // f = t - n
	VMOVAPS      Z28, Z4
	VFMADD213PS  Z27, Z3, Z4
	VFMADD213PS  Z26, Z3, Z4
	VFMADD213PS  Z25, Z3, Z4
	VFMADD213PS  Z24, Z3, Z4
	VSCALEFPS    Z2, Z4, Z4   // q·2^n
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
