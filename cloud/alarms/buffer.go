package alarms

import (
	"context"
	"fmt"
	"time"

	"github.com/streamforge/streamforge/pkg/wire"
)

// Buffer, bad-quality and certificate renewal error alarms come from each
// heartbeat as it arrives (they compare it with the previous one, and the
// heartbeat history keeps neither the buffer's fill, drops nor the renewal
// error), through gateways.Service.OnHeartbeat. The
// replica that receives a heartbeat raises or touches the alarm (at most
// once per Interval per alarm, so a full buffer costs no write per
// heartbeat); any evaluator clears it once nobody has touched it for
// ClearAfter plus an Interval.
const (
	BufferFull     = "buffer_full"
	BufferDropping = "buffer_dropping"
	// DeviceBadQuality: a connected device whose bad answers (Modbus
	// exceptions, OPC UA bad statuses) grew since the previous heartbeat.
	DeviceBadQuality = "device_bad_quality"
	// bufferFullRatio is the fill past which a buffer is nearly full.
	bufferFullRatio = 0.8
)

// gatewayBuffer is what this process remembers of a gateway's heartbeats.
type gatewayBuffer struct {
	seen         bool
	droppedTotal uint64
	faults       map[string]uint64    // per adapter/device, as last reported
	pending      map[string]time.Time // condition present since
	touched      map[string]time.Time // last raise or touch
}

// bufferConditions reads one heartbeat; dropping needs the previous one's
// count (a restarted agent counts from 0 again: no drop).
func bufferConditions(id string, hb wire.Heartbeat, st *gatewayBuffer) []Condition {
	var out []Condition
	if hb.BufferMaxBytes > 0 && float64(hb.BufferBytes) > bufferFullRatio*float64(hb.BufferMaxBytes) {
		out = append(out, Condition{Kind: BufferFull, Category: Operational, Severity: Major, GatewayID: id,
			Message: fmt.Sprintf("buffer %.0f%% full (%d of %d bytes)", 100*float64(hb.BufferBytes)/float64(hb.BufferMaxBytes), hb.BufferBytes, hb.BufferMaxBytes)})
	}
	if st.seen && hb.DroppedTotal > st.droppedTotal {
		out = append(out, Condition{Kind: BufferDropping, Category: Operational, Severity: Critical, GatewayID: id,
			Message: fmt.Sprintf("buffer dropping readings (%d dropped since the agent started)", hb.DroppedTotal)})
	}
	if hb.CertRenewalError != "" {
		out = append(out, Condition{Kind: CertRenewalError, Category: Operational, Severity: Major, GatewayID: id,
			Message: "certificate renewal failed: " + hb.CertRenewalError})
	}
	faults := make(map[string]uint64, len(hb.Adapters))
	for _, d := range hb.Adapters {
		dev := d.Name + "/" + d.Device
		faults[dev] = d.Faults
		if prev, ok := st.faults[dev]; ok && d.Connected && d.Faults > prev {
			out = append(out, Condition{Kind: DeviceBadQuality, Category: Operational, Severity: Minor, GatewayID: id, Subject: dev,
				Message: fmt.Sprintf("%d bad answers since the previous heartbeat", d.Faults-prev)})
		}
	}
	st.seen, st.droppedTotal, st.faults = true, hb.DroppedTotal, faults
	return out
}

// Heartbeat is the hook gateways.Service.OnHeartbeat calls.
func (e *Evaluator) Heartbeat(ctx context.Context, gatewayID string, hb wire.Heartbeat) {
	now := e.Now().UTC()
	e.bufMu.Lock()
	st := e.buffers[gatewayID]
	if st == nil {
		st = &gatewayBuffer{pending: map[string]time.Time{}, touched: map[string]time.Time{}}
		e.buffers[gatewayID] = st
	}
	var due []Condition
	present := map[string]bool{}
	for _, c := range bufferConditions(gatewayID, hb, st) {
		k := c.Key()
		present[k] = true
		first, ok := st.pending[k]
		if !ok {
			first, st.pending[k] = now, now
		}
		if now.Sub(first) >= e.cfg.RaiseAfter && now.Sub(st.touched[k]) >= e.cfg.Interval {
			st.touched[k] = now
			due = append(due, c)
		}
	}
	for k := range st.pending {
		if !present[k] {
			delete(st.pending, k)
			delete(st.touched, k)
		}
	}
	e.bufMu.Unlock()
	for _, c := range due {
		if err := e.raise(ctx, now, c, nil); err != nil {
			e.log.Warn("buffer alarm", "gateway", gatewayID, "err", err)
		}
	}
}

// forgetGone drops the heartbeat state of gateways no longer approved
// (deleted, or revoked): it would otherwise stay for the life of the
// process, and a gateway enrolled again under the same id would inherit it.
func (e *Evaluator) forgetGone(approved map[string]bool) {
	e.bufMu.Lock()
	defer e.bufMu.Unlock()
	for id := range e.buffers {
		if !approved[id] {
			delete(e.buffers, id)
		}
	}
}
