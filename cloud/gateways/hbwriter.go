package gateways

import (
	"context"
	"time"

	"github.com/streamforge/streamforge/cloud/store"
)

// Heartbeats are the fleet's most frequent write. They are group-committed:
// each request still waits until its row is stored (and its gateway's
// history trimmed, when this batch trims it), but the rows that arrive
// within hbBatchWait of each other go to the database in one multi-row
// INSERT.
const (
	hbBatchWait = 5 * time.Millisecond
	hbBatchMax  = 500
)

type hbRow struct {
	hb   store.GatewayHeartbeat
	done chan error
}

// hbWriter is the one goroutine that writes heartbeats. since counts, per
// gateway, what it stored since it last trimmed that gateway's history
// (only that goroutine uses it).
type hbWriter struct {
	s     *Heartbeats
	since map[string]*hbSince
}

type hbSince struct{ rows, bytes int }

func newHBWriter(s *Heartbeats) *batcher[hbRow] {
	w := &hbWriter{s: s, since: map[string]*hbSince{}}
	return &batcher[hbRow]{workers: 1, max: hbBatchMax, wait: hbBatchWait, run: w.write}
}

// insertHeartbeat stores hb, returning once it is written.
func (s *Heartbeats) insertHeartbeat(ctx context.Context, hb store.GatewayHeartbeat) error {
	r := hbRow{hb: hb, done: make(chan error, 1)}
	if err := s.writer.submit(ctx, r); err != nil {
		return err
	}
	err, cerr := await(ctx, r.done)
	if cerr != nil {
		return cerr
	}
	return err
}

func (w *hbWriter) write(ctx context.Context, batch []hbRow) {
	hbs := make([]store.GatewayHeartbeat, len(batch))
	for i, r := range batch {
		hbs[i] = r.hb
	}
	err := w.s.repo.InsertHeartbeats(ctx, hbs)
	if err == nil {
		// Trimmed before the answer: once a gateway is answered, its
		// history is what a reader will keep seeing, not one a trim
		// still pending is about to shrink. The next batch waits for
		// the one writer either way, so this costs no throughput.
		w.boundHistory(ctx, hbs)
	}
	for _, r := range batch {
		r.done <- err
	}
}

// boundHistory trims the history of each gateway in batch once it has
// grown by a tenth of its row bound or an eighth of its byte bound since
// the last trim: a gateway's history never passes its bounds by more, and
// most heartbeats cost no DELETE.
func (w *hbWriter) boundHistory(ctx context.Context, batch []store.GatewayHeartbeat) {
	rows, bytes := w.s.historyRows(), w.s.historyBytes()
	for _, hb := range batch {
		n := w.since[hb.GatewayID]
		if n == nil {
			n = &hbSince{}
			w.since[hb.GatewayID] = n
		}
		n.rows++
		n.bytes += len(hb.Adapters)
		if n.rows < max(1, rows/10) && n.bytes < bytes/8 {
			continue
		}
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := w.s.repo.TrimHeartbeats(tctx, hb.GatewayID, rows, bytes); err != nil {
			w.s.log.Warn("trim heartbeat history", "gateway", hb.GatewayID, "err", err)
		}
		cancel()
		delete(w.since, hb.GatewayID)
	}
}
