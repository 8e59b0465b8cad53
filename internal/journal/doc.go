// Package journal keeps the checkpoint of a long run: an append-only file of
// JSON lines, a header line saying what the run is followed by one line per
// finished unit of work (a probe, a prompt), each synced to disk before
// Append returns. A rerun reads it back to resume: a last line torn by an
// interruption is dropped, a file written for other settings is refused
// with a message suggesting --resume=false, and the file is rewritten
// atomically without the torn line before anything is appended to it. A
// finished journal may be sealed with a completion line that counts its
// records (profile shard files need it; `compresskv merge` checks it).
//
// The journal knows nothing of what its lines hold: the caller's Layout
// names the format and says when two headers describe the same run and
// whether a record fits its header.
//
// It must never: import a package above it (profile, calibrate, model);
// keep or append after a torn line; resume from a file whose header the
// Layout does not accept; change a file in place other than by appending
// whole lines (every rewrite goes through internal/atomicfile); return from
// Append before the line is synced; or buffer lines in memory between runs
// (the caller keeps its own index of the records it is given).
package journal
