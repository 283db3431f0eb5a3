package buffer

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/streamforge/streamforge/adapters"
)

// request is one Put or Ack waiting for the committer.
type request struct {
	readings []adapters.Reading
	items    []item
	arena    []byte   // the encoded bodies
	reserved int64    // bytes reserved for the items of blocking rules
	queued   int64    // memory counted against maxQueued until the committer takes it
	acks     []uint64 // IDs to delete
	done     chan error

	// A Put a full disk holds back (diskfull.go) can be withdrawn by its
	// caller's context; one being committed cannot.
	state  atomic.Int32  // reqQueued, reqHeld or reqWithdrawn
	heldCh chan struct{} // a token each time the request is held
	heldAt time.Time     // first hold; committer only
}

const (
	reqQueued int32 = iota
	reqHeld
	reqWithdrawn
)

type item struct {
	rule       *rule
	key        string
	start, end int // body within the request's arena
	seq        uint64
	dropped    bool // by a full disk
}

func (it *item) charge() int64 { return int64(it.end-it.start) + recordOverhead }

// Put commits readings durably and returns once they are fsynced (or an
// error, and then none counts as taken). It writes each reading's assigned
// Seq into readings; a reading its rule dropped keeps Seq 0. A blocking rule
// makes Put wait for space until ctx ends; once submitted to the committer a
// Put always waits for the commit, so a cancelled ctx never leaves readings
// committed behind an error.
func (b *Buffer) Put(ctx context.Context, readings []adapters.Reading) error {
	wait, err := b.Submit(ctx, readings)
	if err != nil {
		return err
	}
	return wait()
}

// Submit is Put without the wait for the commit: it returns once the
// readings are queued for the next commit (after waiting for space under a
// blocking rule, as Put does), and wait returns what Put would have. The
// commits keep the order of the Submits, so an adapter can poll on while
// its previous readings are fsynced; it must leave readings alone until
// wait returned (their Seq is written there).
func (b *Buffer) Submit(ctx context.Context, readings []adapters.Reading) (wait func() error, err error) {
	if len(readings) == 0 {
		return func() error { return nil }, nil
	}
	req := &request{readings: readings, items: make([]item, len(readings)), done: make(chan error, 1),
		heldCh: make(chan struct{}, 1)}
	arena := make([]byte, 0, 64*len(readings))
	for i := range readings {
		r := &readings[i]
		key := r.StreamKey()
		start := len(arena)
		var err error
		if arena, err = encodeBody(arena, r); err != nil {
			return nil, fmt.Errorf("buffer put: %w", err)
		}
		it := item{rule: b.ruleFor(r.Device, key), key: key, start: start, end: len(arena)}
		if it.rule.Policy == Block {
			req.reserved += it.charge()
		}
		req.items[i] = it
	}
	req.arena = arena
	req.queued = int64(cap(arena)) + int64(len(readings))*queuedPerReading
	if err := b.queue(ctx, req.queued); err != nil {
		return nil, err
	}
	if err := b.enter(ctx, req.reserved); err != nil {
		b.dequeued(req)
		return nil, err
	}
	// Queued is enough for Close: the committer answers every request it
	// was sent before it exits.
	b.reqs <- req
	b.wg.Done()
	return func() error { return req.await(ctx) }, nil
}

// await waits for the commit. A cancelled ctx ends the wait only while a
// full disk holds the request back; the committer then forgets it.
func (req *request) await(ctx context.Context) error {
	for {
		select {
		case err := <-req.done:
			return err
		case <-ctx.Done():
		}
		if req.state.CompareAndSwap(reqHeld, reqWithdrawn) {
			return fmt.Errorf("buffer put: disk full, readings not stored: %w", ctx.Err())
		}
		select {
		case err := <-req.done:
			return err
		case <-req.heldCh:
		}
	}
}

// Ack deletes delivered records. IDs no longer present (already
// acknowledged, or dropped by drop_oldest) are ignored. The deletes share
// the committer's transactions with concurrent Puts, so acknowledging costs
// no fsyncs of its own while readings arrive.
func (b *Buffer) Ack(ids ...uint64) error {
	if len(ids) == 0 {
		return nil
	}
	req := &request{acks: ids, done: make(chan error, 1)}
	if err := b.enter(context.Background(), 0); err != nil {
		return err
	}
	defer b.wg.Done()
	b.reqs <- req
	if err := <-req.done; err != nil {
		return fmt.Errorf("buffer ack: %w", err)
	}
	return nil
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

// maxQueued bounds the memory of readings submitted and not yet taken by
// the committer (Submit waits for room): adapters that keep several polls
// in flight (a Modbus device keeps up to four) cannot pile up readings
// faster than the disk commits them. 2 MiB is some 8,000 readings, 40 ms
// at 200,000 readings/s.
const maxQueued = 2 << 20

// queuedPerReading is what a submitted reading holds besides its encoded
// body: the adapters.Reading, its item and stream key.
const queuedPerReading = 256

// queue waits until need bytes fit under maxQueued (one request always
// fits when nothing else waits) and counts them.
func (b *Buffer) queue(ctx context.Context, need int64) error {
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return ErrClosed
		}
		if b.queuedBytes == 0 || b.queuedBytes+need <= maxQueued {
			b.queuedBytes += need
			b.mu.Unlock()
			return nil
		}
		room := b.room
		b.mu.Unlock()
		select {
		case <-room:
		case <-b.quit:
		case <-ctx.Done():
			return fmt.Errorf("buffer put: %w", ctx.Err())
		}
	}
}

// dequeued releases what req counted against maxQueued.
func (b *Buffer) dequeued(req *request) {
	if req.queued == 0 {
		return
	}
	b.mu.Lock()
	b.queuedBytes -= req.queued
	req.queued = 0
	signal(&b.room)
	b.mu.Unlock()
}
