//go:build amd64 && !purego

#include "textflag.h"

// y += alpha·x over float32 and bfloat16 x (AVX-512 and AVX2+FMA). n is a
// multiple of the vector width; the Go twins are in axpy.go.

// AXPY_ROWS_ARGS loads the arguments of the axpyRows kernels: y in DI,
// the weights in SI, the rows in DX, ld in bytes in R8, the count in CX.
#define AXPY_ROWS_ARGS \
	MOVQ y+0(FP), DI;  \
	MOVQ p+8(FP), SI;  \
	MOVQ x+16(FP), DX; \
	MOVQ ld+24(FP), R8; \
	SHLQ $2, R8;       \
	MOVQ n+32(FP), CX

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

// func axpyRows64AVX512(y, p, x *float32, ld, n int)
// y[0:64] += p[k]·x[k*ld : k*ld+64] for k < n in order, skipping p[k] = ±0:
// each step the fused multiply-add axpyAVX512 does, the sum kept in Z0-Z3.
TEXT ·axpyRows64AVX512(SB), NOSPLIT, $0-40
	AXPY_ROWS_ARGS
	VMOVUPS (DI), Z0
	VMOVUPS 64(DI), Z1
	VMOVUPS 128(DI), Z2
	VMOVUPS 192(DI), Z3
	TESTQ   CX, CX
	JZ      rows64done

rows64loop:
	MOVL         (SI), AX
	ANDL         $0x7fffffff, AX
	JZ           rows64skip
	VBROADCASTSS (SI), Z31
	VFMADD231PS  (DX), Z31, Z0
	VFMADD231PS  64(DX), Z31, Z1
	VFMADD231PS  128(DX), Z31, Z2
	VFMADD231PS  192(DX), Z31, Z3

rows64skip:
	ADDQ $4, SI
	ADDQ R8, DX
	DECQ CX
	JNZ  rows64loop

rows64done:
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	VZEROUPPER
	RET

// func axpyRows16AVX512(y, p, x *float32, ld, n int)
// axpyRows64AVX512 for 16 columns.
TEXT ·axpyRows16AVX512(SB), NOSPLIT, $0-40
	AXPY_ROWS_ARGS
	VMOVUPS (DI), Z0
	TESTQ   CX, CX
	JZ      rows16done

rows16loop:
	MOVL         (SI), AX
	ANDL         $0x7fffffff, AX
	JZ           rows16skip
	VBROADCASTSS (SI), Z31
	VFMADD231PS  (DX), Z31, Z0

rows16skip:
	ADDQ $4, SI
	ADDQ R8, DX
	DECQ CX
	JNZ  rows16loop

rows16done:
	VMOVUPS Z0, (DI)
	VZEROUPPER
	RET
