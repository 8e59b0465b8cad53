package kernels

// packWeights writes weight rows [j0, j1), columns [pc, pc+kc), widened to
// float32, into s.packed as [panel][kc][gemmNR]; rows past j1 are zero.
func packWeights(s *scratch, w Matrix, j0, j1, pc, kc int) {
	k := w.Cols
	s.row = grow(s.row, kc)
	panels := ceilDiv(j1-j0, gemmNR)
	for p := 0; p < panels; p++ {
		dst := s.packed[p*kc*gemmNR : (p+1)*kc*gemmNR]
		if r0 := j0 + p*gemmNR; r0+gemmNR <= j1 && pack32 != nil && pack32(dst, w, r0, pc, kc) {
			continue
		}
		for r := 0; r < gemmNR; r++ {
			jr := j0 + p*gemmNR + r
			if jr >= j1 {
				for kk := 0; kk < kc; kk++ {
					dst[kk*gemmNR+r] = 0
				}
				continue
			}
			off := jr*k + pc
			var src []float32
			switch w.DType {
			case F32:
				src = w.F32[off : off+kc]
			case BF16:
				widenBF16(s.row, w.U16[off:off+kc])
				src = s.row
			case F16:
				widenF16(s.row, w.U16[off:off+kc])
				src = s.row
			}
			scatterColumn(dst, src, r)
		}
	}
}

// scatterColumn writes src[kk] to dst[kk*gemmNR+r]: one weight row becomes
// one column of the packed [kc][gemmNR] panel.
func scatterColumn(dst, src []float32, r int) {
	_ = dst[(len(src)-1)*gemmNR+r]
	for kk, v := range src {
		dst[kk*gemmNR+r] = v
	}
}
