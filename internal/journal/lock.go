package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/compresskv/compresskv/internal/filelock"
)

// holder is what a lock file says about the run holding it.
type holder struct {
	PID     int    `json:"pid"`
	Host    string `json:"host"`
	Started string `json:"started"` // RFC 3339, UTC
}

func (h holder) String() string {
	return fmt.Sprintf("pid %d on %s, started %s", h.PID, h.Host, h.Started)
}

// lockPath is the lock file of a journal. The journal itself cannot carry
// the lock: every rewrite renames a new file over it.
func lockPath(path string) string { return path + ".lock" }

// lockFile is a held lock on a journal.
type lockFile struct {
	f    *os.File
	path string
}

// lock takes the exclusive lock of the journal at path, or fails at once
// naming the run that holds it. The lock file is left in place by a killed
// run; the kernel has released its lock, so the next run takes it.
func lock(path string) (*lockFile, error) {
	lp := lockPath(path)
	for range 10 {
		f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("%s: lock: %w", path, err)
		}
		if err := filelock.TryLock(f); err != nil {
			f.Close()
			if !errors.Is(err, filelock.ErrHeld) {
				return nil, fmt.Errorf("%s: lock: %w", path, err)
			}
			who := "another process"
			if data, rerr := os.ReadFile(lp); rerr == nil {
				var h holder
				if json.Unmarshal(data, &h) == nil && h.PID != 0 {
					who = h.String()
				}
			}
			return nil, fmt.Errorf("%s is in use by another compresskv run (%s); wait for it to finish or stop it, or write to another --output", path, who)
		}
		// The holder we waited on may have removed the file between our
		// open and our lock: then we hold a lock on a name nobody sees.
		st, err1 := f.Stat()
		cur, err2 := os.Stat(lp)
		if err1 != nil || err2 != nil || !os.SameFile(st, cur) {
			f.Close()
			continue
		}
		host, _ := os.Hostname()
		data, _ := json.Marshal(holder{PID: os.Getpid(), Host: host, Started: time.Now().UTC().Format(time.RFC3339)})
		if err := f.Truncate(0); err == nil {
			f.WriteAt(append(data, '\n'), 0) // only informs a second run's message
		}
		return &lockFile{f: f, path: lp}, nil
	}
	return nil, fmt.Errorf("%s: lock: the lock file keeps changing under us", path)
}

// unlock removes the lock file and releases the lock (in that order, so a
// waiting run never locks a file that is about to vanish unseen: it checks
// the name after locking).
func (l *lockFile) unlock() {
	if l == nil || l.f == nil {
		return
	}
	os.Remove(l.path)
	l.f.Close()
	l.f = nil
}
