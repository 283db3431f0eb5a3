package buffer

import (
	"errors"
	"maps"
	"slices"
	"time"
)

// A full disk (ENOSPC or a quota) fails a whole commit. The buffer then
// applies the streams' policies to the disk as it does to MaxBytes, so that
// no reading is lost without a count and a log line:
//   - readings of drop_oldest and drop_newest streams are dropped (they get
//     no seq) and counted in Stats.Unstored under reason "disk_full";
//   - Puts with readings of blocking streams are held: the committer retries
//     them every retryEvery, first in every batch, until the disk has space,
//     so their adapters stop polling and lose nothing. A caller whose
//     context ends while its Put is held gets an error, and the readings are
//     counted under reason "cancelled"; at Close held readings are counted
//     under "closed";
//   - deletes of delivered records are deferred (Buffer.gone): Read no
//     longer returns those records and every later commit retries them.
// Open's reservation (space.go) keeps this path for disks where the file
// could not be pre-allocated or grew beyond its reservation.

const (
	retryEvery   = 200 * time.Millisecond
	fullLogEvery = 10 * time.Second
)

// Reasons a reading was not stored (Stats.Unstored, the unstored metric).
const (
	reasonDiskFull  = "disk_full"
	reasonCancelled = "cancelled"
	reasonClosed    = "closed"
)

var errClosedDiskFull = errors.New("buffer closed while the disk was full: readings not stored")

// holdOnFullDisk answers what a full disk allows and returns the Puts to
// retry.
func (b *Buffer) holdOnFullDisk(batch []*request, err error) (held []*request) {
	closing := b.isClosing()
	b.noteDiskFull(err, len(batch)) // before answering: callers see Stats.DiskFull
	for _, r := range batch {
		if len(r.acks) > 0 {
			b.deferDeletes(r.acks)
			b.answer(r, nil)
			continue
		}
		waits := false
		for i := range r.items {
			it := &r.items[i]
			switch {
			case it.dropped:
			case it.rule.Policy == Block && !closing:
				waits = true
			case it.rule.Policy == Block:
				it.dropped = true
				b.countUnstored(it.rule, reasonClosed, 1)
			default:
				it.dropped = true
				b.countUnstored(it.rule, reasonDiskFull, 1)
			}
		}
		switch {
		case waits:
			if r.heldAt.IsZero() {
				r.heldAt = time.Now()
			}
			r.state.Store(reqHeld)
			select {
			case r.heldCh <- struct{}{}:
			default:
			}
			held = append(held, r)
		case closing && r.hasBlocking():
			b.answer(r, errClosedDiskFull)
		default:
			b.answer(r, nil) // every reading dropped, as its policy says
		}
	}
	return held
}

func (r *request) hasBlocking() bool {
	for i := range r.items {
		if r.items[i].rule.Policy == Block {
			return true
		}
	}
	return false
}

// stillWanted returns the held Puts whose callers still wait, ready to be
// committed again; withdrawn ones are counted and forgotten.
func (b *Buffer) stillWanted(held []*request) []*request {
	out := held[:0]
	for _, r := range held {
		if r.state.CompareAndSwap(reqHeld, reqQueued) {
			out = append(out, r)
			continue
		}
		for i := range r.items {
			if it := &r.items[i]; !it.dropped && it.rule.Policy == Block {
				b.countUnstored(it.rule, reasonCancelled, 1)
			}
		}
		b.answer(r, errClosedDiskFull) // nobody reads it; releases the reservation
	}
	return out
}

func (b *Buffer) isClosing() bool {
	select {
	case <-b.quit:
		return true
	default:
		return false
	}
}

func (b *Buffer) countUnstored(ru *rule, reason string, n uint64) {
	b.mu.Lock()
	b.unstored[ru.Name+"/"+string(ru.Policy)+"/"+reason] += n
	b.mu.Unlock()
	if b.metrics != nil {
		b.metrics.unstored.WithLabelValues(ru.Name, string(ru.Policy), reason).Add(float64(n))
	}
}

// noteDiskFull marks the disk full and logs it, at most every fullLogEvery.
// (Lock order: mu, then goneMu.)
func (b *Buffer) noteDiskFull(err error, requests int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.diskFull = true
	if now := time.Now(); now.Sub(b.fullLog) >= fullLogEvery {
		b.fullLog = now
		b.log.Warn("disk full: the buffer cannot commit; blocking streams wait, drop_* streams drop, deletes are retried",
			"err", err, "requests", requests, "unstored", maps.Clone(b.unstored), "pending_deletes", b.pendingDeletes())
	}
}

// diskSpaceBack notes a successful commit.
func (b *Buffer) diskSpaceBack() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.diskFull {
		b.diskFull = false
		b.fullLog = time.Time{}
		b.log.Info("disk space is back: the buffer commits again", "unstored", maps.Clone(b.unstored))
	}
}

// deferDeletes remembers delivered records whose delete failed.
func (b *Buffer) deferDeletes(ids []uint64) {
	b.goneMu.Lock()
	for _, id := range ids {
		b.gone[id] = struct{}{}
	}
	b.goneMu.Unlock()
}

// undefer forgets the deferred deletes a successful commit carried out.
func (b *Buffer) undefer(batch []*request) {
	b.goneMu.Lock()
	defer b.goneMu.Unlock()
	if len(b.gone) == 0 {
		return
	}
	for _, r := range batch {
		for _, id := range r.acks {
			delete(b.gone, id)
		}
	}
}

func (b *Buffer) goneIDs() []uint64 {
	b.goneMu.RLock()
	defer b.goneMu.RUnlock()
	if len(b.gone) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(b.gone))
}

func (b *Buffer) pendingDeletes() int {
	b.goneMu.RLock()
	defer b.goneMu.RUnlock()
	return len(b.gone)
}

// oldestKept is oldest, skipping (and moving past) records in gone.
func oldestKept(heads []head, gone map[uint64]struct{}) int {
	for {
		i := oldest(heads)
		if i < 0 || len(gone) == 0 {
			return i
		}
		if _, skip := gone[getU64(heads[i].k)]; !skip {
			return i
		}
		heads[i].k, heads[i].v = heads[i].c.Next()
	}
}
