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

// AXPY_ROWS64X4_ARGS loads the arguments of the axpyRows64x4 kernels as
// AXPY_ROWS64X4 takes them; shift turns ld into bytes (2 for float32
// rows, 1 for bf16).
#define AXPY_ROWS64X4_ARGS(shift) \
	MOVQ y+0(FP), DI; \
	MOVQ ldy+8(FP), R9; \
	SHLQ $2, R9; \
	MOVQ p+16(FP), SI; \
	MOVQ ldp+24(FP), R10; \
	SHLQ $2, R10; \
	MOVQ x+32(FP), DX; \
	MOVQ ld+40(FP), R8; \
	SHLQ shift, R8; \
	MOVQ n+48(FP), CX

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

// AXPY_ROWS64X4 is the body of axpyRows64x4AVX512 and its bf16 twin,
// after their arguments are loaded (y in DI, ldy in bytes in R9, p in SI,
// ldp in bytes in R10, x in DX, ld in bytes in R8, n in CX): LOAD4 loads
// the current row of x (at DX) as four 16-column vectors into Z21-Z24. A row of y skips a key whose
// weight is ±0 (VCMPPS predicate 4, NEQ_UQ: true for NaN). Its labels
// are local to the one function that expands it.
#define AXPY_ROWS64X4(LOAD4) \
	LEAQ (DI)(R9*1), R11; \
	LEAQ (DI)(R9*2), R12; \
	LEAQ (R12)(R9*1), R13; \
	LEAQ (R10)(R10*2), R14; \
	VMOVUPS (DI), Z0; \
	VMOVUPS 64(DI), Z1; \
	VMOVUPS 128(DI), Z2; \
	VMOVUPS 192(DI), Z3; \
	VMOVUPS (R11), Z4; \
	VMOVUPS 64(R11), Z5; \
	VMOVUPS 128(R11), Z6; \
	VMOVUPS 192(R11), Z7; \
	VMOVUPS (R12), Z8; \
	VMOVUPS 64(R12), Z9; \
	VMOVUPS 128(R12), Z10; \
	VMOVUPS 192(R12), Z11; \
	VMOVUPS (R13), Z12; \
	VMOVUPS 64(R13), Z13; \
	VMOVUPS 128(R13), Z14; \
	VMOVUPS 192(R13), Z15; \
	VPXORD  Z20, Z20, Z20; \
	TESTQ   CX, CX; \
	JZ      rows64x4done; \
rows64x4loop: \
	LOAD4; \
	VBROADCASTSS (SI), Z16; \
	VBROADCASTSS (SI)(R10*1), Z17; \
	VBROADCASTSS (SI)(R10*2), Z18; \
	VBROADCASTSS (SI)(R14*1), Z19; \
	VCMPPS       $4, Z20, Z16, K1; \
	VCMPPS       $4, Z20, Z17, K2; \
	VCMPPS       $4, Z20, Z18, K3; \
	VCMPPS       $4, Z20, Z19, K4; \
	VFMADD231PS  Z21, Z16, K1, Z0; \
	VFMADD231PS  Z22, Z16, K1, Z1; \
	VFMADD231PS  Z23, Z16, K1, Z2; \
	VFMADD231PS  Z24, Z16, K1, Z3; \
	VFMADD231PS  Z21, Z17, K2, Z4; \
	VFMADD231PS  Z22, Z17, K2, Z5; \
	VFMADD231PS  Z23, Z17, K2, Z6; \
	VFMADD231PS  Z24, Z17, K2, Z7; \
	VFMADD231PS  Z21, Z18, K3, Z8; \
	VFMADD231PS  Z22, Z18, K3, Z9; \
	VFMADD231PS  Z23, Z18, K3, Z10; \
	VFMADD231PS  Z24, Z18, K3, Z11; \
	VFMADD231PS  Z21, Z19, K4, Z12; \
	VFMADD231PS  Z22, Z19, K4, Z13; \
	VFMADD231PS  Z23, Z19, K4, Z14; \
	VFMADD231PS  Z24, Z19, K4, Z15; \
	ADDQ         $4, SI; \
	ADDQ         R8, DX; \
	DECQ         CX; \
	JNZ          rows64x4loop; \
rows64x4done: \
	VMOVUPS Z0, (DI); \
	VMOVUPS Z1, 64(DI); \
	VMOVUPS Z2, 128(DI); \
	VMOVUPS Z3, 192(DI); \
	VMOVUPS Z4, (R11); \
	VMOVUPS Z5, 64(R11); \
	VMOVUPS Z6, 128(R11); \
	VMOVUPS Z7, 192(R11); \
	VMOVUPS Z8, (R12); \
	VMOVUPS Z9, 64(R12); \
	VMOVUPS Z10, 128(R12); \
	VMOVUPS Z11, 192(R12); \
	VMOVUPS Z12, (R13); \
	VMOVUPS Z13, 64(R13); \
	VMOVUPS Z14, 128(R13); \
	VMOVUPS Z15, 192(R13); \
	VZEROUPPER; \
	RET

// LOAD4_F32 and LOAD4_BF16 are AXPY_ROWS64X4's loads of a float32 and a
// bfloat16 row.
#define LOAD4_F32 \
	VMOVUPS (DX), Z21; \
	VMOVUPS 64(DX), Z22; \
	VMOVUPS 128(DX), Z23; \
	VMOVUPS 192(DX), Z24

#define LOAD4_BF16 \
	WIDEN_BF16_Z((DX), Z21); \
	WIDEN_BF16_Z(32(DX), Z22); \
	WIDEN_BF16_Z(64(DX), Z23); \
	WIDEN_BF16_Z(96(DX), Z24)

// func axpyRows64x4AVX512(y *float32, ldy int, p *float32, ldp int, x *float32, ld int, n int)
//
// axpyRows64AVX512 for 4 rows of y at once (ldy floats apart), each with
// its own weights (ldp floats apart), reading each row of x once for the
// four: y[j][c] += p[j][k]·x[k][c] for c < 64, k < n, in order of k, a
// row's update skipped (merge-masked) where its weight is ±0. Every
// element's chain of multiply-adds is the one-row kernel's, so the bits
// are too; the four rows' sixteen independent chains keep the FMA units
// busy where one row's four wait on each other's latency.
TEXT ·axpyRows64x4AVX512(SB), NOSPLIT, $0-56
	AXPY_ROWS64X4_ARGS($2)
	AXPY_ROWS64X4(LOAD4_F32)

// func axpyRows64x4BF16AVX512(y *float32, ldy int, p *float32, ldp int, x *uint16, ld int, n int)
//
// axpyRows64x4AVX512 over bfloat16 rows of x (ld words apart), each row
// widened once for the four rows of y: y[j][c] += p[j][k]·x[k][c] by one
// multiply-add per key, as axpyBF16AVX512 does for one row (the same
// product and sum, so the same bits for finite values; which of two NaN
// operands' payloads a sum keeps may differ, and a non-finite hidden
// state stops the forward pass anyway).
TEXT ·axpyRows64x4BF16AVX512(SB), NOSPLIT, $0-56
	AXPY_ROWS64X4_ARGS($1)
	AXPY_ROWS64X4(LOAD4_BF16)
