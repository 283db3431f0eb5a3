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
}

func (s *Service) insertHeartbeat(ctx context.Context, args ...any) error {
	s.hb.once.Do(func() {
		s.hb.ch = make(chan hbRow, hbBatchMax)
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
	}
}

func (s *Service) flushHeartbeats(batch []hbRow) error {
	var sql strings.Builder
	sql.WriteString("INSERT INTO gateway_heartbeats (gateway_id, received_at, status, agent_version, config_version, buffer_depth, readings_total, adapters) VALUES ")
	args := make([]any, 0, 8*len(batch))
	for i, r := range batch {
		if i > 0 {
			sql.WriteByte(',')
		}
		sql.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, r.args...)
	}
	return s.store.DB.Exec(sql.String(), args...).Error
}
