package safetensors

import (
	"fmt"
	"math"
	"os"
	"slices"
)

// File is one .safetensors file, memory-mapped read-only and validated.
// Tensors returned by it view the mapping and are valid until Close.
type File struct {
	path   string
	info   os.FileInfo  // the file's stat when it was opened
	data   []byte       // the whole file (mapped, or read on hosts without mmap)
	unmap  func() error // releases data; nil once closed
	header *header
	byName map[string]int // index into header.infos
}

// Open maps the safetensors file at path and validates its header: the
// tensors must be well formed and tile the data area exactly.
func Open(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fd.Close() // the mapping outlives the descriptor
	st, err := fd.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	size := st.Size()
	if size < 8 {
		return nil, fmt.Errorf("%s: file is %d bytes, shorter than the 8-byte header length prefix", path, size)
	}
	if uint64(size) > math.MaxInt {
		return nil, fmt.Errorf("%s: file is %d bytes, too big to map on this host", path, size)
	}
	data, unmap, err := mapFile(fd, int(size))
	if err != nil {
		return nil, fmt.Errorf("%s: map: %w", path, err)
	}
	f, err := newFile(path, data)
	if err != nil {
		unmap()
		return nil, err
	}
	f.unmap, f.info = unmap, st
	return f, nil
}

// newFile validates data, a whole safetensors file, and indexes its tensors.
func newFile(path string, data []byte) (*File, error) {
	h, err := parseHeader(path, data)
	if err != nil {
		return nil, err
	}
	f := &File{path: path, data: data, header: h, byName: make(map[string]int, len(h.infos))}
	for i, info := range h.infos {
		f.byName[info.Name] = i
	}
	return f, nil
}

// Path returns the path the file was opened with.
func (f *File) Path() string { return f.path }

// Stat returns what stat said of the file when it was opened (nil for a
// File not opened from disk).
func (f *File) Stat() os.FileInfo { return f.info }

// Size returns the file's length in bytes.
func (f *File) Size() int64 { return int64(len(f.data)) }

// Close unmaps the file. Tensor data obtained from it must not be used
// afterwards. Closing twice is harmless.
func (f *File) Close() error {
	if f.unmap == nil {
		return nil
	}
	err := f.unmap()
	f.unmap, f.data = nil, nil
	if err != nil {
		return fmt.Errorf("%s: unmap: %w", f.path, err)
	}
	return nil
}

// Header returns a copy of the raw JSON header bytes, padding included, for
// example to fingerprint a model.
func (f *File) Header() []byte {
	if f.data == nil {
		return nil
	}
	return slices.Clone(f.data[8:f.header.dataStart])
}

// Metadata returns the header's "__metadata__" map (nil when absent). The
// map is a copy.
func (f *File) Metadata() map[string]string {
	if f.header.metadata == nil {
		return nil
	}
	m := make(map[string]string, len(f.header.metadata))
	for k, v := range f.header.metadata {
		m[k] = v
	}
	return m
}

// Infos returns the tensors of the file sorted by name.
func (f *File) Infos() []TensorInfo {
	out := make([]TensorInfo, len(f.header.infos))
	for i, info := range f.header.infos {
		out[i] = info.clone()
	}
	return out
}

// Info returns the description of the named tensor.
func (f *File) Info(name string) (TensorInfo, bool) {
	i, ok := f.byName[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.header.infos[i].clone(), true
}

// Release tells the OS that the named tensor's bytes will not be read for a
// while (a caller that keeps its own converted copy), so their pages leave
// the process's resident memory; reading the tensor later stays valid (the
// pages come back from the file). It does nothing where files are read
// rather than mapped, for an unknown name, or once the file is closed.
func (f *File) Release(name string) {
	i, ok := f.byName[name]
	if !ok || f.unmap == nil {
		return
	}
	info := f.header.infos[i]
	release(f.data[f.header.dataStart+info.Begin : f.header.dataStart+info.End])
}

// Tensor returns the named tensor with Data viewing the mapping.
func (f *File) Tensor(name string) (Tensor, error) {
	i, ok := f.byName[name]
	if !ok {
		return Tensor{}, fmt.Errorf("%s: tensor %q: not in the file (it has %d tensors)", f.path, name, len(f.header.infos))
	}
	if f.unmap == nil && f.data == nil {
		return Tensor{}, fmt.Errorf("%s: tensor %q: file is closed", f.path, name)
	}
	info := f.header.infos[i]
	begin, end := f.header.dataStart+info.Begin, f.header.dataStart+info.End
	return Tensor{TensorInfo: info.clone(), File: f.path, Data: f.data[begin:end:end]}, nil
}

func (t TensorInfo) clone() TensorInfo {
	t.Shape = slices.Clone(t.Shape)
	if t.Shape == nil {
		t.Shape = []int{}
	}
	return t
}
