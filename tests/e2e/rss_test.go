package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/internal/testenv"
)

// BenchmarkAgentRSSAt10kReadingsPerSecond runs the agent binary polling 100
// tags every 10 ms (10,000 readings/s) from the Modbus simulator into a kfake
// broker for 20 s, and reports its resident memory (now and peak) and the
// rate it delivered. RSS splits into anonymous memory (heaps) and file pages
// (the binary and the buffer's memory-mapped bbolt file). Run it once: -bench AgentRSS -benchtime 1x.
func BenchmarkAgentRSSAt10kReadingsPerSecond(b *testing.B) {
	const tags = 100
	mb := startSim(b, tags, 10)
	broker := testenv.StartKfake(b, testenv.KafkaOpts{Persist: true})
	dir := b.TempDir()
	bin := build(b, dir, nil)
	cfg := writeConfig(b, dir, broker.Addr, mb.Addr(), tags, 10*time.Millisecond, defaultBuffer, "")
	a := startAgent(b, cfg, bin)
	b.ResetTimer()
	time.Sleep(5 * time.Second) // warm up
	acked0, t0 := a.metric(b, "streamforge_forward_acked_records_total"), time.Now()
	time.Sleep(15 * time.Second)
	acked1, t1 := a.metric(b, "streamforge_forward_acked_records_total"), time.Now()
	pid := a.cmd.Process.Pid
	rss, hwm := procStatus(b, pid, "VmRSS"), procStatus(b, pid, "VmHWM")
	anon, file := procStatus(b, pid, "RssAnon"), procStatus(b, pid, "RssFile")
	b.StopTimer()
	a.stop(b)
	b.ReportMetric((acked1-acked0)/t1.Sub(t0).Seconds(), "readings/s")
	b.ReportMetric(rss/1024, "MB-rss")
	b.ReportMetric(hwm/1024, "MB-peak-rss")
	b.ReportMetric(anon/1024, "MB-anon")
	b.ReportMetric(file/1024, "MB-file")
}

// procStatus reads a kB field of /proc/PID/status.
func procStatus(b *testing.B, pid int, field string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
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
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
