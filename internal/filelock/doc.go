// Package filelock takes advisory, exclusive, non-blocking locks on open
// files (flock(2) on Unix), so that two compresskv runs never write the same
// journal or temporary file. A lock dies with its process: a run killed by
// SIGKILL leaves no lock behind, only a file the next run locks at once.
//
// It must never: block waiting for a lock (a second run fails at once and
// says who holds it), or import any other compresskv package.
package filelock
