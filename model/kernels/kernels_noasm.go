//go:build !amd64 || purego

package kernels

// best returns the pure-Go kernels: no assembly in this build.
func best() kernelSet { return goKernels }

// available returns the only kernel set of this build.
func available() []kernelSet { return []kernelSet{goKernels} }

// SetAMX reports false: there is no AMX kernel without assembly.
func SetAMX(bool) bool { return false }
