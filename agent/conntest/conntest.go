// Package conntest runs the control plane's connection tests on the
// gateway: it connects to one source with the adapter's own code, over a
// connection of its own beside the running data path, reads one poll
// group once and reports the values or the error.
package conntest

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/streamforge/streamforge/adapters"
	"github.com/streamforge/streamforge/adapters/modbus"
	"github.com/streamforge/streamforge/adapters/opcua"
	"github.com/streamforge/streamforge/pkg/pipeline"
	"github.com/streamforge/streamforge/pkg/wire"
)

// Runner runs connection tests for one gateway.
type Runner struct {
	GatewayID string
	Log       *slog.Logger
	// Password resolves the password reference of an OPC UA server of a
	// test (agent/config.Config.TestPassword of the running config); nil
	// refuses every test with a password.
	Password func(opcua.Server) (string, error)
}

// Run performs test t. Its readings never reach the buffer: they are the
// answer to the person who asked, not telemetry.
func (r Runner) Run(t wire.ConnectionTest) wire.ConnectionTestResult {
	start := time.Now()
	res := wire.ConnectionTestResult{Values: []wire.ConnectionTestValue{}}
	readings, err := r.probe(t)
	for _, rd := range readings {
		res.Values = append(res.Values, wire.ConnectionTestValue{Tag: rd.Tag, Type: string(rd.Type), Value: rd.Value, Quality: rd.Quality.String()})
	}
	if err != nil {
		res.Error = err.Error()
	}
	res.DurationMS, res.ReadAt = time.Since(start).Milliseconds(), time.Now().UTC()
	r.Log.Info("connection test done", "test", t.ID, "device", t.Device, "poll_group", t.PollGroup, "values", len(res.Values), "err", err)
	return res
}

func (r Runner) probe(t wire.ConnectionTest) ([]adapters.Reading, error) {
	// The adapter entry is the pipeline's own (JSON is YAML), decoded and
	// checked by the same code as a deployed config.
	var a pipeline.Adapter
	if err := yaml.Unmarshal(t.Adapter, &a); err != nil {
		return nil, err
	}
	switch {
	case a.Modbus != nil:
		return modbus.Probe(r.GatewayID, *a.Modbus, t.Device, t.PollGroup, r.Log)
	case a.OPCUA != nil:
		cfg, err := r.login(*a.OPCUA, t.Device)
		if err != nil {
			return nil, err
		}
		// Not cancelled at shutdown: the probe is bounded by the server's
		// own timeouts, as a Modbus probe is by its device's.
		return opcua.Probe(context.Background(), r.GatewayID, cfg, t.Device, t.PollGroup, r.Log)
	default:
		return nil, errUnsupported(a.Type)
	}
}

type errUnsupported string

func (e errUnsupported) Error() string {
	return "connection tests of " + string(e) + " sources are not supported by this agent yet"
}

// login returns cfg with the password reference of server device (the
// one the test connects to) replaced by its value, as the running config
// sends it to that server. Other servers keep their references: the probe
// talks to none of them.
func (r Runner) login(cfg opcua.Config, device string) (opcua.Config, error) {
	cfg.Servers = append([]opcua.Server(nil), cfg.Servers...)
	for i, srv := range cfg.Servers {
		if srv.Name != device || srv.Identity.Password == "" {
			continue
		}
		if r.Password == nil {
			return cfg, fmt.Errorf("servers[%d].identity.password: this agent resolves no password for a connection test", i)
		}
		pw, err := r.Password(srv)
		if err != nil {
			return cfg, fmt.Errorf("servers[%d].identity.password: %w", i, err)
		}
		cfg.Servers[i].Identity.Password = pw
	}
	return cfg, nil
}
