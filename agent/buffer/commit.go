package buffer

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// commitLoop is the one writer: it takes every Put and Ack waiting, commits
// them in one transaction, and answers them all. Puts a full disk holds
// back (diskfull.go) go first into the next attempt, ahead of newer ones.
func (b *Buffer) commitLoop() {
	defer close(b.done)
	var held []*request
	for {
		batch, ok := b.collect(held)
		if !ok {
			return
		}
		held = b.commitOrHold(batch)
		b.maybeReleaseMapped()
	}
}

// collect returns the next batch: the held Puts still wanted, then what
// waits on the channel (up to MaxBatch), then the deletes still pending.
// With nothing held or pending it waits for a request; otherwise it waits
// at most retryEvery. It returns false once the channel is closed.
func (b *Buffer) collect(held []*request) ([]*request, bool) {
	batch := b.stillWanted(held)
	n := 0
	for _, r := range batch {
		n += len(r.items)
	}
	if len(batch) == 0 && b.pendingDeletes() == 0 {
		req, ok := <-b.reqs
		if !ok {
			return nil, false
		}
		b.dequeued(req)
		batch, n = append(batch, req), len(req.items)+len(req.acks)
	} else {
		quit := b.quit
		if len(batch) == 0 {
			quit = nil // closing matters only to held Puts
		}
		t := time.NewTimer(retryEvery)
		select {
		case req, ok := <-b.reqs:
			if !ok {
				t.Stop()
				return nil, false
			}
			b.dequeued(req)
			batch, n = append(batch, req), n+len(req.items)+len(req.acks)
		case <-t.C:
		case <-quit:
		}
		t.Stop()
	}
drain:
	for n < b.opts.MaxBatch {
		select {
		case r, ok := <-b.reqs:
			if !ok {
				break drain
			}
			b.dequeued(r)
			batch = append(batch, r)
			n += len(r.items) + len(r.acks)
		default:
			break drain
		}
	}
	if ids := b.goneIDs(); len(ids) > 0 {
		batch = append(batch, &request{acks: ids, done: make(chan error, 1)})
	}
	return batch, true
}

// commitOrHold commits a batch and answers its requests, except the Puts a
// full disk holds back, which it returns.
func (b *Buffer) commitOrHold(batch []*request) []*request {
	err := b.commit(batch)
	switch {
	case err == nil:
		b.diskSpaceBack()
		for _, r := range batch {
			b.answer(r, nil)
		}
		return nil
	case isNoSpace(err):
		return b.holdOnFullDisk(batch, err)
	}
	b.log.Error("commit failed", "requests", len(batch), "err", err)
	for _, r := range batch {
		if len(r.acks) > 0 {
			b.deferDeletes(r.acks) // delivered stays delivered: see Buffer.gone
			b.answer(r, nil)
			continue
		}
		b.answer(r, err)
	}
	return nil
}

// answer releases a request's reservation and tells its caller.
func (b *Buffer) answer(r *request, err error) {
	b.mu.Lock()
	if r.reserved > 0 {
		// Also on success: between apply and here the bytes counted twice,
		// and a Put may have started waiting then.
		b.reserved -= r.reserved
		signal(&b.freed)
	}
	b.mu.Unlock()
	if !r.heldAt.IsZero() && b.metrics != nil {
		b.metrics.blocked.Add(time.Since(r.heldAt).Seconds())
	}
	r.done <- err
}

// txResult is what one commit changed, applied to memory after it succeeds.
type txResult struct {
	added, removed uint64 // records written; records acknowledged or dropped
	readings       int    // readings put, dropped or not
	bytes          int64  // net change of the stored bytes
	freed          bool
	lastID         uint64
	seqs           *seqTx
	drops          map[*rule]uint64
}

func (b *Buffer) commit(batch []*request) error {
	start := time.Now()
	size := 0
	res := txResult{seqs: b.seqs.begin(), drops: map[*rule]uint64{}}
	for _, r := range batch {
		size += len(r.arena) + len(r.items)*headerLen
		res.readings += len(r.items)
	}
	b.mu.Lock()
	used := b.committed + b.reserved
	b.mu.Unlock()
	vals := slices.Grow(b.vals[:0], size) // never grows: bbolt keeps the slices until commit
	keys := slices.Grow(b.keys[:0], 8*res.readings)
	err := b.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(metaBucket)
		next := getU64(meta.Get(keyNext))
		freed, acked, err := b.deleteAcked(tx, batch)
		if err != nil {
			return err
		}
		used, res.bytes, res.removed, res.freed = used-freed, -freed, acked, acked > 0
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
				if it.dropped { // by a full disk in an earlier attempt
					it.seq = 0
					continue
				}
				charge := it.charge()
				if it.rule.Policy != Block {
					if used+charge > b.opts.MaxBytes && it.rule.Policy == DropOldest {
						freed, cnt, err := dropOldest(bk, used+charge-b.opts.MaxBytes)
						if err != nil {
							return err
						}
						used, res.bytes, res.removed = used-freed, res.bytes-freed, res.removed+cnt
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
				it.seq = res.seqs.next(it.key)
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
		return b.writeCounters(tx, meta, &res)
	})
	if cap(vals) <= maxScratch {
		b.vals, b.keys = vals[:0], keys[:0]
	}
	if err != nil {
		return fmt.Errorf("buffer commit: %w", err)
	}
	b.apply(&res, batch, start)
	return nil
}

// maxScratch bounds the scratch space kept between commits: the large
// batches of a backlog's drain allocate theirs afresh rather than hold
// megabytes for good.
const maxScratch = 1 << 20

func (b *Buffer) writeCounters(tx *bolt.Tx, meta *bolt.Bucket, res *txResult) error {
	if err := res.seqs.write(tx); err != nil {
		return err
	}
	if err := meta.Put(keyNext, putU64(res.lastID)); err != nil {
		return err
	}
	return addCounters(meta, res.bytes, int64(res.added)-int64(res.removed))
}

// addCounters adds to the persisted byte and record counts. They cannot go
// below zero unless a damaged record was deleted (its charge is computed
// from its length); then they stop at zero rather than stall every commit.
func addCounters(meta *bolt.Bucket, bytes, records int64) error {
	nb := max(int64(getU64(meta.Get(keyBytes)))+bytes, 0)
	nr := max(int64(getU64(meta.Get(keyRecords)))+records, 0)
	if err := meta.Put(keyBytes, putU64(uint64(nb))); err != nil {
		return err
	}
	return meta.Put(keyRecords, putU64(uint64(nr)))
}

// apply publishes a successful commit's effects in memory; answer releases
// the requests' reservations.
func (b *Buffer) apply(res *txResult, batch []*request, start time.Time) {
	b.undefer(batch)
	b.mu.Lock()
	defer b.mu.Unlock()
	res.seqs.commit()
	for _, req := range batch {
		for i := range req.items {
			req.readings[i].Seq = req.items[i].seq
		}
	}
	b.committed = max(b.committed+res.bytes, 0)
	b.records = b.records + res.added - res.removed
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
	if b.metrics != nil && res.readings > 0 {
		b.metrics.batch.Observe(float64(res.readings))
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

// deleteAcked deletes the records the batch's Acks name.
func (b *Buffer) deleteAcked(tx *bolt.Tx, batch []*request) (freed int64, n uint64, err error) {
	var cursors []*bolt.Cursor
	key := make([]byte, 0, 8)
	for _, req := range batch {
		if len(req.acks) > 0 && cursors == nil {
			for _, name := range b.buckets {
				cursors = append(cursors, tx.Bucket(name).Cursor())
			}
		}
		for _, id := range req.acks {
			key = appendU64(key[:0], id)
			for _, c := range cursors {
				if k, v := c.Seek(key); bytes.Equal(k, key) {
					freed += recordCharge(v)
					n++
					if err := c.Delete(); err != nil {
						return freed, n, err
					}
					break
				}
			}
		}
	}
	return freed, n, nil
}
