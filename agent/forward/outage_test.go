package forward

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/streamforge/streamforge/internal/testenv"
	kafkatest "github.com/streamforge/streamforge/tests/kafka"
)

// feed puts 10 streams x 5 readings every 10ms (5,000 readings/s) until
// the returned stop is called.
func feed(src *memSource) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				src.Put(readings("plc1", 10, 5)...)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// outage stops the broker for longer than the delivery timeout while
// readings keep coming, and checks that afterwards every reading is in Kafka
// exactly once and in order per stream: with no broker reachable the
// producer is kept, so librdkafka's idempotent retries resolve everything.
// With drain order live_first, the order holds within the live and the
// backlog flow, and the readings taken after the outage overtake the backlog.
func outage(t *testing.T, b *testenv.Broker, order string) {
	src := newMemSource()
	// Apache Kafka accepts connections for a few seconds while it shuts down
	// and starts: the delivery timeout must outlast those phases.
	f, _ := start(t, Config{Brokers: b.Addr, DeliveryTimeout: 5 * time.Second, Window: 5000,
		DrainOrder: order, LiveLag: 2 * time.Second, DrainRate: 10000}, src, quietLog(t))
	stopFeed := feed(src)
	time.Sleep(time.Second)
	b.Stop()
	down := time.Now()
	time.Sleep(7 * time.Second)
	backlog := src.Len()
	b.Start()
	t.Logf("broker down %s, backlog %d readings", time.Since(down).Round(time.Millisecond), backlog)
	time.Sleep(2 * time.Second)
	stopFeed()
	if err := src.waitEmpty(90 * time.Second); err != nil {
		t.Fatalf("%v (last error %q)", err, f.LastError())
	}
	stalls := value(t, f.metrics.recreations.WithLabelValues("stalled"))
	if stalls != 0 {
		t.Errorf("%v producer recreations while no broker was reachable", stalls)
	}
	if order == LiveFirst {
		backlog, ahead := 0, 0
		streams := checkFlows(t, kafkatest.Conn{Brokers: b.Addr}, src) // exactly once, each flow in order
		for _, st := range streams {
			backlog += st.Backlog
			if st.LiveAhead {
				ahead++
			}
		}
		t.Logf("%d streams, %d readings sent as backlog; live data overtook the backlog in %d streams", len(streams), backlog, ahead)
		if backlog == 0 || ahead != len(streams) {
			t.Errorf("after the outage %d readings went as backlog and live data overtook it in %d of %d streams", backlog, ahead, len(streams))
		}
		return
	}
	rep := checkTopic(t, kafkatest.Conn{Brokers: b.Addr}, src, nil)
	t.Logf("%d streams, %d readings, %d duplicates, %v stalled-producer recreations", rep.Streams, rep.Unique, rep.Duplicates, stalls)
	if rep.Duplicates != 0 {
		t.Errorf("%d duplicates after an outage (no crash)", rep.Duplicates)
	}
}

func TestOutageLongerThanDeliveryTimeoutLosesNothingKfake(t *testing.T) {
	outage(t, testenv.StartKfake(t, testenv.KafkaOpts{Persist: true}), FIFO)
}

func TestOutageWithLiveFirstSendsLiveDataAheadKfake(t *testing.T) {
	outage(t, testenv.StartKfake(t, testenv.KafkaOpts{Persist: true}), LiveFirst)
}

func TestOutageLongerThanDeliveryTimeoutLosesNothingApacheKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Apache Kafka (about 10 s)")
	}
	outage(t, testenv.StartKafka(t, testenv.KafkaOpts{}), FIFO)
}

// A hung broker (SIGSTOP: connections open, no answers) for longer than the
// delivery timeout makes the forwarder recreate its producer; once the
// broker goes on, every reading is there, the first copies in order, and
// repeats only as repeated seqs.
func TestHungBrokerRecreatesProducerKeepingOrder(t *testing.T) {
	b := testenv.StartKfake(t, testenv.KafkaOpts{Persist: true})
	src := newMemSource()
	f, _ := start(t, Config{Brokers: b.Addr, DeliveryTimeout: time.Second, Window: 5000,
		Librdkafka: map[string]string{"socket.timeout.ms": "3000"}}, src, quietLog(t))
	stopFeed := feed(src)
	time.Sleep(time.Second)
	b.Pause()
	time.Sleep(5 * time.Second)
	b.Resume()
	time.Sleep(2 * time.Second)
	stopFeed()
	if err := src.waitEmpty(90 * time.Second); err != nil {
		t.Fatalf("%v (last error %q)", err, f.LastError())
	}
	rep := checkTopic(t, kafkatest.Conn{Brokers: b.Addr}, src, nil)
	stalls := value(t, f.metrics.recreations.WithLabelValues("stalled"))
	t.Logf("%d streams, %d readings, %d duplicates, %v stalled-producer recreations", rep.Streams, rep.Unique, rep.Duplicates, stalls)
	if stalls < 1 {
		t.Error("a hung broker did not make the forwarder recreate its producer")
	}
}

// live_first through an outage: what librdkafka had queued when the broker
// went away is purged and sent again as backlog, and nothing is queued
// while no broker is reachable. So no record taken during the outage
// arrives without the backlog flag (before the fix, one window of them
// did, seconds old), and every reading is there once, each flow in order.
func TestLiveFirstOutageSendsQueuedRecordsAsBacklogKfake(t *testing.T) {
	b := testenv.StartKfake(t, testenv.KafkaOpts{Persist: true})
	src := newMemSource()
	f, _ := start(t, Config{Brokers: b.Addr, DeliveryTimeout: 5 * time.Second, Window: 5000,
		DrainOrder: LiveFirst, LiveLag: 2 * time.Second, DrainRate: 10000}, src, quietLog(t))
	stopFeed := feedNow(src)
	waitUntil(t, "first deliveries", func() bool { return f.metrics.ackedCount.Load() > 0 })
	b.Stop()
	down := time.Now()
	time.Sleep(6 * time.Second) // the outage
	b.Start()
	up := time.Now()
	waitUntil(t, "deliveries after the outage", func() bool { return src.Len() < 1000 })
	stopFeed()
	if err := src.waitEmpty(60 * time.Second); err != nil {
		t.Fatalf("%v (last error %q)", err, f.LastError())
	}
	checkFlows(t, kafkatest.Conn{Brokers: b.Addr}, src)
	recs, err := kafkatest.Read(context.Background(), kafkatest.Conn{Brokers: b.Addr}, "telemetry.raw", 10*time.Second,
		func([]kafkatest.Record) bool { return false })
	if len(recs) == 0 {
		t.Fatal(err)
	}
	// Taken well into the outage and well before its end: older than
	// live_lag when the broker came back.
	from, until := down.Add(500*time.Millisecond), up.Add(-3*time.Second)
	late, backlog := 0, 0
	for _, r := range recs {
		if r.Body.SourceTime.After(from) && r.Body.SourceTime.Before(until) {
			if r.Body.Backlog {
				backlog++
			} else {
				late++
			}
		}
	}
	purged := value(t, f.metrics.purged)
	t.Logf("taken during the outage: %d as backlog, %d unflagged; %v records purged from the producer queue", backlog, late, purged)
	if late != 0 || backlog == 0 {
		t.Errorf("%d readings taken during the outage arrived without the backlog flag (%d with it)", late, backlog)
	}
	if purged == 0 {
		t.Error("nothing was purged from the producer queue when the broker went away")
	}
}

// feedNow puts 10 streams x 5 readings every 10ms, stamped with the time
// they are taken, until the returned stop is called.
func feedNow(src *memSource) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				rs := readings("plc1", 10, 5)
				for i := range rs {
					rs[i].SourceTime = now
				}
				src.Put(rs...)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
