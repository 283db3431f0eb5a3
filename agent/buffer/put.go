package buffer

import (
	"context"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/streamforge/streamforge/adapters"
)

// request is one Put waiting for the committer.
type request struct {
	readings []adapters.Reading
	items    []item
	arena    []byte // the encoded bodies
	reserved int64  // bytes reserved for the items of blocking rules
	done     chan error
}

type item struct {
	rule       *rule
	key        string
	start, end int // body within the request's arena
	seq        uint64
}

func (it *item) charge() int64 { return int64(it.end-it.start) + recordOverhead }

// Put commits readings durably and returns once they are fsynced (or an
// error, and then none counts as taken). It writes each reading's assigned
// Seq into readings; a reading its rule dropped keeps Seq 0. A blocking rule
// makes Put wait for space until ctx ends; once submitted to the committer a
// Put always waits for the commit, so a cancelled ctx never leaves readings
// committed behind an error.
func (b *Buffer) Put(ctx context.Context, readings []adapters.Reading) error {
	if len(readings) == 0 {
		return nil
	}
	req := &request{readings: readings, items: make([]item, len(readings)), done: make(chan error, 1)}
	arena := make([]byte, 0, 64*len(readings))
	for i := range readings {
		r := &readings[i]
		key := r.StreamKey()
		start := len(arena)
		var err error
		if arena, err = encodeBody(arena, r); err != nil {
			return fmt.Errorf("buffer put: %w", err)
		}
		it := item{rule: b.ruleFor(r.Device, key), key: key, start: start, end: len(arena)}
		if it.rule.Policy == Block {
			req.reserved += it.charge()
		}
		req.items[i] = it
	}
	req.arena = arena
	if err := b.enter(ctx, req.reserved); err != nil {
		return err
	}
	defer b.wg.Done()
	b.reqs <- req
	return <-req.done
}

// enter reserves space for a Put's blocking part, waiting for it if needed,
// and registers the Put as in flight.
func (b *Buffer) enter(ctx context.Context, need int64) error {
	if need > b.opts.MaxBytes {
		return fmt.Errorf("buffer put: %d bytes, limit %d: %w", need, b.opts.MaxBytes, ErrTooLarge)
	}
	var blockedSince time.Time
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return ErrClosed
		}
		if b.committed+b.reserved+need <= b.opts.MaxBytes {
			b.reserved += need
			b.wg.Add(1)
			b.mu.Unlock()
			if !blockedSince.IsZero() && b.metrics != nil {
				b.metrics.blocked.Add(time.Since(blockedSince).Seconds())
			}
			return nil
		}
		freed := b.freed
		b.mu.Unlock()
		if blockedSince.IsZero() {
			blockedSince = time.Now()
		}
		select {
		case <-freed:
		case <-b.quit:
		case <-ctx.Done():
			return fmt.Errorf("buffer full: %w", ctx.Err())
		}
	}
}

// commitLoop is the one writer: it takes every Put waiting, commits them in
// one transaction, and answers them all.
func (b *Buffer) commitLoop() {
	defer close(b.done)
	var batch []*request
	for req := range b.reqs {
		batch = append(batch[:0], req)
		n := len(req.items)
	drain:
		for n < b.opts.MaxBatch {
			select {
			case r, ok := <-b.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
				n += len(r.items)
			default:
				break drain
			}
		}
		err := b.commit(batch, n)
		if err != nil {
			b.log.Error("commit failed", "readings", n, "err", err)
		}
		for _, r := range batch {
			r.done <- err
		}
		clear(batch)
	}
}

// txResult is what one commit changed, applied to memory after it succeeds.
type txResult struct {
	added, dropped uint64
	bytes          int64
	freed          bool
	lastID         uint64
	touched        map[string]uint64
	drops          map[*rule]uint64
}

func (b *Buffer) commit(batch []*request, n int) error {
	start := time.Now()
	var reserved int64
	size := 0
	for _, r := range batch {
		reserved += r.reserved
		size += len(r.arena) + len(r.items)*headerLen
	}
	b.mu.Lock()
	used := b.committed + b.reserved
	b.mu.Unlock()
	res := txResult{touched: map[string]uint64{}, drops: map[*rule]uint64{}}
	vals := make([]byte, 0, size) // never grows: bbolt keeps the slices until commit
	keys := make([]byte, 0, 8*n)
	err := b.db.Update(func(tx *bolt.Tx) error {
		meta, seqs := tx.Bucket(metaBucket), tx.Bucket(seqBucket)
		next := getU64(meta.Get(keyNext))
		bkts := map[*rule]*bolt.Bucket{}
		for _, req := range batch {
			for i := range req.items {
				it := &req.items[i]
				bk := bkts[it.rule]
				if bk == nil {
					bk = tx.Bucket(it.rule.bucket)
					bk.FillPercent = 0.95 // keys only ever append
					bkts[it.rule] = bk
				}
				charge := it.charge()
				if it.rule.Policy != Block {
					if used+charge > b.opts.MaxBytes && it.rule.Policy == DropOldest {
						freed, cnt, err := dropOldest(bk, used+charge-b.opts.MaxBytes)
						if err != nil {
							return err
						}
						used, res.bytes, res.dropped = used-freed, res.bytes-freed, res.dropped+cnt
						res.drops[it.rule] += cnt
						res.freed = res.freed || cnt > 0
					}
					if used+charge > b.opts.MaxBytes {
						res.drops[it.rule]++
						it.seq = 0
						continue
					}
					used += charge
				}
				it.seq = b.nextSeq(seqs, it.key, res.touched)
				next++
				off := len(vals)
				vals = appendRecord(vals, it.seq, start, req.arena[it.start:it.end])
				koff := len(keys)
				keys = appendU64(keys, next)
				if err := bk.Put(keys[koff:], vals[off:]); err != nil {
					return err
				}
				res.bytes += charge
				res.added++
			}
		}
		res.lastID = next
		return b.writeCounters(meta, seqs, &res)
	})
	b.apply(err, reserved, &res, batch, n, start)
	if err != nil {
		return fmt.Errorf("buffer commit: %w", err)
	}
	return nil
}

// nextSeq returns the stream's next Seq, looking in this commit, then the
// cache, then the file.
func (b *Buffer) nextSeq(seqs *bolt.Bucket, key string, touched map[string]uint64) uint64 {
	last, ok := touched[key]
	if !ok {
		if last, ok = b.seqs[key]; !ok {
			last = getU64(seqs.Get([]byte(key)))
		}
	}
	touched[key] = last + 1
	return last + 1
}

func (b *Buffer) writeCounters(meta, seqs *bolt.Bucket, res *txResult) error {
	keys := make([]string, 0, len(res.touched))
	for k := range res.touched {
		keys = append(keys, k)
	}
	slices.Sort(keys) // sequential puts touch each page once
	for _, k := range keys {
		if err := seqs.Put([]byte(k), putU64(res.touched[k])); err != nil {
			return err
		}
	}
	if err := meta.Put(keyNext, putU64(res.lastID)); err != nil {
		return err
	}
	return addCounters(meta, res.bytes, int64(res.added)-int64(res.dropped))
}

// addCounters adds to the persisted byte and record counts.
func addCounters(meta *bolt.Bucket, bytes, records int64) error {
	nb := int64(getU64(meta.Get(keyBytes))) + bytes
	nr := int64(getU64(meta.Get(keyRecords))) + records
	if nb < 0 || nr < 0 {
		return fmt.Errorf("counters would go negative (bytes %d, records %d): %w", nb, nr, errCorrupt)
	}
	if err := meta.Put(keyBytes, putU64(uint64(nb))); err != nil {
		return err
	}
	return meta.Put(keyRecords, putU64(uint64(nr)))
}

// apply publishes a commit's effects in memory and answers nothing itself.
func (b *Buffer) apply(err error, reserved int64, res *txResult, batch []*request, n int, start time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reserved -= reserved
	if err != nil {
		if reserved > 0 {
			signal(&b.freed)
		}
		return
	}
	for k, v := range res.touched {
		b.seqs[k] = v
	}
	for _, req := range batch {
		for i := range req.items {
			req.readings[i].Seq = req.items[i].seq
		}
	}
	b.committed += res.bytes
	b.records = b.records + res.added - res.dropped
	for ru, cnt := range res.drops {
		b.countDrops(ru, ru.Policy, cnt)
	}
	if res.freed {
		signal(&b.freed)
	}
	if res.added > 0 {
		b.lastID.Store(res.lastID)
		signal(&b.grown)
	}
	if b.metrics != nil {
		b.metrics.batch.Observe(float64(n))
		b.metrics.commit.Observe(time.Since(start).Seconds())
	}
}

// dropOldest deletes a bucket's oldest records until need bytes are freed
// or the bucket is empty.
func dropOldest(bk *bolt.Bucket, need int64) (freed int64, n uint64, err error) {
	c := bk.Cursor()
	for k, v := c.First(); k != nil && freed < need; k, v = c.First() {
		freed += recordCharge(v)
		n++
		if err := c.Delete(); err != nil {
			return freed, n, err
		}
	}
	return freed, n, nil
}
