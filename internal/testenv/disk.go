package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// SmallDisk mounts a tmpfs of size bytes in a new temporary directory and
// returns the directory; it is unmounted at cleanup. It needs root (CI and
// the dev containers run tests as root).
func SmallDisk(t testing.TB, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		Missing(t, "mount a %d-byte tmpfs (needs root): %v", size, err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// Filler occupies a filesystem's free space with one file.
type Filler struct{ path string }

// FillDisk allocates a file in dir that leaves about leave bytes free.
func FillDisk(t testing.TB, dir string, leave int64) *Filler {
	t.Helper()
	free := FreeBytes(t, dir)
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n := free - leave; n > 0 {
		if err := syscall.Fallocate(int(f.Fd()), 0, 0, n); err != nil {
			t.Fatalf("fill %s with %d bytes: %v", dir, n, err)
		}
	}
	return &Filler{path: f.Name()}
}

// Free releases n bytes of the filler (all of it when n <= 0).
func (f *Filler) Free(t testing.TB, n int64) {
	t.Helper()
	st, err := os.Stat(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if n <= 0 || n >= st.Size() {
		err = os.Remove(f.path)
	} else {
		err = os.Truncate(f.path, st.Size()-n)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// FreeBytes is the space an unprivileged writer may still use in dir's
// filesystem.
func FreeBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}
