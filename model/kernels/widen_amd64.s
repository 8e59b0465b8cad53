//go:build amd64 && !purego

#include "textflag.h"

// Widening bfloat16 and float16 words to float32 (AVX-512 and AVX2+F16C).
// n is a multiple of the vector width; the Go twins are in widen.go.

// WIDEN_BF16_Z loads 16 bfloat16 words at mem and widens them into zmm z.
#define WIDEN_BF16_Z(mem, z) \
	VPMOVZXWD mem, z; \
	VPSLLD    $16, z, z

// func widenBF16AVX512(dst *float32, src *uint16, n int)
TEXT ·widenBF16AVX512(SB), NOSPLIT, $0-24
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  n+16(FP), CX
	TESTQ CX, CX
	JZ    widenbf512done

widenbf512loop:
	WIDEN_BF16_Z((SI), Z0)
	VMOVUPS Z0, (DI)
	ADDQ    $32, SI
	ADDQ    $64, DI
	SUBQ    $16, CX
	JNZ     widenbf512loop

widenbf512done:
	VZEROUPPER
	RET

// func widenF16AVX512(dst *float32, src *uint16, n int)
TEXT ·widenF16AVX512(SB), NOSPLIT, $0-24
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  n+16(FP), CX
	TESTQ CX, CX
	JZ    widenh512done

widenh512loop:
	VCVTPH2PS (SI), Z0
	VMOVUPS   Z0, (DI)
	ADDQ      $32, SI
	ADDQ      $64, DI
	SUBQ      $16, CX
	JNZ       widenh512loop

widenh512done:
	VZEROUPPER
	RET

// WIDEN_BF16_Y loads 8 bfloat16 words at mem and widens them into ymm y.
#define WIDEN_BF16_Y(mem, y) \
	VPMOVZXWD mem, y; \
	VPSLLD    $16, y, y

// func widenBF16AVX2(dst *float32, src *uint16, n int)
TEXT ·widenBF16AVX2(SB), NOSPLIT, $0-24
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  n+16(FP), CX
	TESTQ CX, CX
	JZ    widenbf2done

widenbf2loop:
	WIDEN_BF16_Y((SI), Y0)
	VMOVUPS Y0, (DI)
	ADDQ    $16, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     widenbf2loop

widenbf2done:
	VZEROUPPER
	RET

// func widenF16AVX2(dst *float32, src *uint16, n int)
TEXT ·widenF16AVX2(SB), NOSPLIT, $0-24
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  n+16(FP), CX
	TESTQ CX, CX
	JZ    widenh2done

widenh2loop:
	VCVTPH2PS (SI), Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DI
	SUBQ      $8, CX
	JNZ       widenh2loop

widenh2done:
	VZEROUPPER
	RET
