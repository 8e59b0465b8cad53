// Package journal keeps the checkpoint of a long run: an append-only file of
// JSON lines, a header line saying what the run is followed by one line per
// finished unit of work (a probe, a prompt), each synced to disk before
// Append returns. Every line carries a CRC-32C of its content, and a key the
// layout does not know is an error, so a line damaged or edited after it was
// written is refused instead of read as zeros. A rerun reads the file back
// to resume: a last line torn by an interruption is dropped, a file written
// for other settings is refused with a message saying what differs and
// suggesting --resume=false. While a run has a journal open it holds an
// exclusive lock on it (<journal>.lock): a second run on the same output
// fails at once, naming the first run's pid, host and start time.
//
// A finished journal may be sealed with a completion line that counts its
// records (profile shard files need it; `compresskv merge` checks it).
//
// The journal knows nothing of what its lines hold: the caller's Layout
// names the format and says when two headers describe the same run and
// whether a record fits its header.
//
// It must never: import a package above it (profile, calibrate, model);
// keep or append after a torn line; resume from a file whose header the
// Layout does not accept; change an existing file before the run appends
// its first record (a run refused after Open leaves the file as it was);
// change a file in place other than by appending whole lines (every
// rewrite goes through internal/atomicfile); return from Append before the
// line is synced; or buffer lines in memory between runs (the caller keeps
// its own index of the records it is given).
package journal
