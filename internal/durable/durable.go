// Package durable writes small files that must survive a power cut whole:
// the gateway's identity (TPM key blobs, certificate) and control plane
// state. A plain write, or write-then-rename without fsync, can leave an
// empty file after a power cut on ext4 (delayed allocation), and an
// identity that cannot be loaded bricks the gateway.
package durable

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data: it writes a temporary file in the same
// directory, fsyncs it, renames it over path and fsyncs the directory, so
// after a crash path holds either the old or the new content, never a mix
// or nothing. (github.com/google/renameio does the first three steps but
// not the directory fsync, which makes a new file's name durable.)
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	err = tmp.Chmod(perm)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
