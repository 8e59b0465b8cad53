package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/compresskv/compresskv/model/synth"
)

// writeSynthModel writes the synthetic model of o into dir; tests replace it.
var writeSynthModel = func(dir string, o synth.Options) error {
	_, err := synth.Write(dir, o)
	return err
}

// syntheticModelDir returns the folder of the built-in synthetic model
// (synth.DefaultOptions). It is written once into the user cache folder
// (<cache>/compresskv/synth-<version>-seed<N>) and reused; when the cache
// cannot be written, into a fresh temporary folder that cleanup removes.
func syntheticModelDir() (dir string, cleanup func(), err error) {
	o := synth.DefaultOptions()
	if cache, err := os.UserCacheDir(); err == nil {
		if dir, err := cachedSynthModel(filepath.Join(cache, "compresskv"), o, writeSynthModel); err == nil {
			return dir, func() {}, nil
		}
	}
	tmp, err := os.MkdirTemp("", "compresskv-synth-")
	if err != nil {
		return "", nil, err
	}
	if err := writeSynthModel(tmp, o); err != nil {
		os.RemoveAll(tmp)
		return "", nil, err
	}
	return tmp, func() { os.RemoveAll(tmp) }, nil
}

// synthCacheName names the cached synthetic model of o. The generator's
// revision is part of it, so a changed generator never reuses an old model.
func synthCacheName(o synth.Options) string {
	name := fmt.Sprintf("synth-r%d-seed%d", synth.Revision, o.Seed)
	if o.Layers != synth.DefaultOptions().Layers {
		name += fmt.Sprintf("-layers%d", o.Layers)
	}
	if o.Streaming {
		name += "-streaming"
	}
	return name
}

// cachedSynthModel returns root/synthCacheName(o), writing it with write
// when it is absent or incomplete. The model is written into a temporary
// folder beside it and renamed into place, so an interrupted write leaves
// no half model behind and concurrent runs each rename a complete one (the
// first wins; the others use it).
func cachedSynthModel(root string, o synth.Options, write func(string, synth.Options) error) (string, error) {
	name := synthCacheName(o)
	final := filepath.Join(root, name)
	if synthComplete(final) {
		return final, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(root, name+".partial-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // nothing left to remove after the rename
	if err := write(tmp, o); err != nil {
		return "", err
	}
	if !synthComplete(tmp) {
		return "", fmt.Errorf("%s: the synthetic model writer left out some of %v", tmp, synth.Files)
	}
	err = os.Rename(tmp, final)
	if err != nil && !synthComplete(final) {
		// An incomplete folder (damaged by hand, or an older layout) is in
		// the way: replace it.
		if rmErr := os.RemoveAll(final); rmErr != nil {
			return "", errors.Join(err, rmErr)
		}
		err = os.Rename(tmp, final)
	}
	if err != nil && !synthComplete(final) {
		return "", err
	}
	return final, nil
}

// synthComplete reports whether dir holds every file of a synthetic model.
func synthComplete(dir string) bool {
	for _, name := range synth.Files {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !info.Mode().IsRegular() || info.Size() == 0 {
			return false
		}
	}
	return true
}
