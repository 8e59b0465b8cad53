//go:build amd64 && !purego

#include "textflag.h"

// Packing weight rows into GEMM panels (AVX-512 transpose and widen). The
// Go twin is packWeights in pack.go; the wrapper is in kernels_amd64.go.

// T16_LOADS loads 16 rows of 16 values each (row i at base_i + off) into
// Z0-Z15 through the macro ld(mem, z).
#define T16_LOADS(ld, off) \
	ld(off(SI), Z0); \
	ld(off(SI)(R8*1), Z1); \
	ld(off(SI)(R8*2), Z2); \
	ld(off(SI)(R9*1), Z3); \
	ld(off(BX), Z4); \
	ld(off(BX)(R8*1), Z5); \
	ld(off(BX)(R8*2), Z6); \
	ld(off(BX)(R9*1), Z7); \
	ld(off(R10), Z8); \
	ld(off(R10)(R8*1), Z9); \
	ld(off(R10)(R8*2), Z10); \
	ld(off(R10)(R9*1), Z11); \
	ld(off(R11), Z12); \
	ld(off(R11)(R8*1), Z13); \
	ld(off(R11)(R8*2), Z14); \
	ld(off(R11)(R9*1), Z15)

// T16 transposes the 16x16 floats in Z0-Z15 (row i in Zi) into Z0-Z15
// (column c in Zc), using Z16-Z31.
#define T16 \
	VUNPCKLPS Z1, Z0, Z16; \
	VUNPCKHPS Z1, Z0, Z17; \
	VUNPCKLPS Z3, Z2, Z18; \
	VUNPCKHPS Z3, Z2, Z19; \
	VUNPCKLPS Z5, Z4, Z20; \
	VUNPCKHPS Z5, Z4, Z21; \
	VUNPCKLPS Z7, Z6, Z22; \
	VUNPCKHPS Z7, Z6, Z23; \
	VUNPCKLPS Z9, Z8, Z24; \
	VUNPCKHPS Z9, Z8, Z25; \
	VUNPCKLPS Z11, Z10, Z26; \
	VUNPCKHPS Z11, Z10, Z27; \
	VUNPCKLPS Z13, Z12, Z28; \
	VUNPCKHPS Z13, Z12, Z29; \
	VUNPCKLPS Z15, Z14, Z30; \
	VUNPCKHPS Z15, Z14, Z31; \
	VUNPCKLPD Z18, Z16, Z0; \
	VUNPCKHPD Z18, Z16, Z1; \
	VUNPCKLPD Z19, Z17, Z2; \
	VUNPCKHPD Z19, Z17, Z3; \
	VUNPCKLPD Z22, Z20, Z4; \
	VUNPCKHPD Z22, Z20, Z5; \
	VUNPCKLPD Z23, Z21, Z6; \
	VUNPCKHPD Z23, Z21, Z7; \
	VUNPCKLPD Z26, Z24, Z8; \
	VUNPCKHPD Z26, Z24, Z9; \
	VUNPCKLPD Z27, Z25, Z10; \
	VUNPCKHPD Z27, Z25, Z11; \
	VUNPCKLPD Z30, Z28, Z12; \
	VUNPCKHPD Z30, Z28, Z13; \
	VUNPCKLPD Z31, Z29, Z14; \
	VUNPCKHPD Z31, Z29, Z15; \
	VSHUFF32X4 $0x44, Z4, Z0, Z16; \
	VSHUFF32X4 $0xee, Z4, Z0, Z17; \
	VSHUFF32X4 $0x44, Z12, Z8, Z18; \
	VSHUFF32X4 $0xee, Z12, Z8, Z19; \
	VSHUFF32X4 $0x44, Z5, Z1, Z20; \
	VSHUFF32X4 $0xee, Z5, Z1, Z21; \
	VSHUFF32X4 $0x44, Z13, Z9, Z22; \
	VSHUFF32X4 $0xee, Z13, Z9, Z23; \
	VSHUFF32X4 $0x44, Z6, Z2, Z24; \
	VSHUFF32X4 $0xee, Z6, Z2, Z25; \
	VSHUFF32X4 $0x44, Z14, Z10, Z26; \
	VSHUFF32X4 $0xee, Z14, Z10, Z27; \
	VSHUFF32X4 $0x44, Z7, Z3, Z28; \
	VSHUFF32X4 $0xee, Z7, Z3, Z29; \
	VSHUFF32X4 $0x44, Z15, Z11, Z30; \
	VSHUFF32X4 $0xee, Z15, Z11, Z31; \
	VSHUFF32X4 $0x88, Z18, Z16, Z0; \
	VSHUFF32X4 $0xdd, Z18, Z16, Z4; \
	VSHUFF32X4 $0x88, Z19, Z17, Z8; \
	VSHUFF32X4 $0xdd, Z19, Z17, Z12; \
	VSHUFF32X4 $0x88, Z22, Z20, Z1; \
	VSHUFF32X4 $0xdd, Z22, Z20, Z5; \
	VSHUFF32X4 $0x88, Z23, Z21, Z9; \
	VSHUFF32X4 $0xdd, Z23, Z21, Z13; \
	VSHUFF32X4 $0x88, Z26, Z24, Z2; \
	VSHUFF32X4 $0xdd, Z26, Z24, Z6; \
	VSHUFF32X4 $0x88, Z27, Z25, Z10; \
	VSHUFF32X4 $0xdd, Z27, Z25, Z14; \
	VSHUFF32X4 $0x88, Z30, Z28, Z3; \
	VSHUFF32X4 $0xdd, Z30, Z28, Z7; \
	VSHUFF32X4 $0x88, Z31, Z29, Z11; \
	VSHUFF32X4 $0xdd, Z31, Z29, Z15

// T16_STORES writes Z0-Z15 to DI + i*128 (one [32]-float row of the panel
// per column of the block).
#define T16_STORES \
	VMOVUPS Z0, (DI); \
	VMOVUPS Z1, 128(DI); \
	VMOVUPS Z2, 256(DI); \
	VMOVUPS Z3, 384(DI); \
	VMOVUPS Z4, 512(DI); \
	VMOVUPS Z5, 640(DI); \
	VMOVUPS Z6, 768(DI); \
	VMOVUPS Z7, 896(DI); \
	VMOVUPS Z8, 1024(DI); \
	VMOVUPS Z9, 1152(DI); \
	VMOVUPS Z10, 1280(DI); \
	VMOVUPS Z11, 1408(DI); \
	VMOVUPS Z12, 1536(DI); \
	VMOVUPS Z13, 1664(DI); \
	VMOVUPS Z14, 1792(DI); \
	VMOVUPS Z15, 1920(DI)

#define LD_F32(mem, z) VMOVUPS mem, z
#define LD_BF16(mem, z) VPMOVZXWD mem, z; VPSLLD $16, z, z
#define LD_F16(mem, z) VCVTPH2PS mem, z

// PACK32 is the body of the pack32* functions: dst [kc][32] gets rows
// src[r*lds : r*lds+kc] for r < 32 as columns; kc is a multiple of 16;
// esz is the element size in bytes.
#define PACK32(ld, esz, lbl) \
	MOVQ dst+0(FP), DI; \
	MOVQ src+8(FP), DX; \
	MOVQ lds+16(FP), R8; \
	MOVQ kc+24(FP), CX; \
	IMULQ $esz, R8; \
	LEAQ (R8)(R8*2), R9; \
	SHRQ $4, CX; \
lbl: \
	MOVQ DX, SI; \
	LEAQ (SI)(R8*4), BX; \
	LEAQ (BX)(R8*4), R10; \
	LEAQ (R10)(R8*4), R11; \
	T16_LOADS(ld, 0); \
	T16; \
	T16_STORES; \
	LEAQ (R11)(R8*4), SI; \
	LEAQ (SI)(R8*4), BX; \
	LEAQ (BX)(R8*4), R10; \
	LEAQ (R10)(R8*4), R11; \
	ADDQ $64, DI; \
	T16_LOADS(ld, 0); \
	T16; \
	T16_STORES; \
	ADDQ $(2048-64), DI; \
	ADDQ $(16*esz), DX; \
	DECQ CX; \
	JNZ lbl; \
	VZEROUPPER; \
	RET

// func pack32F32AVX512(dst *float32, src *float32, lds, kc int)
TEXT ·pack32F32AVX512(SB), NOSPLIT, $0-32
	PACK32(LD_F32, 4, packf32loop)

// func pack32BF16AVX512(dst *float32, src *uint16, lds, kc int)
TEXT ·pack32BF16AVX512(SB), NOSPLIT, $0-32
	PACK32(LD_BF16, 2, packbf16loop)

// func pack32F16AVX512(dst *float32, src *uint16, lds, kc int)
TEXT ·pack32F16AVX512(SB), NOSPLIT, $0-32
	PACK32(LD_F16, 2, packf16loop)
