//go:build amd64 && !purego

#include "textflag.h"
#include "zero_amd64.h"

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

// GEMV4_ARGS loads the arguments of the gemv4 kernels as GEMV4_ROWS takes
// them.
#define GEMV4_ARGS \
	MOVQ  out+0(FP), DI; \
	MOVQ  ldo+8(FP), R10; \
	SHLQ  $2, R10; \
	MOVQ  x+16(FP), R11; \
	MOVQ  ldx+24(FP), R9; \
	SHLQ  $2, R9; \
	MOVQ  w+32(FP), BX; \
	MOVQ  rows+40(FP), R12; \
	MOVQ  k+48(FP), R13

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

// GEMV4_ROWS is the body of gemv4F32AVX512 and its bf16 twin, after their
// arguments are loaded (out in DI, ldo in bytes in R10, x in R11, ldx in
// bytes in R9, w in BX, rows in R12, k in R13): LOADW4
// loads 64 weights of the current row (at BX) into Z16-Z19 and LOADW1 16
// of them into Z16, step64 and step16 being their bytes. The reduction
// runs rows 0 and 1 in Z20, 2 and 3 in Z22: [low 8 lanes of A, of B] +
// [high 8 lanes of A, of B], then within each half i + i+4, i + i+2,
// i + i+1 (REDUCE16's steps, the lower lanes first). Its labels are local
// to the one function that expands it.
#define GEMV4_ROWS(LOADW4, LOADW1, step64, step16) \
	LEAQ  (R9)(R9*2), R14; \
	LEAQ  (R10)(R10*2), R15; \
	TESTQ R12, R12; \
	JZ    gemv4done; \
gemv4row: \
	MOVQ   R11, SI; \
	MOVQ   R13, CX; \
	ZERO_Z0_Z15; \
	CMPQ   CX, $64; \
	JB     gemv4tail; \
gemv4loop: \
	LOADW4; \
	VFMADD231PS (SI), Z16, Z0; \
	VFMADD231PS 64(SI), Z17, Z1; \
	VFMADD231PS 128(SI), Z18, Z2; \
	VFMADD231PS 192(SI), Z19, Z3; \
	VFMADD231PS (SI)(R9*1), Z16, Z4; \
	VFMADD231PS 64(SI)(R9*1), Z17, Z5; \
	VFMADD231PS 128(SI)(R9*1), Z18, Z6; \
	VFMADD231PS 192(SI)(R9*1), Z19, Z7; \
	VFMADD231PS (SI)(R9*2), Z16, Z8; \
	VFMADD231PS 64(SI)(R9*2), Z17, Z9; \
	VFMADD231PS 128(SI)(R9*2), Z18, Z10; \
	VFMADD231PS 192(SI)(R9*2), Z19, Z11; \
	VFMADD231PS (SI)(R14*1), Z16, Z12; \
	VFMADD231PS 64(SI)(R14*1), Z17, Z13; \
	VFMADD231PS 128(SI)(R14*1), Z18, Z14; \
	VFMADD231PS 192(SI)(R14*1), Z19, Z15; \
	ADDQ        $256, SI; \
	ADDQ        step64, BX; \
	SUBQ        $64, CX; \
	CMPQ        CX, $64; \
	JAE         gemv4loop; \
gemv4tail: \
	TESTQ CX, CX; \
	JZ    gemv4sum; \
gemv4loop16: \
	LOADW1; \
	VFMADD231PS (SI), Z16, Z0; \
	VFMADD231PS (SI)(R9*1), Z16, Z4; \
	VFMADD231PS (SI)(R9*2), Z16, Z8; \
	VFMADD231PS (SI)(R14*1), Z16, Z12; \
	ADDQ        $64, SI; \
	ADDQ        step16, BX; \
	SUBQ        $16, CX; \
	JNZ         gemv4loop16; \
gemv4sum: \
	VADDPS        Z1, Z0, Z0; \
	VADDPS        Z3, Z2, Z2; \
	VADDPS        Z2, Z0, Z0; \
	VADDPS        Z5, Z4, Z4; \
	VADDPS        Z7, Z6, Z6; \
	VADDPS        Z6, Z4, Z4; \
	VADDPS        Z9, Z8, Z8; \
	VADDPS        Z11, Z10, Z10; \
	VADDPS        Z10, Z8, Z8; \
	VADDPS        Z13, Z12, Z12; \
	VADDPS        Z15, Z14, Z14; \
	VADDPS        Z14, Z12, Z12; \
	VSHUFF64X2    $0x44, Z4, Z0, Z20; \
	VSHUFF64X2    $0xee, Z4, Z0, Z21; \
	VADDPS        Z21, Z20, Z20; \
	VSHUFF64X2    $0x44, Z12, Z8, Z22; \
	VSHUFF64X2    $0xee, Z12, Z8, Z23; \
	VADDPS        Z23, Z22, Z22; \
	VSHUFF64X2    $0xb1, Z20, Z20, Z21; \
	VADDPS        Z21, Z20, Z20; \
	VSHUFF64X2    $0xb1, Z22, Z22, Z23; \
	VADDPS        Z23, Z22, Z22; \
	VPERMILPS     $0x4e, Z20, Z21; \
	VADDPS        Z21, Z20, Z20; \
	VPERMILPS     $0x4e, Z22, Z23; \
	VADDPS        Z23, Z22, Z22; \
	VPERMILPS     $0xb1, Z20, Z21; \
	VADDPS        Z21, Z20, Z20; \
	VPERMILPS     $0xb1, Z22, Z23; \
	VADDPS        Z23, Z22, Z22; \
	VMOVSS        X20, (DI); \
	VEXTRACTF32X4 $2, Z20, X21; \
	VMOVSS        X21, (DI)(R10*1); \
	VMOVSS        X22, (DI)(R10*2); \
	VEXTRACTF32X4 $2, Z22, X23; \
	VMOVSS        X23, (DI)(R15*1); \
	ADDQ          $4, DI; \
	DECQ          R12; \
	JNZ           gemv4row; \
gemv4done: \
	VZEROUPPER; \
	RET

// LOADW4_F32, LOADW1_F32, LOADW4_BF16 and LOADW1_BF16 are GEMV4_ROWS's
// weight loads.
#define LOADW4_F32 \
	VMOVUPS (BX), Z16; \
	VMOVUPS 64(BX), Z17; \
	VMOVUPS 128(BX), Z18; \
	VMOVUPS 192(BX), Z19

#define LOADW1_F32 VMOVUPS (BX), Z16

#define LOADW4_BF16 \
	WIDEN_BF16_Z((BX), Z16); \
	WIDEN_BF16_Z(32(BX), Z17); \
	WIDEN_BF16_Z(64(BX), Z18); \
	WIDEN_BF16_Z(96(BX), Z19)

#define LOADW1_BF16 WIDEN_BF16_Z((BX), Z16)

// func gemv4F32AVX512(out *float32, ldo int, x *float32, ldx int, w *float32, rows, k int)
//
// GEMV_ROWS512 with float32 weights for 4 rows of x at once (ldx floats
// apart), out[j*ldo + r] = x[j] · w[r] for j < 4, r < rows, each row of w
// loaded once for the four. Every output's multiply-adds, partial sums and
// lane reduction are the one-row kernel's, in the same order and with the
// same operands first, so the bits are too: the reduction runs two rows
// per register (row A in the low 256 bits, row B in the high), each step
// adding, within each half, the lanes REDUCE16 adds.
TEXT ·gemv4F32AVX512(SB), NOSPLIT, $0-56
	GEMV4_ARGS
	GEMV4_ROWS(LOADW4_F32, LOADW1_F32, $256, $64)

// func gemv4BF16AVX512(out *float32, ldo int, x *float32, ldx int, w *uint16, rows, k int)
//
// gemv4F32AVX512 over bfloat16 rows of w (a bf16 KV cache's keys), each
// row widened once for the four rows of x: gemvBF16AVX512's operations in
// its order, so its bits.
TEXT ·gemv4BF16AVX512(SB), NOSPLIT, $0-56
	GEMV4_ARGS
	GEMV4_ROWS(LOADW4_BF16, LOADW1_BF16, $128, $32)
