package model

// LastResidual returns the residual of s's last fed position (what Logits
// is computed from), for tests in package model_test.
func LastResidual(s *Session) []float32 { return s.last }

// SetElementwiseMin sets the size from which element-wise passes split
// across the pool and returns a function that restores it, so tests on
// small models can reach the split path.
func SetElementwiseMin(n int) (restore func()) {
	old := elementwiseMin
	elementwiseMin = n
	return func() { elementwiseMin = old }
}

// CacheCap returns how many positions layer 0's cache of s has room for
// without growing, so tests can tell a session started in released memory
// from a fresh one.
func CacheCap(s *Session) int {
	c := s.caches[0]
	if c.dtype == CacheBF16 {
		return cap(c.keys16[0]) / c.headDim
	}
	return cap(c.keys[0]) / c.headDim
}

// PooledSessions returns how many released sessions m holds.
func PooledSessions(m *Model) int {
	m.pool.mu.Lock()
	defer m.pool.mu.Unlock()
	return len(m.pool.free)
}
