package modbus_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/streamforge/streamforge/adapters"
	"github.com/streamforge/streamforge/adapters/modbus"
)

// slowSink takes every Put after delay, as a buffer on a slow disk commits,
// and records when each batch was polled and when its Put returned.
type slowSink struct {
	delay time.Duration

	mu      sync.Mutex
	batches []putBatch
	active  int // Puts running at once
	maxRun  int
}

type putBatch struct {
	polled   time.Time // the readings' source time
	returned time.Time
}

func (s *slowSink) Put(ctx context.Context, rs []adapters.Reading) error {
	s.mu.Lock()
	s.active++
	s.maxRun = max(s.maxRun, s.active)
	s.mu.Unlock()
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active--
	s.batches = append(s.batches, putBatch{polled: rs[0].SourceTime, returned: time.Now()})
	return ctx.Err()
}

func (s *slowSink) snapshot() ([]putBatch, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]putBatch(nil), s.batches...), s.maxRun
}

// TestSlowCommitsOverlapTheNextPoll: the next poll is made while the
// previous readings are still being stored, never more than one Put is in
// flight (a full buffer still holds the device back), batches arrive in
// the order they were polled, and polls the device cannot make in time are
// counted.
func TestSlowCommitsOverlapTheNextPoll(t *testing.T) {
	sink := &slowSink{delay: 150 * time.Millisecond}
	a := runInto(t, 20*ms, sink)

	deadline := time.Now().Add(10 * time.Second)
	for {
		batches, _ := sink.snapshot()
		if len(batches) >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d batches stored in 10 s", len(batches))
		}
		time.Sleep(20 * time.Millisecond)
	}
	batches, maxRun := sink.snapshot()
	if maxRun != 1 {
		t.Errorf("%d Puts ran at once; want one in flight at most", maxRun)
	}
	overlapped := false
	for i := 1; i < len(batches); i++ {
		if !batches[i].polled.After(batches[i-1].polled) {
			t.Errorf("batch %d polled at %v, not after batch %d (%v)", i, batches[i].polled, i-1, batches[i-1].polled)
		}
		// The poll of batch i was made before the Put of batch i-1 returned.
		if batches[i].polled.Before(batches[i-1].returned) {
			overlapped = true
		}
	}
	if !overlapped {
		t.Errorf("no poll was made while the previous readings were stored: %+v", batches)
	}
	// A Put of 150 ms holds a 20 ms poll group to about one poll in 150 ms:
	// the others are counted as skipped.
	if st := a.States()[0]; st.SkippedPolls == 0 {
		t.Errorf("no skipped polls counted: %+v", st)
	}
}

// slowSubmitter is a slow sink that takes readings without waiting for
// their commit, as the agent's buffer does (adapters.Submitter).
type slowSubmitter struct {
	slowSink
	queued int // submitted, not yet waited for
	maxQ   int
	polled []time.Time // in the order submitted
}

func (s *slowSubmitter) Submit(ctx context.Context, rs []adapters.Reading) (func() error, error) {
	s.mu.Lock()
	s.queued++
	s.maxQ = max(s.maxQ, s.queued)
	s.polled = append(s.polled, rs[0].SourceTime)
	s.mu.Unlock()
	done := time.After(s.delay)
	return func() error {
		select {
		case <-done:
		case <-ctx.Done():
		}
		s.mu.Lock()
		s.queued--
		s.batches = append(s.batches, putBatch{polled: rs[0].SourceTime, returned: time.Now()})
		s.mu.Unlock()
		return ctx.Err()
	}, nil
}

// TestSubmittedReadingsRideOutSlowCommits: with a sink that takes readings
// without waiting for their commit, several polls go on while commits take
// many poll intervals, never more than four wait at once (back-pressure),
// and they are submitted in the order polled.
func TestSubmittedReadingsRideOutSlowCommits(t *testing.T) {
	sink := &slowSubmitter{slowSink: slowSink{delay: 200 * time.Millisecond}}
	runInto(t, 10*ms, sink)

	deadline := time.Now().Add(10 * time.Second)
	for {
		sink.mu.Lock()
		n := len(sink.batches)
		sink.mu.Unlock()
		if n >= 12 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d batches committed in 10 s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.maxQ < 2 || sink.maxQ > 4 {
		t.Errorf("%d polls' readings waited for their commit at once; want 2 to 4", sink.maxQ)
	}
	for i := 1; i < len(sink.polled); i++ {
		if !sink.polled[i].After(sink.polled[i-1]) {
			t.Errorf("submission %d polled at %v, not after %v", i, sink.polled[i], sink.polled[i-1])
		}
	}
}

// runInto runs an adapter polling the sim's fixture device every interval
// into sink until the test ends.
func runInto(t *testing.T, interval modbus.Duration, sink adapters.Sink) *modbus.Adapter {
	t.Helper()
	s := startSim(t, 4)
	dev := fixtureDevice("plc1", s.Addr())
	dev.PollGroups[0].Interval = interval
	a, err := modbus.New("gw1", modbus.Config{Name: "line1", Devices: []modbus.Device{dev}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx, sink); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return a
}
