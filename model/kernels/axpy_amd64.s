//go:build amd64 && !purego

#include "textflag.h"

// y += alpha·x over float32 and bfloat16 x (AVX-512 and AVX2+FMA). n is a
// multiple of the vector width; the Go twins are in axpy.go.

// WIDEN_BF16_Z loads 16 bfloat16 words at mem and widens them into zmm z.
#define WIDEN_BF16_Z(mem, z) \
	VPMOVZXWD mem, z; \
	VPSLLD    $16, z, z

// func axpyAVX512(alpha float32, x, y *float32, n int)
TEXT ·axpyAVX512(SB), NOSPLIT, $0-32
	VBROADCASTSS alpha+0(FP), Z31
	MOVQ         x+8(FP), SI
	MOVQ         y+16(FP), DI
	MOVQ         n+24(FP), CX
	TESTQ        CX, CX
	JZ           axpy512done

axpy512loop:
	VMOVUPS     (SI), Z0
	VFMADD213PS (DI), Z31, Z0
	VMOVUPS     Z0, (DI)
	ADDQ        $64, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JNZ         axpy512loop

axpy512done:
	VZEROUPPER
	RET

// func axpyBF16AVX512(alpha float32, x *uint16, y *float32, n int)
TEXT ·axpyBF16AVX512(SB), NOSPLIT, $0-32
	VBROADCASTSS alpha+0(FP), Z31
	MOVQ         x+8(FP), SI
	MOVQ         y+16(FP), DI
	MOVQ         n+24(FP), CX
	TESTQ        CX, CX
	JZ           axpybf512done

axpybf512loop:
	WIDEN_BF16_Z((SI), Z0)
	VFMADD213PS (DI), Z31, Z0
	VMOVUPS     Z0, (DI)
	ADDQ        $32, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JNZ         axpybf512loop

axpybf512done:
	VZEROUPPER
	RET

// WIDEN_BF16_Y loads 8 bfloat16 words at mem and widens them into ymm y.
#define WIDEN_BF16_Y(mem, y) \
	VPMOVZXWD mem, y; \
	VPSLLD    $16, y, y

// func axpyAVX2(alpha float32, x, y *float32, n int)
TEXT ·axpyAVX2(SB), NOSPLIT, $0-32
	VBROADCASTSS alpha+0(FP), Y15
	MOVQ         x+8(FP), SI
	MOVQ         y+16(FP), DI
	MOVQ         n+24(FP), CX
	TESTQ        CX, CX
	JZ           axpy2done

axpy2loop:
	VMOVUPS     (SI), Y0
	VFMADD213PS (DI), Y15, Y0
	VMOVUPS     Y0, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JNZ         axpy2loop

axpy2done:
	VZEROUPPER
	RET

// func axpyBF16AVX2(alpha float32, x *uint16, y *float32, n int)
TEXT ·axpyBF16AVX2(SB), NOSPLIT, $0-32
	VBROADCASTSS alpha+0(FP), Y15
	MOVQ         x+8(FP), SI
	MOVQ         y+16(FP), DI
	MOVQ         n+24(FP), CX
	TESTQ        CX, CX
	JZ           axpybf2done

axpybf2loop:
	WIDEN_BF16_Y((SI), Y0)
	VFMADD213PS (DI), Y15, Y0
	VMOVUPS     Y0, (DI)
	ADDQ        $16, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JNZ         axpybf2loop

axpybf2done:
	VZEROUPPER
	RET
