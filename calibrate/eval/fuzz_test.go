package eval

import (
	"testing"
)

// FuzzUnmarshal: any bytes give a document or an error naming the file,
// never a panic; an accepted document validates, and re-encodes to a
// document that is accepted again with the same bytes.
func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte(`{"schema": "compresskv.eval/v1", "settings": {"methods": ["full"], "budgets": []}, "probes": [], "summary": [{"method": "full"}], "cells": []}`))
	f.Add([]byte(`{"schema": "compresskv.eval/v1", "settings": {"methods": ["full", "snapkv"], "budgets": [64]}, "probes": [{"index": 0, "results": [{"method": "full"}, {"method": "snapkv", "budget": 64, "recall": 2}]}], "summary": []}`))
	f.Add([]byte(`{"schema": "compresskv.profile/v1"}`))
	f.Add([]byte(`[1, 2`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Unmarshal(data, "e.json")
		if err != nil {
			return
		}
		out, err := Marshal(d)
		if err != nil {
			t.Fatalf("accepted document does not encode: %v", err)
		}
		d2, err := Unmarshal(out, "again.json")
		if err != nil {
			t.Fatalf("re-encoded document refused: %v", err)
		}
		out2, _ := Marshal(d2)
		if string(out) != string(out2) {
			t.Fatalf("encoding is not stable")
		}
	})
}
