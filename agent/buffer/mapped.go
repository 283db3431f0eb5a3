package buffer

import (
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// releaseEvery spaces the releases of the buffer file's mapped pages.
const releaseEvery = time.Second

// releaseMapped drops the buffer file's pages from the agent's page tables.
// bbolt reads records through a shared read-only mapping of the file, so
// every page the forwarder has read stays counted in the agent's resident
// memory until the kernel reclaims it: a backlog of a few hundred megabytes
// would show as an agent of a few hundred megabytes. The pages stay in the
// page cache; a page read again is mapped back by a minor fault (about a
// microsecond for 4 KiB, negligible beside the commits that wrote it).
//
// It runs inside a read transaction, which keeps bbolt from remapping the
// file meanwhile, and covers only the pages in use (tx.Size), which the
// mapping always holds.
func (b *Buffer) releaseMapped() {
	_ = b.db.View(func(tx *bolt.Tx) error {
		_, _, errno := unix.Syscall(unix.SYS_MADVISE, b.db.Info().Data, uintptr(tx.Size()), unix.MADV_DONTNEED)
		if errno != 0 {
			b.log.Debug("releasing the buffer's mapped pages failed", "err", errno)
		}
		return nil
	})
}

// maybeReleaseMapped releases the mapped pages if releaseEvery has passed
// since the last release. Committer goroutine only.
func (b *Buffer) maybeReleaseMapped() {
	if now := time.Now(); now.Sub(b.released) >= releaseEvery {
		b.released = now
		b.releaseMapped()
	}
}
