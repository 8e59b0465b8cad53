package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/compresskv/compresskv/model/kernels"
)

// isTerminal reports whether w is a terminal (progress bars only there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressBar shows done/total, tokens per second and the time left of a
// long run. It draws a bar only when enabled (stderr is a terminal); in
// logs and pipes it prints a plain line instead every logInterval or every
// tenth of the items, whichever comes first ("probe 142/600, 1.2M tokens,
// 37 tok/s, ETA 3h12m").
type progressBar struct {
	w           io.Writer
	enabled     bool
	description string
	bar         *progressbar.ProgressBar
	start       time.Time
	now         func() time.Time // time.Now; replaced in tests
	lastLine    time.Time
	lastDone    int
}

// logInterval is the longest a log goes without a progress line.
const logInterval = 30 * time.Second

// newProgressBar starts the clock of a bar; call it right before the work.
func newProgressBar(w io.Writer, enabled bool, description string) *progressBar {
	b := &progressBar{w: w, enabled: enabled, description: description, now: time.Now}
	b.start, b.lastLine = b.now(), b.now()
	return b
}

// update records done of total items finished, resumed of them loaded from
// a checkpoint rather than computed, and tokens fed through the model by
// this invocation (0 when the caller does not count them).
func (b *progressBar) update(done, total, resumed, tokens int) {
	if !b.enabled {
		b.logLine(done, total, resumed, tokens)
		return
	}
	if b.bar == nil {
		b.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(b.w),
			progressbar.OptionSetDescription(b.description),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionClearOnFinish(),
		)
	}
	// Rates from this invocation's work only: resumed items took no time.
	elapsed := time.Since(b.start)
	desc := b.description
	if tokens > 0 && elapsed > 0 {
		desc += fmt.Sprintf(" %.0f tok/s", float64(tokens)/elapsed.Seconds())
	}
	if n := done - resumed; n > 0 && done < total {
		left := time.Duration(float64(elapsed) / float64(n) * float64(total-done))
		desc += ", ETA " + left.Round(time.Second).String()
	}
	b.bar.Describe(desc)
	_ = b.bar.Set(done)
}

// logLine prints the plain progress line when it is due.
func (b *progressBar) logLine(done, total, resumed, tokens int) {
	now := b.now()
	step := max(total/10, 1)
	if done-resumed <= 0 || (now.Sub(b.lastLine) < logInterval && done/step == b.lastDone/step && done < total) {
		return
	}
	b.lastLine, b.lastDone = now, done
	line := fmt.Sprintf("%s %d/%d", strings.TrimSuffix(b.description, "s"), done, total)
	elapsed := now.Sub(b.start)
	if tokens > 0 {
		line += fmt.Sprintf(", %s tokens", shortCount(tokens))
		if elapsed > 0 {
			line += fmt.Sprintf(", %.0f tok/s", float64(tokens)/elapsed.Seconds())
		}
	}
	if n := done - resumed; n > 0 && done < total {
		left := time.Duration(float64(elapsed) / float64(n) * float64(total-done))
		line += ", ETA " + left.Round(time.Second).String()
	}
	fmt.Fprintln(b.w, line)
}

// shortCount writes n as 950, 12.3K or 1.2M.
func shortCount(n int) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

func (b *progressBar) finish() {
	if b.bar != nil {
		_ = b.bar.Finish()
	}
}

// interruptible returns ctx, or when it is nil a context cancelled by the
// first SIGINT or SIGTERM. The default handling is restored as soon as the
// context is done, so a second Ctrl-C kills the process at once; call stop
// when the run is over.
func interruptible(ctx context.Context) (_ context.Context, stop context.CancelFunc) {
	if ctx != nil {
		return ctx, func() {}
	}
	ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // the run is stopping: let the next signal kill it
	}()
	return ctx, stop
}

// maxThreads bounds --threads: each thread is a goroutine with its own
// buffers (for calibrate, its own model session), so 100000 of them exhaust
// memory or the scheduler long before they help.
const maxThreads = 1024

// checkThreads is the one rule for --threads in every command: 0 means all
// CPUs, otherwise 1..maxThreads.
func checkThreads(n int) error {
	if n < 0 || n > maxThreads {
		return usagef("--threads %d: want 0 (all CPUs) or 1..%d", n, maxThreads)
	}
	return nil
}

// limitThreads caps the CPU threads of a run at n (0: all) and returns the
// function that restores the previous setting.
func limitThreads(n int) (restore func()) {
	if n <= 0 {
		return func() {}
	}
	procs, kernelThreads := runtime.GOMAXPROCS(n), kernels.Threads()
	kernels.SetThreads(n)
	return func() {
		kernels.SetThreads(kernelThreads)
		runtime.GOMAXPROCS(procs)
	}
}

// hashProgressMin is the least a model's unhashed weights must weigh for
// hashing them to show progress: below it hashing takes well under a
// second (SHA-256 runs at about 1.5 GB/s a core).
const hashProgressMin = 256 << 20

// byteProgress shows the hashing of a model's weight files (the model
// fingerprint): a byte-counting bar on a terminal; in logs a line when it
// starts, then every logInterval or tenth of the bytes ("hashing weights
// 3.2/16.0 GB, 1.5 GB/s, ETA 8s"). Nothing at all for less than
// hashProgressMin.
type byteProgress struct {
	w           io.Writer
	enabled     bool
	description string
	bar         *progressbar.ProgressBar
	start       time.Time
	now         func() time.Time // time.Now; replaced in tests
	lastLine    time.Time
	lastDone    int64
	started     bool
}

func newByteProgress(w io.Writer, enabled bool, description string) *byteProgress {
	b := &byteProgress{w: w, enabled: enabled, description: description, now: time.Now}
	b.start, b.lastLine = b.now(), b.now()
	return b
}

// update records done of total bytes hashed.
func (b *byteProgress) update(done, total int64) {
	if total < hashProgressMin {
		return
	}
	if b.enabled {
		if b.bar == nil {
			b.bar = progressbar.NewOptions64(total,
				progressbar.OptionSetWriter(b.w),
				progressbar.OptionSetDescription(b.description),
				progressbar.OptionShowBytes(true),
				progressbar.OptionShowCount(),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionClearOnFinish(),
			)
		}
		_ = b.bar.Set64(done)
		return
	}
	now := b.now()
	if !b.started {
		b.started = true
		fmt.Fprintf(b.w, "%s: %s, once per weight file (the sums are cached)\n", b.description, gigabytes(total))
	}
	step := max(total/10, 1)
	if now.Sub(b.lastLine) < logInterval && done/step == b.lastDone/step && done < total {
		return
	}
	b.lastLine, b.lastDone = now, done
	line := fmt.Sprintf("%s %s/%s", b.description, strings.TrimSuffix(gigabytes(done), " GB"), gigabytes(total))
	if elapsed := now.Sub(b.start); elapsed > 0 && done > 0 {
		rate := float64(done) / elapsed.Seconds()
		line += fmt.Sprintf(", %.1f GB/s", rate/1e9)
		if done < total {
			line += ", ETA " + time.Duration(float64(total-done)/rate*float64(time.Second)).Round(time.Second).String()
		}
	}
	fmt.Fprintln(b.w, line)
}

func (b *byteProgress) finish() {
	if b.bar != nil {
		_ = b.bar.Finish()
	}
}

// gigabytes writes n bytes as "16.1 GB".
func gigabytes(n int64) string { return fmt.Sprintf("%.1f GB", float64(n)/1e9) }
