package opcua_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/adapters"
	"github.com/streamforge/streamforge/adapters/opcua"
	"github.com/streamforge/streamforge/adapters/sim"
	"github.com/streamforge/streamforge/internal/simtest"
)

// BenchmarkSubscription counts data change notifications through one
// subscription: the sim changes 10,000 variables 10 times a second (100,000
// changes/s offered), published every 100 ms. gopcua's server sends at most
// one value per item per publish whatever the queue size, so the offered
// rate is items x publishes per second. One op is one reading; the time
// includes connecting and creating the monitored items.
func BenchmarkSubscription(b *testing.B) {
	const items = 10000
	s := startSim(b, items, 10)
	nodes := make([]opcua.Node, items)
	for i, sig := range sim.Signals(items) {
		nodes[i] = opcua.Node{Name: sig.Name, NodeID: sim.NodeID(sig.Name), Subscription: "all"}
	}
	a, err := opcua.New("gw", opcua.Config{Name: "ua", Servers: []opcua.Server{{Name: "sim", Endpoint: s.Endpoint(),
		Insecure: true, Nodes: nodes, Subscriptions: []opcua.Subscription{{Name: "all", PublishingInterval: 100 * ms, QueueSize: 1}},
	}}}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	sink := simtest.NewCountingSink(int64(b.N))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	b.ResetTimer()
	go func() { a.Run(ctx, sink); close(done) }()
	<-sink.Done
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "notifications/s")
}

// BenchmarkMemoryAt5000Items subscribes to 5,000 variables that the sim (in
// a child process, so its memory does not count) changes 10 times a second,
// published every 100 ms: 50,000 readings/s offered. It reports this
// process's resident memory (now and peak), the Go heap in use, and the
// bytes and allocations per reading. With sink=slow every Put takes 150 ms,
// longer than a publishing interval, as when the agent's buffer holds the
// adapters back: what piles up between the server and the sink is what
// costs memory. One op is one reading; run it with a count of readings:
// -bench MemoryAt5000 -benchtime 200000x.
func BenchmarkMemoryAt5000Items(b *testing.B) {
	for _, c := range []struct {
		name  string
		delay time.Duration
	}{{"sink=instant", 0}, {"sink=slow", 150 * time.Millisecond}} {
		b.Run(c.name, func(b *testing.B) { benchmarkMemory(b, 5000, c.delay) })
	}
}

func benchmarkMemory(b *testing.B, items int, delay time.Duration) {
	endpoint := startSimProcess(b, items, 10)
	nodes := make([]opcua.Node, items)
	for i, sig := range sim.Signals(items) {
		nodes[i] = opcua.Node{Name: sig.Name, NodeID: sim.NodeID(sig.Name), Subscription: "all"}
	}
	a, err := opcua.New("gw", opcua.Config{Name: "ua", Servers: []opcua.Server{{Name: "sim", Endpoint: endpoint,
		Insecure: true, Nodes: nodes, Subscriptions: []opcua.Subscription{{Name: "all", PublishingInterval: 100 * ms}},
	}}}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	sink := &slowSink{CountingSink: simtest.NewCountingSink(int64(b.N)), delay: delay}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	go func() { a.Run(ctx, sink); close(done) }()
	<-sink.Done
	b.StopTimer()
	runtime.ReadMemStats(&after)
	rss, hwm := procStatus(b, "VmRSS"), procStatus(b, "VmHWM")
	cancel()
	<-done
	n := float64(sink.N())
	b.ReportMetric(n/b.Elapsed().Seconds(), "readings/s")
	b.ReportMetric(rss/1024, "MB-rss")
	b.ReportMetric(hwm/1024, "MB-peak-rss")
	b.ReportMetric(float64(after.HeapInuse)/(1<<20), "MB-heap-inuse")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "B/reading")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/reading")
}

// slowSink counts readings, taking delay per Put.
type slowSink struct {
	*simtest.CountingSink
	delay time.Duration
}

func (s *slowSink) Put(ctx context.Context, rs []adapters.Reading) error {
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	return s.CountingSink.Put(ctx, rs)
}

// startSimProcess runs the OPC UA sim in a child process (see TestMain).
func startSimProcess(b *testing.B, signals int, rate float64) string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d,%g", simChildEnv, signals, rate))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if ep, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
			go io.Copy(io.Discard, out)
			return ep
		}
	}
	b.Fatal("sim child exited before listening")
	return ""
}

// procStatus reads a kB field of /proc/self/status.
func procStatus(b *testing.B, field string) float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				b.Fatal(err)
			}
			return v
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}
