package gateways

import (
	"context"
	"strings"
	"sync"
	"time"
)

// Heartbeats are the fleet's most frequent write. They are group-committed:
// each request still waits until its row is stored, but the rows that
// arrive within hbBatchWait of each other go to the database in one
// multi-row INSERT.
const (
	hbBatchWait = 5 * time.Millisecond
	hbBatchMax  = 500
)

type hbRow struct {
	args []any
	done chan error
}

type hbWriter struct {
	once sync.Once
	ch   chan hbRow
	// since counts, per gateway, what this process stored since it last
	// trimmed that gateway's history (only the writer goroutine uses it).
	since map[string]*hbSince
}

type hbSince struct{ rows, bytes int }

func (s *Service) insertHeartbeat(ctx context.Context, args ...any) error {
	s.hb.once.Do(func() {
		s.hb.ch = make(chan hbRow, hbBatchMax)
		s.hb.since = map[string]*hbSince{}
		go s.writeHeartbeats()
	})
	r := hbRow{args: args, done: make(chan error, 1)}
	select {
	case s.hb.ch <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) writeHeartbeats() {
	for first := range s.hb.ch {
		batch := []hbRow{first}
		timer := time.NewTimer(hbBatchWait)
	collect:
		for len(batch) < hbBatchMax {
			select {
			case r := <-s.hb.ch:
				batch = append(batch, r)
			case <-timer.C:
				break collect
			}
		}
		timer.Stop()
		err := s.flushHeartbeats(batch)
		for _, r := range batch {
			r.done <- err
		}
		if err == nil {
			s.boundHistory(batch)
		}
	}
}

// boundHistory trims the history of each gateway in batch once it has
// grown by a tenth of its row bound or an eighth of its byte bound since
// the last trim: a gateway's history never passes its bounds by more, and
// most heartbeats cost no DELETE.
func (s *Service) boundHistory(batch []hbRow) {
	for _, r := range batch {
		id, adapters := r.args[0].(string), r.args[len(r.args)-1].(string)
		n := s.hb.since[id]
		if n == nil {
			n = &hbSince{}
			s.hb.since[id] = n
		}
		n.rows++
		n.bytes += len(adapters)
		if n.rows < max(1, s.historyRows()/10) && n.bytes < s.historyBytes()/8 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := s.trimHistory(ctx, id); err != nil {
			s.log.Warn("trim heartbeat history", "gateway", id, "err", err)
		}
		cancel()
		delete(s.hb.since, id)
	}
}

func (s *Service) flushHeartbeats(batch []hbRow) error {
	var sql strings.Builder
	sql.WriteString("INSERT INTO gateway_heartbeats (gateway_id, received_at, status, agent_version, config_version, config_error, buffer_depth, readings_total, adapters) VALUES ")
	args := make([]any, 0, 9*len(batch))
	for i, r := range batch {
		if i > 0 {
			sql.WriteByte(',')
		}
		sql.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, r.args...)
	}
	return s.store.DB.Exec(sql.String(), args...).Error
}
