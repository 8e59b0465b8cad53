package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: the controlling side the test reads
// and the terminal side the command writes to, as a terminal emulator has.
func openPTY(t *testing.T) (control, terminal *os.File) {
	t.Helper()
	control, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	fd := int(control.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	terminal, err = os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the terminal side: %v", err)
	}
	return control, terminal
}

// TestProgressBarOnTerminal runs `compresskv profile` with stderr on a
// pseudo-terminal: it draws a progress bar counting the probes; with stderr
// on a pipe the same run draws none (no carriage returns), so logs stay
// readable.
func TestProgressBarOnTerminal(t *testing.T) {
	bin := buildBinary(t)
	cache := t.TempDir()
	args := []string{"profile", "--lengths", "256,512", "--depths", "0,50,100"}
	env := append(os.Environ(), "XDG_CACHE_HOME="+cache)

	control, terminal := openPTY(t)
	defer control.Close()
	cmd := exec.Command(bin, append(args, "-o", filepath.Join(t.TempDir(), "p.json"))...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, io.Discard, terminal
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	terminal.Close() // the child holds its own copy
	var screen bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&screen, control); close(done) }() // ends with EIO when the child exits
	if err := cmd.Wait(); err != nil {
		t.Fatalf("profile on a terminal: %v\n%s", err, screen.String())
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal side did not close after the command ended")
	}
	got := screen.String()
	if !strings.Contains(got, "\r") || !strings.Contains(got, "/12") {
		t.Errorf("no progress bar over the 12 probes on the terminal:\n%q", got)
	}

	var piped bytes.Buffer
	cmd = exec.Command(bin, append(args, "-o", filepath.Join(t.TempDir(), "p.json"))...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, io.Discard, &piped
	if err := cmd.Run(); err != nil {
		t.Fatalf("profile with stderr on a pipe: %v\n%s", err, piped.String())
	}
	if strings.Contains(piped.String(), "\r") {
		t.Errorf("a progress bar was drawn into a pipe:\n%q", piped.String())
	}
}
