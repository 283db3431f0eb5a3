package logring

import (
	"sync"

	"github.com/streamforge/streamforge/pkg/wire"
)

// Default bounds of a ring: a few minutes of a busy debug log, a day of a
// quiet one, in at most about half a MiB of memory.
const (
	DefaultMaxLines = 2000
	DefaultMaxBytes = 512 << 10
)

// Ring holds the newest log lines, bounded in lines and in bytes; adding a
// line past either bound evicts the oldest. Lines are numbered from 1 in
// the order they were added.
type Ring struct {
	mu       sync.Mutex
	maxBytes int
	buf      []wire.LogEntry // circular, len(buf) = maxLines
	head, n  int             // the oldest line's index, the number held
	bytes    int
	next     uint64 // Seq of the next line
}

// NewRing returns a ring with the given bounds (defaults where <= 0).
func NewRing(maxLines, maxBytes int) *Ring {
	if maxLines <= 0 {
		maxLines = DefaultMaxLines
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	return &Ring{maxBytes: maxBytes, buf: make([]wire.LogEntry, maxLines), next: 1}
}

// at returns the i-th oldest line held.
func (r *Ring) at(i int) *wire.LogEntry { return &r.buf[(r.head+i)%len(r.buf)] }

// add numbers e and keeps it, evicting the oldest lines past the bounds
// (the newest line is always kept).
func (r *Ring) add(e wire.LogEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.Seq = r.next
	r.next++
	for r.n > 0 && (r.n == len(r.buf) || r.bytes+e.Size() > r.maxBytes) {
		old := r.at(0)
		r.bytes -= old.Size()
		*old = wire.LogEntry{} // frees its text
		r.head = (r.head + 1) % len(r.buf)
		r.n--
	}
	*r.at(r.n) = e
	r.n++
	r.bytes += e.Size()
}

// Since returns the oldest lines after line number after, at most
// maxLines of them and about maxBytes (at least one line if any), and how
// many lines after it the ring already evicted.
func (r *Ring) Since(after uint64, maxLines, maxBytes int) (lines []wire.LogEntry, dropped uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == 0 {
		return nil, 0
	}
	first := r.at(0).Seq
	start := 0
	if after+1 < first {
		dropped = first - after - 1
	} else {
		start = int(min(after+1-first, uint64(r.n)))
	}
	size := 0
	for i := start; i < r.n; i++ {
		e := *r.at(i)
		if len(lines) == maxLines || (len(lines) > 0 && size+e.Size() > maxBytes) {
			break
		}
		size += e.Size()
		lines = append(lines, e)
	}
	return lines, dropped
}

// Len returns how many lines and bytes the ring holds.
func (r *Ring) Len() (lines, bytes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n, r.bytes
}
