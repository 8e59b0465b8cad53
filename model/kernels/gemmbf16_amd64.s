//go:build amd64 && !purego

#include "textflag.h"
#include "zero_amd64.h"

// The bfloat16 dot-product GEMM micro-kernel (AVX512_BF16). The Go twin is
// gemmBF16KernelGo in gemmbf16.go.
//
// Go's assembler rejects VDPBF16PS, so each one used is spelled as its
// EVEX bytes: VDPBF16PS zmm dst, zmm w, zmm x (62 /F3 0F38 W0 52, register
// form). dst.fp32[j] += w.bf16[2j+1]·x.bf16[2j+1] + w.bf16[2j]·x.bf16[2j].

// DP0_LO: VDPBF16PS Z0, Z16, Z18; DP0_HI: VDPBF16PS Z1, Z17, Z18.
#define DP0_LO BYTE $0x62; BYTE $0xb2; BYTE $0x7e; BYTE $0x40; BYTE $0x52; BYTE $0xc2
#define DP0_HI BYTE $0x62; BYTE $0xb2; BYTE $0x76; BYTE $0x40; BYTE $0x52; BYTE $0xca
// DP1_LO: VDPBF16PS Z2, Z16, Z19; DP1_HI: VDPBF16PS Z3, Z17, Z19.
#define DP1_LO BYTE $0x62; BYTE $0xb2; BYTE $0x7e; BYTE $0x40; BYTE $0x52; BYTE $0xd3
#define DP1_HI BYTE $0x62; BYTE $0xb2; BYTE $0x76; BYTE $0x40; BYTE $0x52; BYTE $0xdb
// DP2_LO: VDPBF16PS Z4, Z16, Z20; DP2_HI: VDPBF16PS Z5, Z17, Z20.
#define DP2_LO BYTE $0x62; BYTE $0xb2; BYTE $0x7e; BYTE $0x40; BYTE $0x52; BYTE $0xe4
#define DP2_HI BYTE $0x62; BYTE $0xb2; BYTE $0x76; BYTE $0x40; BYTE $0x52; BYTE $0xec
// DP3_LO: VDPBF16PS Z6, Z16, Z21; DP3_HI: VDPBF16PS Z7, Z17, Z21.
#define DP3_LO BYTE $0x62; BYTE $0xb2; BYTE $0x7e; BYTE $0x40; BYTE $0x52; BYTE $0xf5
#define DP3_HI BYTE $0x62; BYTE $0xb2; BYTE $0x76; BYTE $0x40; BYTE $0x52; BYTE $0xfd
// DP4_LO: VDPBF16PS Z8, Z16, Z22; DP4_HI: VDPBF16PS Z9, Z17, Z22.
#define DP4_LO BYTE $0x62; BYTE $0x32; BYTE $0x7e; BYTE $0x40; BYTE $0x52; BYTE $0xc6
#define DP4_HI BYTE $0x62; BYTE $0x32; BYTE $0x76; BYTE $0x40; BYTE $0x52; BYTE $0xce
// DP5_LO: VDPBF16PS Z10, Z16, Z23; DP5_HI: VDPBF16PS Z11, Z17, Z23.
#define DP5_LO BYTE $0x62; BYTE $0x32; BYTE $0x7e; BYTE $0x40; BYTE $0x52; BYTE $0xd7
#define DP5_HI BYTE $0x62; BYTE $0x32; BYTE $0x76; BYTE $0x40; BYTE $0x52; BYTE $0xdf
// DP6_LO: VDPBF16PS Z12, Z16, Z24; DP6_HI: VDPBF16PS Z13, Z17, Z24.
#define DP6_LO BYTE $0x62; BYTE $0x12; BYTE $0x7e; BYTE $0x40; BYTE $0x52; BYTE $0xe0
#define DP6_HI BYTE $0x62; BYTE $0x12; BYTE $0x76; BYTE $0x40; BYTE $0x52; BYTE $0xe8
// DP7_LO: VDPBF16PS Z14, Z16, Z25; DP7_HI: VDPBF16PS Z15, Z17, Z25.
#define DP7_LO BYTE $0x62; BYTE $0x12; BYTE $0x7e; BYTE $0x40; BYTE $0x52; BYTE $0xf1
#define DP7_HI BYTE $0x62; BYTE $0x12; BYTE $0x76; BYTE $0x40; BYTE $0x52; BYTE $0xf9

// STORE8x32 writes (or adds into) one output row of the tile and steps DI
// by R8 to the next row.
#define STORE8x32(lo, hi) \
	TESTB   AX, AX; \
	JZ      3(PC); \
	VADDPS  (DI), lo, lo; \
	VADDPS  64(DI), hi, hi; \
	VMOVUPS lo, (DI); \
	VMOVUPS hi, 64(DI); \
	ADDQ    R8, DI

// STEP_8X32 adds one k pair of 8 rows (SI, BX: rows 0 and 4, R8 the row
// stride, R9 three of them) times the panel's 32 columns (DX) to the
// accumulators and steps SI, BX and DX to the next pair.
#define STEP_8X32 \
	VMOVDQU16    (DX), Z16; \
	VMOVDQU16    64(DX), Z17; \
	VBROADCASTSS (SI), Z18; \
	VBROADCASTSS (SI)(R8*1), Z19; \
	VBROADCASTSS (SI)(R8*2), Z20; \
	VBROADCASTSS (SI)(R9*1), Z21; \
	VBROADCASTSS (BX), Z22; \
	VBROADCASTSS (BX)(R8*1), Z23; \
	VBROADCASTSS (BX)(R8*2), Z24; \
	VBROADCASTSS (BX)(R9*1), Z25; \
	DP0_LO; \
	DP0_HI; \
	DP1_LO; \
	DP1_HI; \
	DP2_LO; \
	DP2_HI; \
	DP3_LO; \
	DP3_HI; \
	DP4_LO; \
	DP4_HI; \
	DP5_LO; \
	DP5_HI; \
	DP6_LO; \
	DP6_HI; \
	DP7_LO; \
	DP7_HI; \
	ADDQ         $4, SI; \
	ADDQ         $4, BX; \
	ADDQ         $128, DX

// STORE_TILE writes (or, with AX set, adds) the 8x32 tile to DI, rows R8
// bytes apart.
#define STORE_TILE \
	STORE8x32(Z0, Z1); \
	STORE8x32(Z2, Z3); \
	STORE8x32(Z4, Z5); \
	STORE8x32(Z6, Z7); \
	STORE8x32(Z8, Z9); \
	STORE8x32(Z10, Z11); \
	STORE8x32(Z12, Z13); \
	STORE8x32(Z14, Z15)

// func gemm8x32BF16PanelsAVX512(kp int, x *uint16, ldx int, w *uint16, wstep int, c *float32, ldc int, panels int, accumulate bool)
//
// For each panel i < panels: c[i, j] (+)= Σ_p (x[i, 2p+1]·w[p, j, 1] +
// x[i, 2p]·w[p, j, 0]) for i < 8, j < 32, p < kp, with panel i's block
// at w + i·wstep words and its tile at c + 32·i floats. x is 8 rows of
// bf16 activations (row stride ldx words), a packed panel block is
// [kp][32][2] bf16 words (k pairs of each column). The sum over p is
// formed in the accumulators first, then stored or added to c.
// Accumulators: row i in Z(2i), Z(2i+1). One call covers every panel of
// attention's many short products; the GEMM calls it with one panel.
TEXT ·gemm8x32BF16PanelsAVX512(SB), NOSPLIT, $0-65
	MOVQ    panels+56(FP), R10
	MOVQ    w+24(FP), R11
	MOVQ    c+40(FP), R13
	MOVBLZX accumulate+64(FP), AX
	TESTQ   R10, R10
	JZ      panelsdone

panelsnext:
	MOVQ  kp+0(FP), CX
	MOVQ  x+8(FP), SI
	MOVQ  ldx+16(FP), R8
	SHLQ  $1, R8
	LEAQ  (R8)(R8*2), R9
	LEAQ  (SI)(R8*4), BX
	MOVQ  R11, DX
	ZERO_Z0_Z15
	TESTQ CX, CX
	JZ    panelsstore

panelsloop:
	STEP_8X32
	DECQ CX
	JNZ  panelsloop

panelsstore:
	MOVQ R13, DI
	MOVQ ldc+48(FP), R8
	SHLQ $2, R8
	STORE_TILE
	MOVQ wstep+32(FP), R12
	SHLQ $1, R12
	ADDQ R12, R11
	ADDQ $128, R13
	DECQ R10
	JNZ  panelsnext

panelsdone:
	VZEROUPPER
	RET

// func gemm1x32BF16AVX512(kp int, x *uint16, w *uint16, c *float32, accumulate bool)
//
// Row 0 of one gemm8x32BF16PanelsAVX512 tile alone, with the same
// arithmetic (the GEMV path of bf16 compute: one token against each
// packed panel).
TEXT ·gemm1x32BF16AVX512(SB), NOSPLIT, $0-33
	MOVQ   kp+0(FP), CX
	MOVQ   x+8(FP), SI
	MOVQ   w+16(FP), DX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	TESTQ  CX, CX
	JZ     bf16onestore

bf16oneloop:
	VMOVDQU16    (DX), Z16
	VMOVDQU16    64(DX), Z17
	VBROADCASTSS (SI), Z18
	DP0_LO
	DP0_HI
	ADDQ         $4, SI
	ADDQ         $128, DX
	DECQ         CX
	JNZ          bf16oneloop

bf16onestore:
	MOVQ    c+24(FP), DI
	MOVBLZX accumulate+32(FP), AX
	STORE8x32(Z0, Z1)
	VZEROUPPER
	RET

// CVT_Z2_Z1_Z0 is VCVTNE2PS2BF16 Z2, Z1, Z0 (62 /F2 0F38 W0 72): Z2's low
// 16 words are Z0 rounded to bf16 (nearest even), its high 16 words Z1.
#define CVT_Z2_Z1_Z0 BYTE $0x62; BYTE $0xf2; BYTE $0x77; BYTE $0x48; BYTE $0x72; BYTE $0xd0

// func roundBF16AVX512(dst *uint16, src *float32, n int)
//
// dst[i] = bf16(src[i]) for i < n, a multiple of 32.
TEXT ·roundBF16AVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $5, CX
	JZ   rounddone

roundloop:
	VMOVUPS   (SI), Z0
	VMOVUPS   64(SI), Z1
	CVT_Z2_Z1_Z0
	VMOVDQU16 Z2, (DI)
	ADDQ      $128, SI
	ADDQ      $64, DI
	DECQ      CX
	JNZ       roundloop

rounddone:
	VZEROUPPER
	RET
