//go:build amd64 && !purego

#include "textflag.h"

// GEMV over consecutive weight rows (AVX-512). k is a multiple of 16; the
// Go twin is gemvRows* in gemv.go.

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

// WIDEN_BF16_Z loads 16 bfloat16 words at mem and widens them into zmm z.
#define WIDEN_BF16_Z(mem, z) \
	VPMOVZXWD mem, z; \
	VPSLLD    $16, z, z

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
