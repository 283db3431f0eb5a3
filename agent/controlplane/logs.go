package controlplane

import (
	"context"
	"net/http"

	"github.com/streamforge/streamforge/pkg/wire"
)

// Bounds of the log lines sent after one heartbeat: a backlog (after an
// outage, or a burst of debug lines) goes out over several heartbeats
// rather than in one large request.
const (
	logBatchLines = 200
	logBatchBytes = 64 << 10
)

// shipLogs sends the log lines logged since the last batch the control
// plane took. A failed send is retried with the next heartbeat; lines the
// ring evicts meanwhile are counted as dropped in the next batch.
func (l *Loop) shipLogs(ctx context.Context) {
	if l.opts.Logs == nil {
		return
	}
	lines, dropped := l.opts.Logs.Since(l.logsShipped, logBatchLines, logBatchBytes)
	if len(lines) == 0 {
		return
	}
	err := l.opts.Client.ShipLogs(ctx, wire.LogBatch{Entries: lines, Dropped: dropped})
	switch {
	case err == nil:
		l.logsShipped = lines[len(lines)-1].Seq
	case IsStatus(err, http.StatusBadRequest, http.StatusRequestEntityTooLarge):
		// Sending the same batch again would be refused again.
		l.logsShipped = lines[len(lines)-1].Seq
		l.opts.Log.Warn("log lines refused by the control plane; skipped", "lines", len(lines), "err", err)
	}
	// Other failures are retried with the next heartbeat, unlogged: the
	// heartbeat's own failure is in the log already.
}
