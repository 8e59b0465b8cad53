//go:build !unix

package safetensors

import (
	"io"
	"os"
)

// mapFile reads the whole file on hosts without mmap support.
func mapFile(fd *os.File, size int) ([]byte, func() error, error) {
	data := make([]byte, size)
	if _, err := io.ReadFull(fd, data); err != nil {
		return nil, nil, err
	}
	return data, func() error { return nil }, nil
}

// release does nothing: the file was read into the heap.
func release([]byte) {}

// mapped is true where Open maps files rather than reading them.
const mapped = false
