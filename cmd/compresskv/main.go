// Command compresskv profiles the attention heads of a grouped-query-attention
// LLM on needle-in-a-haystack probes and calibrates its per-layer KV-cache
// budgets, offline, on CPUs. See README.md and docs/usage.md.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
