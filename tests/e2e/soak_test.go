package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/internal/kafkatest"
	"github.com/streamforge/streamforge/internal/testenv"
)

// BenchmarkSoak runs the agent at 10,000 readings/s (100 tags every 10 ms)
// into Apache Kafka for STREAMFORGE_SOAK_DURATION (default 1h), restarting
// the broker every STREAMFORGE_SOAK_RESTART (default 5m). Every 10 s it
// samples the agent's RSS, goroutines and open files; they must stay flat
// (the last quarter of the run against the second). Afterwards Kafka holds
// every reading, first copies in order, duplicates only as repeated seqs.
// With STREAMFORGE_SOAK_PLOT set it writes an SVG of RSS over time there
// (docs/img/soak-rss.svg), and the samples as CSV beside it.
//
// `make soak` runs it (-bench Soak -benchtime 1x); it is not part of make test.
func BenchmarkSoak(b *testing.B) {
	dur := envDuration(b, "STREAMFORGE_SOAK_DURATION", time.Hour)
	every := envDuration(b, "STREAMFORGE_SOAK_RESTART", 5*time.Minute)
	const tags = 100
	mb := startSim(b, tags, 10)
	broker := testenv.StartKafka(b, testenv.KafkaOpts{})
	dir := b.TempDir()
	bin := testenv.BuildAgent(b, nil)
	cfg := writeConfig(b, dir, broker.Addr, mb.Addr(), tags, 10*time.Millisecond, "{max_bytes: 1GiB}", ", compression: lz4")
	a := startAgent(b, cfg, bin)
	a.WaitMetric(b, "streamforge_forward_acked_records_total", 120*time.Second, func(v float64) bool { return v > 0 })
	pid := a.Pid()

	var samples []soakSample
	start := time.Now()
	nextRestart := start.Add(every)
	restarts := 0
	for tick := time.NewTicker(10 * time.Second); time.Since(start) < dur; <-tick.C {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		s := soakSample{at: time.Since(start), rssMB: procStatus(b, pid, "VmRSS") / 1024,
			goroutines: a.Metric("go_goroutines"), fds: len(fds),
			backlog: a.Metric("streamforge_buffer_records"), acked: a.Metric("streamforge_forward_acked_records_total")}
		samples = append(samples, s)
		if time.Now().After(nextRestart) {
			broker.Stop()
			time.Sleep(5 * time.Second) // the outage the soak repeats
			broker.Start()
			restarts++
			nextRestart = time.Now().Add(every)
		}
	}
	_ = mb.Close()
	a.WaitMetric(b, "streamforge_buffer_records", 10*time.Minute, func(v float64) bool { return v == 0 })
	rate := a.Metric("streamforge_forward_acked_records_total") / time.Since(start).Seconds()
	a.Stop(b)

	// Check everything in Kafka without holding it in memory: read every
	// partition to its end, keeping one record of each stream to ask the
	// buffer for its last committed seq.
	conn := kafkatest.Conn{Brokers: broker.Addr}
	end, err := kafkatest.EndOffsets(context.Background(), conn, "telemetry.raw")
	if err != nil {
		b.Fatal(err)
	}
	ck := kafkatest.NewChecker(nil)
	var checkErr error
	probe := map[string]kafkatest.Record{}
	read := map[int32]int64{}
	err = kafkatest.Scan(context.Background(), conn, "telemetry.raw", 30*time.Minute, func(batch []kafkatest.Record) bool {
		for _, r := range batch {
			probe[r.Key] = r
			read[r.Partition] = r.Offset + 1
			if err := ck.Add(r); err != nil && checkErr == nil {
				checkErr = err
			}
		}
		for p, off := range end {
			if read[p] < off {
				return false
			}
		}
		return true
	})
	if err != nil {
		b.Fatal(err)
	}
	if checkErr != nil {
		b.Fatal(checkErr)
	}
	recs := make([]kafkatest.Record, 0, len(probe))
	for _, r := range probe {
		recs = append(recs, r)
	}
	for _, r := range leftovers(b, dir, recs) {
		if err := ck.Add(r); err != nil {
			b.Fatal(err)
		}
	}
	rep, err := ck.Done(committedSeqs(b, dir, recs))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d samples, %d broker restarts, %.0f readings/s delivered; Kafka: %d readings of %d streams, %d duplicates (repeated seqs)",
		len(samples), restarts, rate, rep.Unique, rep.Streams, rep.Duplicates)
	if p := os.Getenv("STREAMFORGE_SOAK_PLOT"); p != "" {
		writeSoak(b, p, samples)
	}
	checkFlat(b, samples)
}

// checkFlat compares the last quarter of the run with the second: the
// first quarter is warm-up (the bbolt file and librdkafka's queues grow to
// their working size).
func checkFlat(b *testing.B, s []soakSample) {
	if len(s) < 8 {
		b.Logf("%d samples: too few to judge flatness", len(s))
		return
	}
	q := len(s) / 4
	early, late := s[q:2*q], s[len(s)-q:]
	peak := func(xs []soakSample, f func(soakSample) float64) float64 {
		m := 0.0
		for _, x := range xs {
			m = max(m, f(x))
		}
		return m
	}
	rss := func(x soakSample) float64 { return x.rssMB }
	gor := func(x soakSample) float64 { return x.goroutines }
	fds := func(x soakSample) float64 { return float64(x.fds) }
	b.Logf("peak RSS %.1f -> %.1f MB, goroutines %.0f -> %.0f, open files %.0f -> %.0f (second quarter -> last quarter)",
		peak(early, rss), peak(late, rss), peak(early, gor), peak(late, gor), peak(early, fds), peak(late, fds))
	b.ReportMetric(peak(late, rss), "MB-peak-rss")
	if peak(late, rss) > 1.25*peak(early, rss)+4 {
		b.Errorf("RSS grows: peak %.1f MB late against %.1f MB early", peak(late, rss), peak(early, rss))
	}
	if peak(late, gor) > peak(early, gor)+20 {
		b.Errorf("goroutines grow: %.0f late against %.0f early", peak(late, gor), peak(early, gor))
	}
	if peak(late, fds) > peak(early, fds)+10 {
		b.Errorf("open files grow: %.0f late against %.0f early", peak(late, fds), peak(early, fds))
	}
}

// writeSoak writes the samples as CSV and RSS over time as an SVG line plot.
func writeSoak(b *testing.B, path string, s []soakSample) {
	var csv strings.Builder
	csv.WriteString("seconds,rss_mb,goroutines,open_files,backlog,acked\n")
	for _, x := range s {
		fmt.Fprintf(&csv, "%.0f,%.1f,%.0f,%d,%.0f,%.0f\n", x.at.Seconds(), x.rssMB, x.goroutines, x.fds, x.backlog, x.acked)
	}
	if err := os.WriteFile(strings.TrimSuffix(path, filepath.Ext(path))+".csv", []byte(csv.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	const w, h, pad = 720.0, 300.0, 50.0
	tmax, rmax := 1.0, 1.0
	for _, x := range s {
		tmax, rmax = max(tmax, x.at.Seconds()), max(rmax, x.rssMB)
	}
	rmax *= 1.2
	var pts strings.Builder
	for _, x := range s {
		fmt.Fprintf(&pts, "%.1f,%.1f ", pad+x.at.Seconds()/tmax*(w-2*pad), h-pad-x.rssMB/rmax*(h-2*pad))
	}
	svg := fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" width="%[1]g" height="%[2]g" font-family="sans-serif" font-size="12">
<rect width="100%%" height="100%%" fill="white"/>
<line x1="%[3]g" y1="%[4]g" x2="%[5]g" y2="%[4]g" stroke="black"/>
<line x1="%[3]g" y1="%[3]g" x2="%[3]g" y2="%[4]g" stroke="black"/>
<text x="%[3]g" y="%[6]g">agent RSS (MB) at 10,000 readings/s, broker restarted every few minutes; max axis %.0[7]f MB</text>
<text x="%[5]g" y="%[8]g" text-anchor="end">%.0[9]f min</text>
<text x="%[10]g" y="%[4]g" text-anchor="end">0</text>
<text x="%[10]g" y="%[11]g" text-anchor="end">%.0[7]f</text>
<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="%[12]s"/>
</svg>
`, w, h, pad, h-pad, w-pad, pad-20, rmax, h-pad+20, tmax/60, pad-5, pad+4, strings.TrimSpace(pts.String()))
	if err := os.WriteFile(path, []byte(svg), 0o644); err != nil {
		b.Fatal(err)
	}
}

type soakSample struct {
	at                time.Duration
	rssMB, goroutines float64
	fds               int
	backlog, acked    float64
}

func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	return d
}
