//go:build amd64 && !purego

#include "textflag.h"
#include "zero_amd64.h"

// The float32 GEMM micro-kernels (AVX-512 8x32, AVX2 2x32). The Go twin
// is gemmKernelGo in gemm.go.

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
	ZERO_Z0_Z15
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
