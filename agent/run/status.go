package run

import (
	"net/http"

	"github.com/streamforge/streamforge/pkg/wire"
)

// Mount serves h at pattern on the metrics listener (for example the
// control plane status page); call it before Run.
func (a *Agent) Mount(pattern string, h http.Handler) {
	if a.mounts == nil {
		a.mounts = map[string]http.Handler{}
	}
	a.mounts[pattern] = h
}

// Health is the data path's state for control plane heartbeats.
func (a *Agent) Health() wire.Heartbeat {
	st := a.buf.Stats()
	hb := wire.Heartbeat{Status: "ok", BufferDepth: int64(st.Records), ReadingsTotal: a.buf.LastID(),
		BufferBytes: st.Bytes, BufferMaxBytes: st.MaxBytes}
	for _, n := range st.Drops {
		hb.DroppedTotal += n
	}
	for _, n := range st.Unstored {
		hb.DroppedTotal += n
	}
	for _, ad := range a.adapters {
		for _, s := range ad.States() {
			st := wire.AdapterState{Name: ad.Name(), Device: s.Device, Connected: s.Connected, LastError: s.LastError}
			for _, f := range s.Faults {
				st.Faults += f.Count
			}
			hb.Adapters = append(hb.Adapters, st)
			if !s.Connected {
				hb.Status = "degraded"
			}
		}
	}
	return hb
}
