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
