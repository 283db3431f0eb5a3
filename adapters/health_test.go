package adapters

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestHealthCountsFaultsAndLimitsTheirLog(t *testing.T) {
	var logs bytes.Buffer
	h := NewHealth("plc", slog.New(slog.NewTextHandler(&logs, nil)))
	for range 100 {
		h.Fault("b", "illegal_data_address", 1, "exception 2")
		h.Fault("a", "server_device_failure", 2, "exception 4")
	}
	st := h.State()
	want := []Fault{{Tag: "a", Code: "server_device_failure", Count: 200}, {Tag: "b", Code: "illegal_data_address", Count: 100}}
	if len(st.Faults) != 2 || st.Faults[0] != want[0] || st.Faults[1] != want[1] {
		t.Fatalf("faults %+v, want %+v", st.Faults, want)
	}
	if n := strings.Count(logs.String(), "device fault"); n != 2 {
		t.Fatalf("%d fault log lines for 2 tag/code pairs within %v, want 2:\n%s", n, FaultLogEvery, &logs)
	}
	// Once the quiet period is over, the next fault is logged with the number
	// held back since the last line: 99 x (1+2) + 1.
	h.mu.Lock()
	h.loggedAt = time.Now().Add(-FaultLogEvery)
	h.mu.Unlock()
	h.Fault("b", "illegal_data_address", 1, "exception 2")
	if !strings.Contains(logs.String(), "faults_since_last_log=298") {
		t.Fatalf("held-back count not logged:\n%s", &logs)
	}
}

func TestHealthLogsFailuresOncePerCause(t *testing.T) {
	var logs bytes.Buffer
	h := NewHealth("plc", slog.New(slog.NewTextHandler(&logs, nil)))
	h.Up()
	for range 5 {
		h.Down(errors.New("timeout"))
	}
	h.Down(errors.New("refused"))
	h.Up()
	st := h.State()
	if !st.Connected || st.Errors != 6 || st.LastError != "" {
		t.Fatalf("state %+v", st)
	}
	if f, b := strings.Count(logs.String(), "device failing"), strings.Count(logs.String(), "device back"); f != 2 || b != 1 {
		t.Fatalf("%d failing and %d back lines, want 2 and 1:\n%s", f, b, &logs)
	}
}

func TestBackoffDoublesUpToMax(t *testing.T) {
	b := Backoff{Initial: Duration(time.Second), Max: Duration(3 * time.Second)}
	if got := b.Next(time.Second); got != 2*time.Second {
		t.Fatalf("Next(1s) = %v", got)
	}
	if got := b.Next(2 * time.Second); got != 3*time.Second {
		t.Fatalf("Next(2s) = %v, want the 3s cap", got)
	}
}
