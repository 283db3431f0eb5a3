package forward

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/streamforge/streamforge/internal/kafkatest"
	"github.com/streamforge/streamforge/internal/testenv"
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
	waitUntil(t, "first deliveries", func() bool { return f.metrics.ackedCount.Load() > 0 })
	b.Stop()
	down := time.Now()
	time.Sleep(7 * time.Second) // the outage: longer than the delivery timeout
	backlog := src.Len()
	b.Start()
	t.Logf("broker down %s, backlog %d readings", time.Since(down).Round(time.Millisecond), backlog)
	time.Sleep(2 * time.Second) // live readings after the outage, to overtake the backlog
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
	waitUntil(t, "first deliveries", func() bool { return f.metrics.ackedCount.Load() > 0 })
	b.Pause()
	time.Sleep(5 * time.Second) // the hang: longer than socket.timeout.ms
	b.Resume()
	time.Sleep(2 * time.Second) // readings after the hang, on the recreated producer
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

// live_first through an outage: nothing is produced while no broker is
// reachable, so no reading taken during the outage arrives without the
// backlog flag (before the fix, one window of them did, seconds old); and
// an outage alone still causes no duplicates.
func TestLiveFirstOutageSendsWhatItTookAsBacklogKfake(t *testing.T) {
	liveFirstOutage(t, testenv.StartKfake(t, testenv.KafkaOpts{Persist: true}), false)
}

// The same against Apache Kafka, which takes requests while it shuts down.
func TestLiveFirstOutageSendsWhatItTookAsBacklogApacheKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Apache Kafka (about 10 s)")
	}
	liveFirstOutage(t, testenv.StartKafka(t, testenv.KafkaOpts{}), false)
}

// With kafka.outage_purge, what librdkafka had queued when the broker went
// away is purged too and sent again as backlog; repeats are allowed (and
// recognisable by seq), a loss or a reorder is not.
func TestLiveFirstOutagePurgeSendsQueuedRecordsAsBacklogKfake(t *testing.T) {
	liveFirstOutage(t, testenv.StartKfake(t, testenv.KafkaOpts{Persist: true}), true)
}

func liveFirstOutage(t *testing.T, b *testenv.Broker, purge bool) {
	src := newMemSource()
	f, _ := start(t, Config{Brokers: b.Addr, DeliveryTimeout: 5 * time.Second, Window: 5000,
		DrainOrder: LiveFirst, LiveLag: 2 * time.Second, DrainRate: 10000, OutagePurge: purge}, src, quietLog(t))
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
	last := src.Last()
	total := 0
	for _, v := range last {
		total += int(v)
	}
	recs, err := kafkatest.Read(context.Background(), kafkatest.Conn{Brokers: b.Addr}, "telemetry.raw", 60*time.Second,
		func(r []kafkatest.Record) bool { return kafkatest.Unique(r) >= total })
	if err != nil {
		t.Fatal(err)
	}
	rep, _, err := kafkatest.CheckFlows(recs, last) // every reading, each flow in order
	if err != nil {
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
	t.Logf("taken during the outage: %d as backlog, %d unflagged; %v records purged, %d duplicates", backlog, late, purged, rep.Duplicates)
	if late != 0 || backlog == 0 {
		t.Errorf("%d readings taken during the outage arrived without the backlog flag (%d with it)", late, backlog)
	}
	if fatal := value(t, f.metrics.recreations.WithLabelValues("fatal")); fatal != 0 {
		t.Errorf("%v fatal producer errors", fatal)
	}
	switch {
	case purge && purged == 0:
		t.Error("nothing was purged from the producer queue when the broker went away")
	case !purge && (purged != 0 || rep.Duplicates != 0):
		t.Errorf("without outage_purge: %v records purged, %d duplicates after an outage", purged, rep.Duplicates)
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
