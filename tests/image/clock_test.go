package image

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/internal/kafkatest"
)

// setGuestClock sets the guest's wall clock to the host's time plus
// offset (the host clock is never touched) and returns the guest time set.
func setGuestClock(t *testing.T, v *vm, offset time.Duration) time.Time {
	t.Helper()
	target := time.Now().Add(offset).UTC()
	out, code := v.sh(t, "date -u -s '"+target.Format("2006-01-02 15:04:05")+"' >/dev/null && date -u +%s")
	if code != 0 {
		t.Fatalf("date -s in the guest: exit %d %q", code, out)
	}
	got, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		t.Fatalf("guest clock: %q", out)
	}
	if d := time.Unix(got, 0).Sub(target); d < -5*time.Second || d > 5*time.Second {
		t.Fatalf("guest clock at %s, want %s", time.Unix(got, 0).UTC(), target)
	}
	return target
}

// lastHeartbeat is the control plane's received_at (host clock) of the
// gateway's newest heartbeat.
func (h *host) lastHeartbeat(t *testing.T) time.Time {
	t.Helper()
	var out struct {
		Heartbeats []struct {
			ReceivedAt time.Time `json:"received_at"`
		}
	}
	if st := h.cloud.Call("GET", "/api/v1/gateways/"+gatewayID+"/health?limit=1", h.admin, nil, &out); st != 200 {
		t.Fatalf("health: %d", st)
	}
	if len(out.Heartbeats) == 0 {
		return time.Time{}
	}
	return out.Heartbeats[0].ReceivedAt
}

// heartbeatAfter waits up to limit for a heartbeat the control plane
// received after since, and returns how long after since it came (0: none).
func (h *host) heartbeatAfter(t *testing.T, since time.Time, limit time.Duration) time.Duration {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if at := h.lastHeartbeat(t); at.After(since) {
			return time.Since(since)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return 0
}

// Console lines of the agent this test waits for.
const (
	onMTLS     = "talking to the control plane over mTLS"
	skewWarned = "gateway clock differs from the control plane's"
)

// checkClockJumps moves the guest's clock 3 h forward, 25 h forward (past
// the gateway certificate's 24 h lifetime), back to real time, 3 h back
// and back to real time, with the agent forwarding and on mTLS. After
// each jump, every stream's readings go on reaching Kafka stamped with
// the guest's new time, seq gap-free and increasing from 1 over the whole
// topic, and the running agent sends heartbeats on mTLS (once it is on
// mTLS it has no plain-API fallback, so each heartbeat is an mTLS call
// with its certificate and token). Then the agent is restarted, which
// makes fresh TLS handshakes and loads the stored certificate and token:
// at every offset it must get back on mTLS, because it judges
// certificates by the control plane's time (agent/clock), and where the
// clock is hours off it warns about the skew, in its log and so in the
// gateway logs the control plane serves.
func checkClockJumps(t *testing.T, h *host, v *vm) {
	defer setGuestClock(t, v, 0)
	phases := []struct {
		name   string
		offset time.Duration
	}{
		{"3h forward", 3 * time.Hour},
		{"25h forward", 25 * time.Hour},
		{"back to real time", 0},
		{"3h back", -3 * time.Hour},
		{"back to real time again", 0},
	}
	since := 0 // console offset of the running agent's start
	for _, p := range phases {
		jumped := time.Now()
		guest := setGuestClock(t, v, p.offset)
		v.waitFor(t, p.name+": the running agent on mTLS", time.Minute, func() bool {
			return strings.Contains(v.consoleText()[since:], onMTLS)
		})
		hb := h.heartbeatAfter(t, jumped, time.Minute)
		if hb == 0 {
			t.Fatalf("%s: no heartbeat within a minute of the jump\n%s", p.name, v.tail(3000))
		}
		rep, took := readingsAt(t, h, guest)
		t.Logf("%s: heartbeat %s after the jump; every stream's readings stamped with the new guest time in Kafka after %s: %d readings, seq gap-free, %d duplicates",
			p.name, hb.Round(100*time.Millisecond), took.Round(100*time.Millisecond), rep.Unique, rep.Duplicates)

		since = len(v.consoleText())
		restartAgent(t, v)
		restarted := time.Now() // the old process is gone: later heartbeats are the new one's
		v.waitFor(t, p.name+": the restarted agent on mTLS", time.Minute, func() bool {
			return strings.Contains(v.consoleText()[since:], onMTLS)
		})
		if hb = h.heartbeatAfter(t, restarted, time.Minute); hb == 0 {
			t.Fatalf("%s: no heartbeat within a minute of restarting the agent\n%s", p.name, v.tail(3000))
		}
		t.Logf("%s: restarted agent on mTLS, first heartbeat %s after the restart", p.name, hb.Round(100*time.Millisecond))
		if p.offset != 0 {
			if !strings.Contains(v.consoleText()[since:], skewWarned) {
				t.Fatalf("%s: the restarted agent did not warn about its clock\n%s", p.name, v.tail(3000))
			}
			v.waitFor(t, p.name+": the skew warning in the gateway logs", time.Minute, func() bool { return h.loggedSince(t, skewWarned, restarted) })
		}
	}
}

// loggedSince reports whether the control plane holds a WARN line of the
// gateway with message, received after since.
func (h *host) loggedSince(t *testing.T, message string, since time.Time) bool {
	t.Helper()
	var out struct {
		Lines []struct {
			Message    string
			ReceivedAt time.Time `json:"received_at"`
		}
	}
	if st := h.cloud.Call("GET", "/api/v1/gateways/"+gatewayID+"/logs?level=warn&limit=200", h.admin, nil, &out); st != 200 {
		t.Fatalf("gateway logs: %d", st)
	}
	for _, l := range out.Lines {
		if strings.HasPrefix(l.Message, message) && l.ReceivedAt.After(since) {
			return true
		}
	}
	return false
}

// readingsAt reads the telemetry topic from the start until every stream
// has a reading with source_time at or after guest (minus the poll
// interval's slack) and within the jump's window, and checks the whole
// topic read so far: each stream's seq from 1, increasing, no gap.
func readingsAt(t *testing.T, h *host, guest time.Time) (kafkatest.Report, time.Duration) {
	t.Helper()
	start := time.Now()
	ck := kafkatest.NewChecker(nil)
	seen := map[string]bool{}
	var addErr error
	scanErr := kafkatest.Scan(context.Background(), kafkatest.Conn{Brokers: h.broker.Addr}, "telemetry.raw", 90*time.Second,
		func(batch []kafkatest.Record) bool {
			for _, r := range batch {
				if addErr == nil {
					addErr = ck.Add(r)
				}
				st := r.Body.SourceTime
				if !st.Before(guest.Add(-time.Second)) && st.Before(guest.Add(5*time.Minute)) {
					seen[r.Key] = true
				}
			}
			return addErr != nil || len(seen) == tags
		})
	if addErr != nil {
		t.Fatalf("readings across the clock jump: %v", addErr)
	}
	if scanErr != nil {
		t.Fatalf("readings stamped %s: %d of %d streams: %v", guest, len(seen), tags, scanErr)
	}
	rep, err := ck.Done(ck.Last())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Streams != tags {
		t.Fatalf("%d streams, want %d", rep.Streams, tags)
	}
	return rep, time.Since(start)
}
