//go:build amd64 && !purego

#include "textflag.h"

// Every loop here covers a multiple of the vector width (16 floats for
// AVX-512, 8 for AVX2); the Go wrappers in kernels_amd64.go check bounds
// and finish ragged tails.

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

// REDUCE8 sums the 8 lanes of Y0 into the low lane of X0.
#define REDUCE8 \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS       X1, X0, X0; \
	VPERMILPS    $0x4e, X0, X1; \
	VADDPS       X1, X0, X0; \
	VPERMILPS    $0xb1, X0, X1; \
	VADDPS       X1, X0, X0

// func dotAVX512(a, b *float32, n int) float32
TEXT ·dotAVX512(SB), NOSPLIT, $0-28
	MOVQ   a+0(FP), SI
	MOVQ   b+8(FP), DI
	MOVQ   n+16(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	CMPQ   CX, $64
	JB     dot512tail

dot512loop:
	VMOVUPS     (SI), Z4
	VMOVUPS     64(SI), Z5
	VMOVUPS     128(SI), Z6
	VMOVUPS     192(SI), Z7
	VFMADD231PS (DI), Z4, Z0
	VFMADD231PS 64(DI), Z5, Z1
	VFMADD231PS 128(DI), Z6, Z2
	VFMADD231PS 192(DI), Z7, Z3
	ADDQ        $256, SI
	ADDQ        $256, DI
	SUBQ        $64, CX
	CMPQ        CX, $64
	JAE         dot512loop

dot512tail:
	TESTQ CX, CX
	JZ    dot512done

dot512loop16:
	VMOVUPS     (SI), Z4
	VFMADD231PS (DI), Z4, Z0
	ADDQ        $64, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JNZ         dot512loop16

dot512done:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	REDUCE16
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// WIDEN_BF16_Z loads 16 bfloat16 words at mem and widens them into zmm z.
#define WIDEN_BF16_Z(mem, z) \
	VPMOVZXWD mem, z; \
	VPSLLD    $16, z, z

// func dotBF16AVX512(a *float32, b *uint16, n int) float32
TEXT ·dotBF16AVX512(SB), NOSPLIT, $0-28
	MOVQ   a+0(FP), SI
	MOVQ   b+8(FP), DI
	MOVQ   n+16(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	CMPQ   CX, $64
	JB     dotbf512tail

dotbf512loop:
	WIDEN_BF16_Z((DI), Z4)
	WIDEN_BF16_Z(32(DI), Z5)
	WIDEN_BF16_Z(64(DI), Z6)
	WIDEN_BF16_Z(96(DI), Z7)
	VFMADD231PS (SI), Z4, Z0
	VFMADD231PS 64(SI), Z5, Z1
	VFMADD231PS 128(SI), Z6, Z2
	VFMADD231PS 192(SI), Z7, Z3
	ADDQ        $256, SI
	ADDQ        $128, DI
	SUBQ        $64, CX
	CMPQ        CX, $64
	JAE         dotbf512loop

dotbf512tail:
	TESTQ CX, CX
	JZ    dotbf512done

dotbf512loop16:
	WIDEN_BF16_Z((DI), Z4)
	VFMADD231PS (SI), Z4, Z0
	ADDQ        $64, SI
	ADDQ        $32, DI
	SUBQ        $16, CX
	JNZ         dotbf512loop16

dotbf512done:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	REDUCE16
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func dotF16AVX512(a *float32, b *uint16, n int) float32
TEXT ·dotF16AVX512(SB), NOSPLIT, $0-28
	MOVQ   a+0(FP), SI
	MOVQ   b+8(FP), DI
	MOVQ   n+16(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	CMPQ   CX, $64
	JB     doth512tail

doth512loop:
	VCVTPH2PS   (DI), Z4
	VCVTPH2PS   32(DI), Z5
	VCVTPH2PS   64(DI), Z6
	VCVTPH2PS   96(DI), Z7
	VFMADD231PS (SI), Z4, Z0
	VFMADD231PS 64(SI), Z5, Z1
	VFMADD231PS 128(SI), Z6, Z2
	VFMADD231PS 192(SI), Z7, Z3
	ADDQ        $256, SI
	ADDQ        $128, DI
	SUBQ        $64, CX
	CMPQ        CX, $64
	JAE         doth512loop

doth512tail:
	TESTQ CX, CX
	JZ    doth512done

doth512loop16:
	VCVTPH2PS   (DI), Z4
	VFMADD231PS (SI), Z4, Z0
	ADDQ        $64, SI
	ADDQ        $32, DI
	SUBQ        $16, CX
	JNZ         doth512loop16

doth512done:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	REDUCE16
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

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

// ROW8x32 accumulates one k step of one activation row: broadcast x, times
// the two weight vectors Z16 (columns 0-15) and Z17 (16-31).
#define ROW8x32(mem, b, lo, hi) \
	VBROADCASTSS mem, b; \
	VFMADD231PS  Z16, b, lo; \
	VFMADD231PS  Z17, b, hi

// STORE8x32 writes (or adds into) one output row of the tile and steps DI
// to the next row.
#define STORE8x32(lo, hi) \
	TESTB   AX, AX; \
	JZ      3(PC); \
	VADDPS  (DI), lo, lo; \
	VADDPS  64(DI), hi, hi; \
	VMOVUPS lo, (DI); \
	VMOVUPS hi, 64(DI); \
	ADDQ    R8, DI

// func gemm8x32AVX512(kc int, x *float32, ldx int, w *float32, c *float32, ldc int, accumulate bool)
//
// c[i, j] (+)= Σ_kk x[i*ldx+kk] · w[kk*32+j] for i < 8, j < 32: the packed
// weight panel w is [kc][32], x is 8 rows of the activations in place.
// Accumulators: row i in Z(2i), Z(2i+1).
TEXT ·gemm8x32AVX512(SB), NOSPLIT, $0-49
	MOVQ   kc+0(FP), CX
	MOVQ   x+8(FP), SI
	MOVQ   ldx+16(FP), R8
	SHLQ   $2, R8
	LEAQ   (R8)(R8*2), R9
	LEAQ   (SI)(R8*4), BX
	MOVQ   w+24(FP), DX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	TESTQ  CX, CX
	JZ     gemm512store

gemm512loop:
	VMOVUPS (DX), Z16
	VMOVUPS 64(DX), Z17
	ROW8x32((SI), Z18, Z0, Z1)
	ROW8x32((SI)(R8*1), Z19, Z2, Z3)
	ROW8x32((SI)(R8*2), Z20, Z4, Z5)
	ROW8x32((SI)(R9*1), Z21, Z6, Z7)
	ROW8x32((BX), Z22, Z8, Z9)
	ROW8x32((BX)(R8*1), Z23, Z10, Z11)
	ROW8x32((BX)(R8*2), Z24, Z12, Z13)
	ROW8x32((BX)(R9*1), Z25, Z14, Z15)
	ADDQ    $4, SI
	ADDQ    $4, BX
	ADDQ    $128, DX
	DECQ    CX
	JNZ     gemm512loop

gemm512store:
	MOVQ    c+32(FP), DI
	MOVQ    ldc+40(FP), R8
	SHLQ    $2, R8
	MOVBLZX accumulate+48(FP), AX
	STORE8x32(Z0, Z1)
	STORE8x32(Z2, Z3)
	STORE8x32(Z4, Z5)
	STORE8x32(Z6, Z7)
	STORE8x32(Z8, Z9)
	STORE8x32(Z10, Z11)
	STORE8x32(Z12, Z13)
	STORE8x32(Z14, Z15)
	VZEROUPPER
	RET

// func fmaLoopAVX512(iters int)
// 12 independent ZMM FMA chains per iteration: 12 x 32 = 384 FLOPs.
TEXT ·fmaLoopAVX512(SB), NOSPLIT, $0-8
	MOVQ   iters+0(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	TESTQ  CX, CX
	JZ     fma512done

fma512loop:
	VFMADD231PS Z12, Z13, Z0
	VFMADD231PS Z12, Z13, Z1
	VFMADD231PS Z12, Z13, Z2
	VFMADD231PS Z12, Z13, Z3
	VFMADD231PS Z12, Z13, Z4
	VFMADD231PS Z12, Z13, Z5
	VFMADD231PS Z12, Z13, Z6
	VFMADD231PS Z12, Z13, Z7
	VFMADD231PS Z12, Z13, Z8
	VFMADD231PS Z12, Z13, Z9
	VFMADD231PS Z12, Z13, Z10
	VFMADD231PS Z12, Z13, Z11
	DECQ        CX
	JNZ         fma512loop

fma512done:
	VZEROUPPER
	RET

// ---- AVX2 + FMA (+ F16C) ----

// func dotAVX2(a, b *float32, n int) float32
TEXT ·dotAVX2(SB), NOSPLIT, $0-28
	MOVQ   a+0(FP), SI
	MOVQ   b+8(FP), DI
	MOVQ   n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	CMPQ   CX, $32
	JB     dot2tail

dot2loop:
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	CMPQ        CX, $32
	JAE         dot2loop

dot2tail:
	TESTQ CX, CX
	JZ    dot2done

dot2loop8:
	VMOVUPS     (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JNZ         dot2loop8

dot2done:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	REDUCE8
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// WIDEN_BF16_Y loads 8 bfloat16 words at mem and widens them into ymm y.
#define WIDEN_BF16_Y(mem, y) \
	VPMOVZXWD mem, y; \
	VPSLLD    $16, y, y

// func dotBF16AVX2(a *float32, b *uint16, n int) float32
TEXT ·dotBF16AVX2(SB), NOSPLIT, $0-28
	MOVQ   a+0(FP), SI
	MOVQ   b+8(FP), DI
	MOVQ   n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	TESTQ  CX, CX
	JZ     dotbf2done
	CMPQ   CX, $16
	JB     dotbf2loop8

dotbf2loop:
	WIDEN_BF16_Y((DI), Y4)
	WIDEN_BF16_Y(16(DI), Y5)
	VFMADD231PS (SI), Y4, Y0
	VFMADD231PS 32(SI), Y5, Y1
	ADDQ        $64, SI
	ADDQ        $32, DI
	SUBQ        $16, CX
	CMPQ        CX, $16
	JAE         dotbf2loop
	TESTQ       CX, CX
	JZ          dotbf2done

dotbf2loop8:
	WIDEN_BF16_Y((DI), Y4)
	VFMADD231PS (SI), Y4, Y0
	ADDQ        $32, SI
	ADDQ        $16, DI
	SUBQ        $8, CX
	JNZ         dotbf2loop8

dotbf2done:
	VADDPS Y1, Y0, Y0
	REDUCE8
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func dotF16AVX2(a *float32, b *uint16, n int) float32
TEXT ·dotF16AVX2(SB), NOSPLIT, $0-28
	MOVQ   a+0(FP), SI
	MOVQ   b+8(FP), DI
	MOVQ   n+16(FP), CX
	VXORPS Y0, Y0, Y0
	TESTQ  CX, CX
	JZ     doth2done

doth2loop8:
	VCVTPH2PS   (DI), Y4
	VFMADD231PS (SI), Y4, Y0
	ADDQ        $32, SI
	ADDQ        $16, DI
	SUBQ        $8, CX
	JNZ         doth2loop8

doth2done:
	REDUCE8
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

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

// ROW2x32 accumulates one k step of one activation row against the four
// weight vectors Y8-Y11.
#define ROW2x32(mem, a0, a1, a2, a3) \
	VBROADCASTSS mem, Y12; \
	VFMADD231PS  Y8, Y12, a0; \
	VFMADD231PS  Y9, Y12, a1; \
	VFMADD231PS  Y10, Y12, a2; \
	VFMADD231PS  Y11, Y12, a3

// STORE2x32 writes (or adds into) one output row and steps DI.
#define STORE2x32(a0, a1, a2, a3) \
	TESTB   AX, AX; \
	JZ      5(PC); \
	VADDPS  (DI), a0, a0; \
	VADDPS  32(DI), a1, a1; \
	VADDPS  64(DI), a2, a2; \
	VADDPS  96(DI), a3, a3; \
	VMOVUPS a0, (DI); \
	VMOVUPS a1, 32(DI); \
	VMOVUPS a2, 64(DI); \
	VMOVUPS a3, 96(DI); \
	ADDQ    R8, DI

// func gemm2x32AVX2(kc int, x *float32, ldx int, w *float32, c *float32, ldc int, accumulate bool)
//
// Two activation rows of the 8x32 tile (the wrapper calls it four times):
// 16 YMM registers cannot hold more accumulators next to four weight
// vectors.
TEXT ·gemm2x32AVX2(SB), NOSPLIT, $0-49
	MOVQ   kc+0(FP), CX
	MOVQ   x+8(FP), SI
	MOVQ   ldx+16(FP), R8
	SHLQ   $2, R8
	MOVQ   w+24(FP), DX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	TESTQ  CX, CX
	JZ     gemm2store

gemm2loop:
	VMOVUPS (DX), Y8
	VMOVUPS 32(DX), Y9
	VMOVUPS 64(DX), Y10
	VMOVUPS 96(DX), Y11
	ROW2x32((SI), Y0, Y1, Y2, Y3)
	ROW2x32((SI)(R8*1), Y4, Y5, Y6, Y7)
	ADDQ    $4, SI
	ADDQ    $128, DX
	DECQ    CX
	JNZ     gemm2loop

gemm2store:
	MOVQ    c+32(FP), DI
	MOVQ    ldc+40(FP), R8
	SHLQ    $2, R8
	MOVBLZX accumulate+48(FP), AX
	STORE2x32(Y0, Y1, Y2, Y3)
	STORE2x32(Y4, Y5, Y6, Y7)
	VZEROUPPER
	RET

// func fmaLoopAVX2(iters int)
// 12 independent YMM FMA chains per iteration: 12 x 16 = 192 FLOPs.
TEXT ·fmaLoopAVX2(SB), NOSPLIT, $0-8
	MOVQ   iters+0(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	TESTQ  CX, CX
	JZ     fma2done

fma2loop:
	VFMADD231PS Y12, Y13, Y0
	VFMADD231PS Y12, Y13, Y1
	VFMADD231PS Y12, Y13, Y2
	VFMADD231PS Y12, Y13, Y3
	VFMADD231PS Y12, Y13, Y4
	VFMADD231PS Y12, Y13, Y5
	VFMADD231PS Y12, Y13, Y6
	VFMADD231PS Y12, Y13, Y7
	VFMADD231PS Y12, Y13, Y8
	VFMADD231PS Y12, Y13, Y9
	VFMADD231PS Y12, Y13, Y10
	VFMADD231PS Y12, Y13, Y11
	DECQ        CX
	JNZ         fma2loop

fma2done:
	VZEROUPPER
	RET

// GEMV_ROWS512 is the body of the AVX-512 GEMV kernels: for each of R12
// rows, out[r] = Σ x[kk]·widen(w[r*k+kk]), k = R13 (a multiple of 16). LOAD
// widens 16 weights at mem into a ZMM register; step is the bytes per 16
// weights. Its labels are local to the one function that expands it.
#define GEMV_ROWS512(LOAD, step) \
gemvrow: \
	MOVQ   R11, SI; \
	MOVQ   R13, CX; \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z1, Z1, Z1; \
	VPXORD Z2, Z2, Z2; \
	VPXORD Z3, Z3, Z3; \
	CMPQ   CX, $64; \
	JB     gemvtail; \
gemvloop: \
	LOAD((DI), Z4); \
	LOAD(step(DI), Z5); \
	LOAD(2*step(DI), Z6); \
	LOAD(3*step(DI), Z7); \
	VFMADD231PS (SI), Z4, Z0; \
	VFMADD231PS 64(SI), Z5, Z1; \
	VFMADD231PS 128(SI), Z6, Z2; \
	VFMADD231PS 192(SI), Z7, Z3; \
	ADDQ        $256, SI; \
	ADDQ        $(4*step), DI; \
	SUBQ        $64, CX; \
	CMPQ        CX, $64; \
	JAE         gemvloop; \
gemvtail: \
	TESTQ CX, CX; \
	JZ    gemvsum; \
gemvloop16: \
	LOAD((DI), Z4); \
	VFMADD231PS (SI), Z4, Z0; \
	ADDQ        $64, SI; \
	ADDQ        $step, DI; \
	SUBQ        $16, CX; \
	JNZ         gemvloop16; \
gemvsum: \
	VADDPS Z1, Z0, Z0; \
	VADDPS Z3, Z2, Z2; \
	VADDPS Z2, Z0, Z0; \
	REDUCE16; \
	VMOVSS X0, (R10); \
	ADDQ   $4, R10; \
	DECQ   R12; \
	JNZ    gemvrow

#define LOAD_F32_Z(mem, z) VMOVUPS mem, z
#define LOAD_F16_Z(mem, z) VCVTPH2PS mem, z

// func gemvF32AVX512(out, x, w *float32, rows, k int)
TEXT ·gemvF32AVX512(SB), NOSPLIT, $0-40
	MOVQ  out+0(FP), R10
	MOVQ  x+8(FP), R11
	MOVQ  w+16(FP), DI
	MOVQ  rows+24(FP), R12
	MOVQ  k+32(FP), R13
	TESTQ R12, R12
	JZ    gemvf32done
	GEMV_ROWS512(LOAD_F32_Z, 64)

gemvf32done:
	VZEROUPPER
	RET

// func gemvBF16AVX512(out, x *float32, w *uint16, rows, k int)
TEXT ·gemvBF16AVX512(SB), NOSPLIT, $0-40
	MOVQ  out+0(FP), R10
	MOVQ  x+8(FP), R11
	MOVQ  w+16(FP), DI
	MOVQ  rows+24(FP), R12
	MOVQ  k+32(FP), R13
	TESTQ R12, R12
	JZ    gemvbf16done
	GEMV_ROWS512(WIDEN_BF16_Z, 32)

gemvbf16done:
	VZEROUPPER
	RET

// func gemvF16AVX512(out, x *float32, w *uint16, rows, k int)
TEXT ·gemvF16AVX512(SB), NOSPLIT, $0-40
	MOVQ  out+0(FP), R10
	MOVQ  x+8(FP), R11
	MOVQ  w+16(FP), DI
	MOVQ  rows+24(FP), R12
	MOVQ  k+32(FP), R13
	TESTQ R12, R12
	JZ    gemvf16done
	GEMV_ROWS512(LOAD_F16_Z, 32)

gemvf16done:
	VZEROUPPER
	RET

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

// func rowSum64F32AVX512(out, p, v *float32, rows int)
// out[0:64] = Σ_r p[r]·v[r*64 : r*64+64], accumulated in Z0-Z3.
TEXT ·rowSum64F32AVX512(SB), NOSPLIT, $0-32
	MOVQ   out+0(FP), DX
	MOVQ   p+8(FP), SI
	MOVQ   v+16(FP), DI
	MOVQ   rows+24(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	TESTQ  CX, CX
	JZ     rs64f32store

rs64f32loop:
	VBROADCASTSS (SI), Z8
	VFMADD231PS  (DI), Z8, Z0
	VFMADD231PS  64(DI), Z8, Z1
	VFMADD231PS  128(DI), Z8, Z2
	VFMADD231PS  192(DI), Z8, Z3
	ADDQ         $4, SI
	ADDQ         $256, DI
	DECQ         CX
	JNZ          rs64f32loop

rs64f32store:
	VMOVUPS Z0, (DX)
	VMOVUPS Z1, 64(DX)
	VMOVUPS Z2, 128(DX)
	VMOVUPS Z3, 192(DX)
	VZEROUPPER
	RET

// func rowSum128F32AVX512(out, p, v *float32, rows int)
TEXT ·rowSum128F32AVX512(SB), NOSPLIT, $0-32
	MOVQ   out+0(FP), DX
	MOVQ   p+8(FP), SI
	MOVQ   v+16(FP), DI
	MOVQ   rows+24(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	TESTQ  CX, CX
	JZ     rs128f32store

rs128f32loop:
	VBROADCASTSS (SI), Z8
	VFMADD231PS  (DI), Z8, Z0
	VFMADD231PS  64(DI), Z8, Z1
	VFMADD231PS  128(DI), Z8, Z2
	VFMADD231PS  192(DI), Z8, Z3
	VFMADD231PS  256(DI), Z8, Z4
	VFMADD231PS  320(DI), Z8, Z5
	VFMADD231PS  384(DI), Z8, Z6
	VFMADD231PS  448(DI), Z8, Z7
	ADDQ         $4, SI
	ADDQ         $512, DI
	DECQ         CX
	JNZ          rs128f32loop

rs128f32store:
	VMOVUPS Z0, (DX)
	VMOVUPS Z1, 64(DX)
	VMOVUPS Z2, 128(DX)
	VMOVUPS Z3, 192(DX)
	VMOVUPS Z4, 256(DX)
	VMOVUPS Z5, 320(DX)
	VMOVUPS Z6, 384(DX)
	VMOVUPS Z7, 448(DX)
	VZEROUPPER
	RET

// func rowSum64BF16AVX512(out, p *float32, v *uint16, rows int)
TEXT ·rowSum64BF16AVX512(SB), NOSPLIT, $0-32
	MOVQ   out+0(FP), DX
	MOVQ   p+8(FP), SI
	MOVQ   v+16(FP), DI
	MOVQ   rows+24(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	TESTQ  CX, CX
	JZ     rs64bf16store

rs64bf16loop:
	VBROADCASTSS (SI), Z8
	WIDEN_BF16_Z((DI), Z9)
	WIDEN_BF16_Z(32(DI), Z10)
	WIDEN_BF16_Z(64(DI), Z11)
	WIDEN_BF16_Z(96(DI), Z12)
	VFMADD231PS  Z9, Z8, Z0
	VFMADD231PS  Z10, Z8, Z1
	VFMADD231PS  Z11, Z8, Z2
	VFMADD231PS  Z12, Z8, Z3
	ADDQ         $4, SI
	ADDQ         $128, DI
	DECQ         CX
	JNZ          rs64bf16loop

rs64bf16store:
	VMOVUPS Z0, (DX)
	VMOVUPS Z1, 64(DX)
	VMOVUPS Z2, 128(DX)
	VMOVUPS Z3, 192(DX)
	VZEROUPPER
	RET

// func rowSum128BF16AVX512(out, p *float32, v *uint16, rows int)
TEXT ·rowSum128BF16AVX512(SB), NOSPLIT, $0-32
	MOVQ   out+0(FP), DX
	MOVQ   p+8(FP), SI
	MOVQ   v+16(FP), DI
	MOVQ   rows+24(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	TESTQ  CX, CX
	JZ     rs128bf16store

rs128bf16loop:
	VBROADCASTSS (SI), Z8
	WIDEN_BF16_Z((DI), Z9)
	WIDEN_BF16_Z(32(DI), Z10)
	WIDEN_BF16_Z(64(DI), Z11)
	WIDEN_BF16_Z(96(DI), Z12)
	VFMADD231PS  Z9, Z8, Z0
	VFMADD231PS  Z10, Z8, Z1
	VFMADD231PS  Z11, Z8, Z2
	VFMADD231PS  Z12, Z8, Z3
	WIDEN_BF16_Z(128(DI), Z9)
	WIDEN_BF16_Z(160(DI), Z10)
	WIDEN_BF16_Z(192(DI), Z11)
	WIDEN_BF16_Z(224(DI), Z12)
	VFMADD231PS  Z9, Z8, Z4
	VFMADD231PS  Z10, Z8, Z5
	VFMADD231PS  Z11, Z8, Z6
	VFMADD231PS  Z12, Z8, Z7
	ADDQ         $4, SI
	ADDQ         $256, DI
	DECQ         CX
	JNZ          rs128bf16loop

rs128bf16store:
	VMOVUPS Z0, (DX)
	VMOVUPS Z1, 64(DX)
	VMOVUPS Z2, 128(DX)
	VMOVUPS Z3, 192(DX)
	VMOVUPS Z4, 256(DX)
	VMOVUPS Z5, 320(DX)
	VMOVUPS Z6, 384(DX)
	VMOVUPS Z7, 448(DX)
	VZEROUPPER
	RET
