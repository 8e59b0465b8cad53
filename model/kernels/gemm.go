package kernels

// gemmMaxChunk bounds the output columns of one GEMM unit, and so the
// packed weight block a goroutine holds ([gemmMaxChunk, gemmKC] floats,
// 512 KB: half of the 1 MB L2 of Zen 4 and Zen 5).
const gemmMaxChunk = 512

// gemm computes out[m, n] = x[m, k] · w[n, k]ᵀ by blocks: a unit is a range
// of output columns (a multiple of gemmNR); for every gemmKC-deep slice of
// k it packs and widens its weight rows once, then sweeps all m activation
// rows over them in gemmMR x gemmNR tiles.
func gemm(out, x []float32, m int, w Matrix, parallel bool) {
	n := w.Rows
	panels := ceilDiv(n, gemmNR)
	per := min(panels, gemmMaxChunk/gemmNR)
	if parallel {
		// A multiple of the goroutine count, at least two units each (so a
		// goroutine slowed by other work is evened out), each unit at most
		// gemmMaxChunk wide.
		t := Threads()
		units := t * max(2, ceilDiv(panels, t*per))
		per = max(1, ceilDiv(panels, units))
	}
	chunk := per * gemmNR
	j := newJob(gemmUnit, ceilDiv(n, chunk))
	j.out, j.x, j.m, j.w, j.chunk = out, x, m, w, chunk
	j.execute(parallel)
}

// gemmUnit computes output columns [u*chunk, (u+1)*chunk) for every row.
func gemmUnit(j *job, u int, s *scratch) {
	w, m, x, out := j.w, j.m, j.x, j.out
	n, k := w.Rows, w.Cols
	j0, j1 := u*j.chunk, min((u+1)*j.chunk, n)
	panels := ceilDiv(j1-j0, gemmNR)
	s.packed = grow(s.packed, panels*gemmKC*gemmNR)
	for pc := 0; pc < k; pc += gemmKC {
		kc := min(gemmKC, k-pc)
		packWeights(s, w, j0, j1, pc, kc)
		accumulate := pc > 0
		for ic := 0; ic < m; ic += gemmMC {
			ie := min(ic+gemmMC, m)
			for p := 0; p < panels; p++ {
				panel := s.packed[p*kc*gemmNR : (p+1)*kc*gemmNR] // [kc][gemmNR]
				col := j0 + p*gemmNR
				ncol := min(gemmNR, j1-col)
				for row := ic; row < ie; row += gemmMR {
					nrow := min(gemmMR, ie-row)
					if nrow == gemmMR && ncol == gemmNR {
						gemmKernel(kc, x[row*k+pc:], k, panel, out[row*n+col:], n, accumulate)
						continue
					}
					gemmEdge(s, kc, x[row*k+pc:], k, nrow, panel, out[row*n+col:], n, ncol, accumulate)
				}
			}
		}
	}
}

// gemmEdge runs the micro-kernel on a partial tile through zero-padded
// copies, so edge outputs are computed with exactly the arithmetic of full
// tiles.
func gemmEdge(s *scratch, kc int, x []float32, ldx, nrow int, panel, c []float32, ldc, ncol int, accumulate bool) {
	s.xtile = grow(s.xtile, gemmMR*kc)
	s.ctile = grow(s.ctile, gemmMR*gemmNR)
	clear(s.xtile)
	clear(s.ctile)
	for i := 0; i < nrow; i++ {
		copy(s.xtile[i*kc:(i+1)*kc], x[i*ldx:i*ldx+kc])
		if accumulate {
			copy(s.ctile[i*gemmNR:i*gemmNR+ncol], c[i*ldc:i*ldc+ncol])
		}
	}
	gemmKernel(kc, s.xtile, kc, panel, s.ctile, gemmNR, accumulate)
	for i := 0; i < nrow; i++ {
		copy(c[i*ldc:i*ldc+ncol], s.ctile[i*gemmNR:i*gemmNR+ncol])
	}
}

// gemmKernelGo is the pure-Go micro-kernel: c[i, j] (+)= Σ_kk x[i*ldx+kk] ·
// w[kk*gemmNR+j] for an 8x32 tile, the sum formed first and then added to
// c when accumulate is set (the same order as the assembly kernels).
func gemmKernelGo(kc int, x []float32, ldx int, w, c []float32, ldc int, accumulate bool) {
	var acc [gemmMR][gemmNR]float32
	w = w[:kc*gemmNR]
	for kk := 0; kk < kc; kk++ {
		wk := (*[gemmNR]float32)(w[kk*gemmNR:])
		for i := 0; i < gemmMR; i++ {
			xv := x[i*ldx+kk]
			a := &acc[i]
			for jj, wv := range wk {
				a[jj] += xv * wv
			}
		}
	}
	for i := 0; i < gemmMR; i++ {
		ci := (*[gemmNR]float32)(c[i*ldc:])
		if accumulate {
			for jj := range ci {
				ci[jj] += acc[i][jj]
			}
		} else {
			*ci = acc[i]
		}
	}
}
