package model

// LastResidual returns the residual of s's last fed position (what Logits
// is computed from), for tests in package model_test.
func LastResidual(s *Session) []float32 { return s.last }
