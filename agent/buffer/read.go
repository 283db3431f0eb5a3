package buffer

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Read appends to dst[:0] up to max records with IDs above after, oldest
// first, and returns the result; passing the previous result as dst reuses
// its memory. Pass after 0 to start at the oldest record. A record that
// cannot be decoded (a damaged disk, a bug) is logged, counted in
// Stats.Corrupt and deleted, so that it cannot stall delivery of everything
// behind it.
func (b *Buffer) Read(dst []Record, after uint64, max int) ([]Record, error) {
	out := dst[:0]
	if max <= 0 {
		return out, nil
	}
	var corrupt []uint64
	b.namesMu.Lock()
	defer b.namesMu.Unlock()
	if len(b.names) > maxInterned {
		clear(b.names)
	}
	names := b.names
	b.goneMu.RLock()
	err := b.db.View(func(tx *bolt.Tx) error {
		heads := b.seekAll(tx, after+1)
		for len(out) < max {
			i := oldestKept(heads, b.gone)
			if i < 0 {
				break
			}
			h := &heads[i]
			stored, _ := storedAt(h.v) // an undecodable record is caught below
			out = append(out, Record{ID: getU64(h.k), Stored: stored})
			if err := decodeRecord(h.v, &out[len(out)-1].Reading, names); err != nil {
				corrupt = append(corrupt, getU64(h.k))
				out = out[:len(out)-1]
			}
			h.k, h.v = h.c.Next()
		}
		return nil
	})
	b.goneMu.RUnlock()
	if err != nil {
		return out[:0], fmt.Errorf("buffer read: %w", err)
	}
	if len(corrupt) > 0 {
		if err := b.discard(corrupt); err != nil {
			return out[:0], err
		}
	}
	return out, nil
}

// maxInterned bounds Read's table of gateway, device and tag names (one
// string per distinct name instead of one per record).
const maxInterned = 100_000

// discard deletes undecodable records.
func (b *Buffer) discard(ids []uint64) error {
	b.log.Error("deleting undecodable buffer records", "count", len(ids), "first_id", ids[0])
	if err := b.Ack(ids...); err != nil {
		return fmt.Errorf("buffer read: delete corrupt records: %w", err)
	}
	b.mu.Lock()
	b.corrupt += uint64(len(ids))
	b.mu.Unlock()
	if b.metrics != nil {
		b.metrics.corrupt.Add(float64(len(ids)))
	}
	return nil
}

// head is a cursor over one rule's bucket and its current record.
type head struct {
	c    *bolt.Cursor
	k, v []byte
}

func (b *Buffer) seekAll(tx *bolt.Tx, from uint64) []head {
	heads := make([]head, len(b.buckets))
	key := putU64(from)
	for i, name := range b.buckets {
		heads[i].c = tx.Bucket(name).Cursor()
		heads[i].k, heads[i].v = heads[i].c.Seek(key)
	}
	return heads
}

// oldest returns the index of the head with the smallest key, or -1.
func oldest(heads []head) int {
	best := -1
	for i := range heads {
		if heads[i].k != nil && (best < 0 || bytes.Compare(heads[i].k, heads[best].k) < 0) {
			best = i
		}
	}
	return best
}

// LastID returns the ID of the newest record committed (it may have been
// acknowledged or dropped since); 0 before the first.
func (b *Buffer) LastID() uint64 { return b.lastID.Load() }

// Wait blocks until a record with an ID above after exists, ctx ends (its
// error is returned) or the buffer closes (ErrClosed).
func (b *Buffer) Wait(ctx context.Context, after uint64) error {
	for {
		b.mu.Lock()
		grown := b.grown
		b.mu.Unlock()
		if b.lastID.Load() > after {
			found, err := b.exists(after)
			if err != nil || found {
				return err
			}
		}
		select {
		case <-grown:
		case <-b.quit:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// exists reports whether a record with an ID above after is stored and
// not delivered: the records above it may all have been dropped or
// acknowledged.
func (b *Buffer) exists(after uint64) (bool, error) {
	found := false
	b.goneMu.RLock()
	defer b.goneMu.RUnlock()
	err := b.db.View(func(tx *bolt.Tx) error {
		found = oldestKept(b.seekAll(tx, after+1), b.gone) >= 0
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("buffer wait: %w", err)
	}
	return found, nil
}

// Stats describes the backlog now.
func (b *Buffer) Stats() Stats {
	b.mu.Lock()
	s := Stats{Records: b.records, Bytes: b.committed, MaxBytes: b.opts.MaxBytes, Drops: maps.Clone(b.drops), Corrupt: b.corrupt,
		Unstored: maps.Clone(b.unstored), DiskFull: b.diskFull}
	b.mu.Unlock()
	b.goneMu.RLock()
	defer b.goneMu.RUnlock()
	s.PendingDeletes = len(b.gone)
	_ = b.db.View(func(tx *bolt.Tx) error {
		heads := b.seekAll(tx, 0)
		if i := oldestKept(heads, b.gone); i >= 0 {
			if t, err := storedAt(heads[i].v); err == nil {
				s.OldestAge = max(time.Since(t), 0)
			}
		}
		return nil
	})
	return s
}
