//go:build amd64 && !purego

#include "textflag.h"

// SiLU (AVX-512). n is a multiple of 16; the Go twin is siluGo in silu.go.

// func siluAVX512(x *float32, n int)
//
// x[i] = x[i] / (1 + e^-x[i]) for i < n (a multiple of 16), e^t by the
// Cephes expf of expShiftSumAVX512 with t clamped to [-120, 120] (beyond
// that the sigmoid is 0 or 1 in float32); NaN stays NaN.
TEXT ·siluAVX512(SB), NOSPLIT, $0-16
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	MOVL         $0x3fb8aa3b, AX // log2 e
	VPBROADCASTD AX, Z30
	MOVL         $0x3f318000, AX // ln2, high part
	VPBROADCASTD AX, Z29
	MOVL         $0xb95e8083, AX // ln2, low part
	VPBROADCASTD AX, Z28
	MOVL         $0x39506967, AX
	VPBROADCASTD AX, Z22
	MOVL         $0x3ab743ce, AX
	VPBROADCASTD AX, Z23
	MOVL         $0x3c088908, AX
	VPBROADCASTD AX, Z24
	MOVL         $0x3d2aa9c1, AX
	VPBROADCASTD AX, Z25
	MOVL         $0x3e2aaaaa, AX
	VPBROADCASTD AX, Z26
	MOVL         $0x3f000000, AX
	VPBROADCASTD AX, Z27
	MOVL         $0x3f800000, AX // 1
	VPBROADCASTD AX, Z21
	MOVL         $0xc2f00000, AX // -120
	VPBROADCASTD AX, Z20
	MOVL         $0x42f00000, AX // 120
	VPBROADCASTD AX, Z19
	MOVL         $0x80000000, AX // sign bit
	VPBROADCASTD AX, Z18

siluloop:
	VMOVUPS      (SI), Z0
	VPXORD       Z18, Z0, Z1   // t = -x
	VMAXPS       Z1, Z20, Z1
	VMINPS       Z1, Z19, Z1
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
	VADDPS       Z21, Z4, Z4
	VDIVPS       Z4, Z0, Z0
	VMOVUPS      Z0, (SI)
	ADDQ         $64, SI
	SUBQ         $16, CX
	JNZ          siluloop
	VZEROUPPER
	RET
