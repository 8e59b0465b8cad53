//go:build amd64 && !purego

#include "textflag.h"

// The bfloat16 GEMM on Intel AMX tiles (TDPBF16PS). Go's assembler knows
// no AMX instruction, so each is spelled as its VEX bytes (the comment
// above each macro gives the instruction).
//
// Tiles: tmm0/tmm1 hold output rows 0-15, columns 0-15 and 16-31 of a
// 32-column panel, tmm2/tmm3 rows 16-31; tmm4/tmm5 the activations of
// rows 0-15 and 16-31 (16 k pairs, 64 bytes a row); tmm6/tmm7 the panel's
// 16 pairs of columns 0-15 and 16-31 (a panel's pair row is 128 bytes:
// 32 columns x 2 words).

// LDTILECFG (AX)
#define LDTILECFG_AX BYTE $0xc4; BYTE $0xe2; BYTE $0x78; BYTE $0x49; BYTE $0x00
// TILERELEASE
#define TILERELEASE BYTE $0xc4; BYTE $0xe2; BYTE $0x78; BYTE $0x49; BYTE $0xc0
// TILEZERO tmm0
#define TILEZERO_T0 BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xc0
// TILEZERO tmm1
#define TILEZERO_T1 BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xc8
// TILEZERO tmm2
#define TILEZERO_T2 BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xd0
// TILEZERO tmm3
#define TILEZERO_T3 BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xd8
// TILELOADD tmm0, (CX)(R11*1)
#define LOAD_C0 BYTE $0xc4; BYTE $0xa2; BYTE $0x7b; BYTE $0x4b; BYTE $0x04; BYTE $0x19
// TILELOADD tmm1, 64(CX)(R11*1)
#define LOAD_C1 BYTE $0xc4; BYTE $0xa2; BYTE $0x7b; BYTE $0x4b; BYTE $0x4c; BYTE $0x19; BYTE $0x40
// TILELOADD tmm2, (BX)(R11*1)
#define LOAD_C2 BYTE $0xc4; BYTE $0xa2; BYTE $0x7b; BYTE $0x4b; BYTE $0x14; BYTE $0x1b
// TILELOADD tmm3, 64(BX)(R11*1)
#define LOAD_C3 BYTE $0xc4; BYTE $0xa2; BYTE $0x7b; BYTE $0x4b; BYTE $0x5c; BYTE $0x1b; BYTE $0x40
// TILESTORED (CX)(R11*1), tmm0
#define STORE_C0 BYTE $0xc4; BYTE $0xa2; BYTE $0x7a; BYTE $0x4b; BYTE $0x04; BYTE $0x19
// TILESTORED 64(CX)(R11*1), tmm1
#define STORE_C1 BYTE $0xc4; BYTE $0xa2; BYTE $0x7a; BYTE $0x4b; BYTE $0x4c; BYTE $0x19; BYTE $0x40
// TILESTORED (BX)(R11*1), tmm2
#define STORE_C2 BYTE $0xc4; BYTE $0xa2; BYTE $0x7a; BYTE $0x4b; BYTE $0x14; BYTE $0x1b
// TILESTORED 64(BX)(R11*1), tmm3
#define STORE_C3 BYTE $0xc4; BYTE $0xa2; BYTE $0x7a; BYTE $0x4b; BYTE $0x5c; BYTE $0x1b; BYTE $0x40
// TILELOADD tmm4, (AX)(R8*1)
#define LOAD_A0 BYTE $0xc4; BYTE $0xa2; BYTE $0x7b; BYTE $0x4b; BYTE $0x24; BYTE $0x00
// TILELOADD tmm5, (DI)(R8*1)
#define LOAD_A1 BYTE $0xc4; BYTE $0xa2; BYTE $0x7b; BYTE $0x4b; BYTE $0x2c; BYTE $0x07
// TILELOADD tmm6, (DX)(R9*1)
#define LOAD_B0 BYTE $0xc4; BYTE $0xa2; BYTE $0x7b; BYTE $0x4b; BYTE $0x34; BYTE $0x0a
// TILELOADD tmm7, 64(DX)(R9*1)
#define LOAD_B1 BYTE $0xc4; BYTE $0xa2; BYTE $0x7b; BYTE $0x4b; BYTE $0x7c; BYTE $0x0a; BYTE $0x40
// TDPBF16PS tmm0, tmm4, tmm6
#define DP_00 BYTE $0xc4; BYTE $0xe2; BYTE $0x4a; BYTE $0x5c; BYTE $0xc4
// TDPBF16PS tmm1, tmm4, tmm7
#define DP_01 BYTE $0xc4; BYTE $0xe2; BYTE $0x42; BYTE $0x5c; BYTE $0xcc
// TDPBF16PS tmm2, tmm5, tmm6
#define DP_10 BYTE $0xc4; BYTE $0xe2; BYTE $0x4a; BYTE $0x5c; BYTE $0xd5
// TDPBF16PS tmm3, tmm5, tmm7
#define DP_11 BYTE $0xc4; BYTE $0xe2; BYTE $0x42; BYTE $0x5c; BYTE $0xdd


// Steps of 16 k pairs, rows 0-31 (four products per step).
#define STEP_TWO \
	LOAD_A0; LOAD_A1; LOAD_B0; LOAD_B1; \
	DP_00; DP_01; DP_10; DP_11

// Steps of 16 k pairs, rows 0-15.
#define STEP_ONE \
	LOAD_A0; LOAD_B0; LOAD_B1; \
	DP_00; DP_01

// func gemmBF16AMX(cfg *amxConfig, steps, tail int, x *uint16, ldx int, w *uint16, wstep int, c *float32, ldc, panels, flags int)
//
// For each of panels panels (wstep words apart, their outputs 32 floats
// apart in c): out rows < rows (cfg) of c (+)= x · panel over steps·16 +
// tail k pairs, 16 pairs per TDPBF16PS in k order, the output tiles loaded
// from c with flags&1 (else zero) and stored back. flags&2: more than 16
// rows. cfg holds the tile configuration of the 16-pair steps, then that
// of the tail (tail pairs), which LDTILECFG loads for a second pass over
// the panels (it zeroes the tiles, so the first pass stores them).
TEXT ·gemmBF16AMX(SB), NOSPLIT, $8-88
	MOVQ cfg+0(FP), AX
	LDTILECFG_AX
	MOVQ ldx+32(FP), R8
	SHLQ $1, R8
	MOVQ $128, R9
	MOVQ wstep+48(FP), R10
	SHLQ $1, R10
	MOVQ ldc+64(FP), R11
	SHLQ $2, R11
	MOVQ x+24(FP), SI
	MOVQ R8, R12
	SHLQ $4, R12
	ADDQ SI, R12
	MOVQ steps+8(FP), AX
	TESTQ AX, AX
	JZ   tail
	SHLQ $6, AX
	ADDQ SI, AX
	MOVQ AX, end-8(SP)
	MOVQ w+40(FP), R13
	MOVQ c+56(FP), CX
	MOVQ R11, BX
	SHLQ $4, BX
	ADDQ CX, BX
	MOVQ panels+72(FP), R14
	TESTQ $2, flags+80(FP)
	JZ   panelOne

panelTwo:
	TESTQ $1, flags+80(FP)
	JNZ  loadTwo
	TILEZERO_T0; TILEZERO_T1; TILEZERO_T2; TILEZERO_T3
	JMP  kTwoStart
loadTwo:
	LOAD_C0; LOAD_C1; LOAD_C2; LOAD_C3
kTwoStart:
	MOVQ SI, AX
	MOVQ R12, DI
	MOVQ R13, DX
kTwo:
	STEP_TWO
	ADDQ $64, AX
	ADDQ $64, DI
	ADDQ $2048, DX
	CMPQ AX, end-8(SP)
	JB   kTwo
	STORE_C0; STORE_C1; STORE_C2; STORE_C3
	ADDQ R10, R13
	ADDQ $128, CX
	ADDQ $128, BX
	DECQ R14
	JNZ  panelTwo
	JMP  tail

panelOne:
	TESTQ $1, flags+80(FP)
	JNZ  loadOne
	TILEZERO_T0; TILEZERO_T1
	JMP  kOneStart
loadOne:
	LOAD_C0; LOAD_C1
kOneStart:
	MOVQ SI, AX
	MOVQ R13, DX
kOne:
	STEP_ONE
	ADDQ $64, AX
	ADDQ $2048, DX
	CMPQ AX, end-8(SP)
	JB   kOne
	STORE_C0; STORE_C1
	ADDQ R10, R13
	ADDQ $128, CX
	DECQ R14
	JNZ  panelOne

tail:
	// The last tail pairs (< 16): their own tile shapes, one step a panel.
	MOVQ tail+16(FP), AX
	TESTQ AX, AX
	JZ   done
	MOVQ cfg+0(FP), AX
	ADDQ $64, AX
	LDTILECFG_AX
	MOVQ steps+8(FP), AX
	SHLQ $6, AX
	MOVQ AX, DX
	SHLQ $5, DX
	ADDQ w+40(FP), DX
	MOVQ DX, R13
	LEAQ (R12)(AX*1), DI
	ADDQ SI, AX
	MOVQ c+56(FP), CX
	MOVQ R11, BX
	SHLQ $4, BX
	ADDQ CX, BX
	MOVQ panels+72(FP), R14
	// The tail continues the panel's sums unless there were no steps and
	// no accumulate: end-8(SP) = 1 when the tiles load.
	MOVQ flags+80(FP), DX
	ANDQ $1, DX
	CMPQ steps+8(FP), $0
	JEQ  2(PC)
	MOVQ $1, DX
	MOVQ DX, end-8(SP)
	TESTQ $2, flags+80(FP)
	JZ   tailOne

tailTwo:
	CMPQ end-8(SP), $0
	JNE  tailTwoLoad
	TILEZERO_T0; TILEZERO_T1; TILEZERO_T2; TILEZERO_T3
	JMP  tailTwoStep
tailTwoLoad:
	LOAD_C0; LOAD_C1; LOAD_C2; LOAD_C3
tailTwoStep:
	MOVQ R13, DX
	STEP_TWO
	STORE_C0; STORE_C1; STORE_C2; STORE_C3
	ADDQ R10, R13
	ADDQ $128, CX
	ADDQ $128, BX
	DECQ R14
	JNZ  tailTwo
	JMP  done

tailOne:
	CMPQ end-8(SP), $0
	JNE  tailOneLoad
	TILEZERO_T0; TILEZERO_T1
	JMP  tailOneStep
tailOneLoad:
	LOAD_C0; LOAD_C1
tailOneStep:
	MOVQ R13, DX
	STEP_ONE
	STORE_C0; STORE_C1
	ADDQ R10, R13
	ADDQ $128, CX
	DECQ R14
	JNZ  tailOne

done:
	TILERELEASE
	RET

// TDPBF16PS tmm0..3 += tmm4/tmm5 x tmm6/tmm7: the peak loop's products.
#define DP_PEAK DP_00; DP_01; DP_10; DP_11

// func amxPeakLoop(cfg *amxConfig, iters int)
//
// iters x 4 independent TDPBF16PS on full 16x16 tiles (16384 FLOPs each)
// from zeroed tiles, no memory traffic: the AMX ceiling of PeakAMX.
TEXT ·amxPeakLoop(SB), NOSPLIT, $0-16
	MOVQ cfg+0(FP), AX
	LDTILECFG_AX
	MOVQ iters+8(FP), CX
	TILEZERO_T0; TILEZERO_T1; TILEZERO_T2; TILEZERO_T3
	// TILEZERO tmm4..tmm7
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xe0
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xe8
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xf0
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xf8
peakLoop:
	DP_PEAK
	DECQ CX
	JNZ  peakLoop
	TILERELEASE
	RET
