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
// (the binary and the buffer's memory-mapped bbolt file). Target: under
// 40 MiB peak with the default kafka.memory_budget. Run it once:
// -bench AgentRSS -benchtime 1x.
func BenchmarkAgentRSSAt10kReadingsPerSecond(b *testing.B) {
	agentRSS(b, 1, 100, 10*time.Millisecond)
}

// BenchmarkAgentRSSAt200kReadingsPerSecond is the same with 8 devices of
// 125 tags each every 5 ms (200,000 readings/s, as far as the machine keeps
// up: see the readings/s it reports). The devices are polled side by side,
// as a gateway polls several PLCs: one device of 1,000 tags would need 16
// Modbus round trips one after the other in each 5 ms, which measures the
// round trip, not the agent. Target: under 64 MiB peak.
func BenchmarkAgentRSSAt200kReadingsPerSecond(b *testing.B) {
	agentRSS(b, 8, 125, 5*time.Millisecond)
}

func agentRSS(b *testing.B, devices, tags int, interval time.Duration) {
	mb := startSim(b, tags, 10)
	broker := testenv.StartKfake(b, testenv.KafkaOpts{Persist: true})
	dir := b.TempDir()
	bin := testenv.BuildAgent(b, nil)
	cfg := writeDevicesConfig(b, dir, broker.Addr, mb.Addr(), devices, tags, interval, defaultBuffer, "")
	a := startAgent(b, cfg, bin)
	b.ResetTimer()
	time.Sleep(5 * time.Second) // warm up
	pid := a.Pid()
	// The peak so far is the start's (the producer connecting, the first
	// readings piling up and drained): reported apart, and reset so that
	// MB-peak-rss is the peak while the agent runs at the rate.
	warmupPeak := procStatus(b, pid, "VmHWM")
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		b.Fatalf("reset the peak RSS: %v", err)
	}
	const skippedPolls = "streamforge_adapter_device_polls_skipped_total"
	acked0, cpu0, t0 := a.Metric("streamforge_forward_acked_records_total"), cpuSeconds(b, pid), time.Now()
	skipped0 := a.MetricSum(skippedPolls)
	commits0 := a.Metric("streamforge_buffer_commit_seconds_count")
	time.Sleep(15 * time.Second) // the measurement window
	acked1, cpu1, t1 := a.Metric("streamforge_forward_acked_records_total"), cpuSeconds(b, pid), time.Now()
	skipped1 := a.MetricSum(skippedPolls)
	commits1 := a.Metric("streamforge_buffer_commit_seconds_count")
	rss, hwm := procStatus(b, pid, "VmRSS"), procStatus(b, pid, "VmHWM")
	anon, file := procStatus(b, pid, "RssAnon"), procStatus(b, pid, "RssFile")
	goHeap := a.Metric("go_memstats_heap_inuse_bytes")
	mmap := testenv.MappedRSS(b, pid, "buffer.db")
	b.StopTimer()
	a.Stop(b)
	b.ReportMetric((acked1-acked0)/t1.Sub(t0).Seconds(), "readings/s")
	b.ReportMetric((cpu1-cpu0)/t1.Sub(t0).Seconds(), "agent-cores")
	b.ReportMetric((skipped1-skipped0)/t1.Sub(t0).Seconds(), "polls-skipped/s")
	b.ReportMetric((commits1-commits0)/t1.Sub(t0).Seconds(), "commits/s")
	b.ReportMetric(rss/1024, "MB-rss")
	b.ReportMetric(hwm/1024, "MB-peak-rss")
	b.ReportMetric(warmupPeak/1024, "MB-peak-rss-warmup")
	b.ReportMetric(anon/1024, "MB-anon")
	b.ReportMetric(file/1024, "MB-file")
	b.ReportMetric(mmap/1024, "MB-buffer-mmap")
	b.ReportMetric(goHeap/(1<<20), "MB-go-heap")
}

// cpuSeconds is the CPU time pid has used (user and system), from
// /proc/PID/stat.
func cpuSeconds(b *testing.B, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The fields after the command name (which may hold spaces) start
	// with the state; utime and stime are the 12th and 13th of them.
	rest := string(data[strings.LastIndexByte(string(data), ')')+2:])
	f := strings.Fields(rest)
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // clock ticks; USER_HZ is 100 on Linux
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
