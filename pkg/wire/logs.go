package wire

import (
	"fmt"
	"math"
	"time"
)

// LogEntry is one line of an agent's log, already scrubbed of secrets by
// the agent. Seq counts the lines of one agent process from 1; a restarted
// agent starts again at 1. Attrs is the line's key=value text.
type LogEntry struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Level   string    `json:"level"`
	Message string    `json:"message"`
	Attrs   string    `json:"attrs,omitempty"`
}

// LogBatch is POST /api/v1/gateways/{id}/logs: the lines logged since the
// previous batch. Dropped counts the lines the agent's ring evicted before
// they could be shipped, so a reader sees that a gap is there.
type LogBatch struct {
	Entries []LogEntry `json:"entries"`
	Dropped uint64     `json:"dropped,omitempty"`
}

// Log batch limits: the control plane refuses a batch past any of them
// (400 naming the field); the agent cuts its lines and batches to fit.
const (
	MaxLogBatchEntries = 500
	MaxLogBatchBytes   = 256 << 10
	MaxLogMessage      = 1024
	MaxLogAttrs        = 2048
)

// LogLevels are the levels a LogEntry may carry, lowest first.
var LogLevels = []string{"DEBUG", "INFO", "WARN", "ERROR"}

// LogLevelRank returns the position of level in LogLevels, or -1.
func LogLevelRank(level string) int {
	for i, l := range LogLevels {
		if l == level {
			return i
		}
	}
	return -1
}

// Check reports the first part of b past its limits.
func (b *LogBatch) Check() error {
	if len(b.Entries) > MaxLogBatchEntries {
		return fmt.Errorf("entries: at most %d per batch", MaxLogBatchEntries)
	}
	size := 0
	for i, e := range b.Entries {
		switch {
		case LogLevelRank(e.Level) < 0:
			return fmt.Errorf("entries[%d].level: one of DEBUG, INFO, WARN, ERROR", i)
		case len(e.Message) > MaxLogMessage:
			return fmt.Errorf("entries[%d].message: at most %d bytes", i, MaxLogMessage)
		case len(e.Attrs) > MaxLogAttrs:
			return fmt.Errorf("entries[%d].attrs: at most %d bytes", i, MaxLogAttrs)
		case e.Time.IsZero():
			return fmt.Errorf("entries[%d].time: required", i)
		case e.Seq > math.MaxInt64:
			// The database's integers are signed 64-bit: a larger seq was a
			// 500, which the agent retries with every heartbeat.
			return fmt.Errorf("entries[%d].seq: at most 2^63-1", i)
		}
		size += len(e.Message) + len(e.Attrs)
	}
	if size > MaxLogBatchBytes {
		return fmt.Errorf("entries: at most %d bytes of text per batch", MaxLogBatchBytes)
	}
	return nil
}

// Size is what e counts against a batch's and a ring's byte bounds.
func (e LogEntry) Size() int { return len(e.Message) + len(e.Attrs) + len(e.Level) + 32 }

// Cut shortens s to at most n bytes on a UTF-8 boundary, ending in "…".
func Cut(s string, n int) string { return cut(s, n) }
