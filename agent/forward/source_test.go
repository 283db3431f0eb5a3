package forward

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/streamforge/streamforge/adapters"
)

// memSource is an in-memory Source with the buffer's contract (IDs in FIFO
// order, per-stream Seq from 1), for tests of the forwarder alone.
type memSource struct {
	mu      sync.Mutex
	recs    []Record
	acked   map[uint64]bool
	nextID  uint64
	seq     map[string]uint64
	changed chan struct{}
	reads   int
}

func newMemSource() *memSource {
	return &memSource{acked: map[uint64]bool{}, seq: map[string]uint64{}, changed: make(chan struct{})}
}

func (m *memSource) Put(rs ...adapters.Reading) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range rs {
		m.nextID++
		k := r.StreamKey()
		m.seq[k]++
		r.Seq = m.seq[k]
		m.recs = append(m.recs, Record{ID: m.nextID, Reading: r, Stored: time.Now()})
	}
	close(m.changed)
	m.changed = make(chan struct{})
}

func (m *memSource) Read(dst []Record, after uint64, max int) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	i := sort.Search(len(m.recs), func(i int) bool { return m.recs[i].ID > after })
	out := dst[:0]
	for ; i < len(m.recs) && len(out) < max; i++ {
		if !m.acked[m.recs[i].ID] {
			out = append(out, m.recs[i])
		}
	}
	return out, nil
}

func (m *memSource) Ack(ids ...uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		if id == 0 || id > m.nextID {
			return fmt.Errorf("ack unknown id %d", id)
		}
		m.acked[id] = true
	}
	for len(m.recs) > 0 && m.acked[m.recs[0].ID] { // compact the head
		delete(m.acked, m.recs[0].ID)
		m.recs = m.recs[1:]
	}
	return nil
}

func (m *memSource) LastID() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.nextID
}

func (m *memSource) Wait(ctx context.Context, after uint64) error {
	for {
		m.mu.Lock()
		ok := m.nextID > after
		ch := m.changed
		m.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// Len is the number of records not yet acknowledged.
func (m *memSource) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.recs) - len(m.acked)
}

// Last returns the highest Seq put per stream.
func (m *memSource) Last() map[string]uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]uint64, len(m.seq))
	for k, v := range m.seq {
		out[k] = v
	}
	return out
}

// waitEmpty waits until every record is acknowledged.
func (m *memSource) waitEmpty(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for m.Len() > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d records still in the buffer after %s", m.Len(), limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// readings makes n readings for each of streams tags of device dev; the
// quality turns bad for every tenth reading.
func readings(dev string, streams, n int) []adapters.Reading {
	out := make([]adapters.Reading, 0, streams*n)
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for i := range n {
		for s := range streams {
			q := adapters.QualityGood
			if i%10 == 9 {
				q = adapters.QualityBad
			}
			out = append(out, adapters.Reading{
				GatewayID: "gw1", Device: dev, Tag: fmt.Sprintf("t%03d", s), Type: adapters.TypeFloat64,
				Value: float64(i) * 0.5, Quality: q, SourceTime: t0.Add(time.Duration(i) * time.Millisecond),
			})
		}
	}
	return out
}
