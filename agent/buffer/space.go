package buffer

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// reserveSize is how large the file is made at Open so that MaxBytes of
// records fit without the filesystem being asked for more: bbolt's pages,
// half-filled branch pages and the copy-on-write pages of one commit come
// on top of the records. Measured: a full buffer's high-water mark is about
// 1.12 × MaxBytes; a quarter more plus a few MiB covers a commit of
// MaxBatch records written before the pages it replaces are freed.
func reserveSize(maxBytes int64) int64 { return maxBytes + maxBytes/4 + 4<<20 }

// ErrNoSpace is returned by Open when the filesystem cannot hold the file
// that MaxBytes needs.
var ErrNoSpace = errors.New("not enough free disk space for buffer.max_bytes")

// reserve allocates the file's blocks up to size (never shrinking it), so
// that bbolt's writes inside it cannot fail for lack of space: a file that
// bbolt grows with ftruncate is sparse, and a full disk then fails its
// commits. Filesystems without fallocate are used as they are (the caller
// logs it); a full disk there is handled by the commit loop.
func reserve(path string, size int64) (supported bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, err
	}
	err = syscall.Fallocate(int(f.Fd()), 0, 0, size)
	switch {
	case err == nil:
		return true, f.Sync()
	case errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS):
		return false, nil
	case isNoSpace(err):
		// Give back what a partial allocation took beyond the old end.
		_ = f.Truncate(st.Size())
		var fs syscall.Statfs_t
		free := "unknown"
		if syscall.Statfs(path, &fs) == nil {
			free = fmt.Sprintf("%d MiB", int64(fs.Bavail)*fs.Bsize>>20)
		}
		return true, fmt.Errorf("%w: the buffer file needs %d MiB (max_bytes plus bbolt's overhead), it has %d MiB and the filesystem %s free: free space or lower buffer.max_bytes",
			ErrNoSpace, size>>20, st.Size()>>20, free)
	default:
		return true, fmt.Errorf("reserve %d bytes: %w", size, err)
	}
}

// isNoSpace reports whether err means the filesystem (or a quota) is full.
// bbolt formats some errors with %s, so the text is checked as well.
func isNoSpace(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, syscall.ENOSPC.Error()) || strings.Contains(s, syscall.EDQUOT.Error())
}
