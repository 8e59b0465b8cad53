package sumcache

import (
	"os"
	"syscall"
)

// identity returns the device, inode and change time of the file info
// describes: a file replaced by another (a new inode) or rewritten in
// place with its modification time restored (the change time moves; no
// user can set it) no longer matches its entry.
func identity(info os.FileInfo) (dev, inode uint64, ctime int64) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, 0
	}
	return uint64(st.Dev), st.Ino, st.Ctim.Nano()
}
