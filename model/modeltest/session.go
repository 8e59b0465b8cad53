package modeltest

import (
	"context"
	"testing"

	"github.com/compresskv/compresskv/model"
)

// NewSession starts a session of m with opts, failing the test when the
// options are refused.
func NewSession(t testing.TB, m *model.Model, opts model.SessionOptions) *model.Session {
	t.Helper()
	s, err := m.NewSession(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Greedy feeds prompt to s (nothing when empty), then decodes greedily up
// to maxNew tokens, stopping after a token for which stop (when not nil)
// is true, and returns the produced tokens.
func Greedy(t testing.TB, s *model.Session, prompt []int, maxNew int, stop func(id int) bool) []int {
	t.Helper()
	if err := s.Prefill(context.Background(), prompt, nil); err != nil {
		t.Fatal(err)
	}
	o := model.DecodeOptions{MaxNew: maxNew}
	if stop != nil {
		o.Stop = func(_, id int) bool { return stop(id) }
	}
	res, err := s.Decode(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return res.IDs
}
