package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// memAvailable is the memory the kernel says a new allocation can get
// without swapping (MemAvailable in /proc/meminfo), in bytes; 0 when it
// cannot be read (not Linux), which callers treat as unknown.
func memAvailable() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	return parseMemAvailable(bufio.NewScanner(f))
}

// parseMemAvailable reads the MemAvailable line of /proc/meminfo.
func parseMemAvailable(sc *bufio.Scanner) int64 {
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && fields[0] == "MemAvailable:" && fields[2] == "kB" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil || kb < 0 {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
