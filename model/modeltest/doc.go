// Package modeltest helps test code that runs models: it writes real
// checkpoint folders (config.json + model.safetensors) from a Config and
// Weights or from random weights, and holds Reference, a plain float64
// forward pass with a naive full attention matrix that the fast forward
// pass of package model is checked against.
//
// It is a test helper: it favours obviously-correct code over speed and
// must never be imported by non-test code of the tool.
package modeltest
