// Package run wires the agent's data path: adapters write into the durable
// buffer (their Sink), the forwarder drains the buffer to Kafka, and a
// Prometheus endpoint exposes all of it. Shutdown stops the adapters first
// (every Put either committed or not taken), then lets the forwarder flush
// for up to its FlushTimeout while a broker answers, then closes the buffer:
// what was not delivered stays on disk for the next start. Under a control
// plane, a Supervisor owns the data path: it swaps it on each new config
// and restarts it after a failure.
package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/streamforge/streamforge/adapters"
	"github.com/streamforge/streamforge/agent/buffer"
	"github.com/streamforge/streamforge/agent/config"
	"github.com/streamforge/streamforge/agent/forward"
)

// Forwarder drains the buffer until its context ends, then flushes.
type Forwarder interface {
	Run(ctx context.Context) error
}

// Agent is a configured data path, ready to Run.
type Agent struct {
	cfg      *config.Config
	log      *slog.Logger
	reg      *prometheus.Registry
	buf      *buffer.Buffer
	adapters []adapters.Adapter
	fwd      Forwarder
	metrics  net.Listener // nil when metrics are off
	mounts   map[string]http.Handler
}

// New opens the buffer, builds the adapters and the forwarder, and binds
// the metrics listener, so that every configuration or environment problem
// shows before anything runs. Close releases it all if Run is not called.
func New(cfg *config.Config, log *slog.Logger) (*Agent, error) {
	a := &Agent{cfg: cfg, log: log, reg: prometheus.NewRegistry()}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	opts := cfg.BufferOptions()
	opts.Registerer, opts.Logger = a.reg, log
	var err error
	if a.buf, err = buffer.Open(cfg.BufferFile(), opts); err != nil {
		return nil, err
	}
	if err := a.build(); err != nil {
		_ = a.Close()
		return nil, err
	}
	return a, nil
}

func (a *Agent) build() error {
	for i := range a.cfg.Adapters {
		ad, err := config.NewAdapter(&a.cfg.Adapters[i], a.cfg.GatewayID, a.log)
		if err != nil {
			return fmt.Errorf("adapters[%d]: %w", i, err)
		}
		a.adapters = append(a.adapters, ad)
	}
	a.reg.MustRegister(&stateCollector{adapters: a.adapters})
	fwd, err := forward.New(a.cfg.Kafka, a.buf, a.log, forward.NewMetrics(a.reg))
	if err != nil {
		return fmt.Errorf("kafka.%w", err)
	}
	a.fwd = fwd
	if a.cfg.Metrics.Listen != "off" {
		if a.metrics, err = net.Listen("tcp", a.cfg.Metrics.Listen); err != nil {
			return fmt.Errorf("metrics.listen: %w", err)
		}
	}
	return nil
}

// MetricsAddr is the metrics endpoint's bound address ("" when off).
func (a *Agent) MetricsAddr() string {
	if a.metrics == nil {
		return ""
	}
	return a.metrics.Addr().String()
}

// Run runs the data path until ctx ends, then shuts down in order and closes
// the agent. It returns the forwarder's error if it cannot run at all.
func (a *Agent) Run(ctx context.Context) error {
	defer a.Close()
	srv := a.serveMetrics()
	adCtx, stopAdapters := context.WithCancel(context.Background())
	fwdCtx, stopForwarder := context.WithCancel(context.Background())
	defer stopAdapters()
	defer stopForwarder()

	fwdDone := make(chan error, 1)
	go func() { fwdDone <- a.fwd.Run(fwdCtx) }()
	var wg sync.WaitGroup
	for _, ad := range a.adapters {
		wg.Go(func() {
			if err := ad.Run(adCtx, a.buf); err != nil && adCtx.Err() == nil {
				a.log.Error("adapter stopped", "adapter", ad.Name(), "err", err)
			}
		})
	}
	a.log.Info("agent running", "gateway", a.cfg.GatewayID, "adapters", len(a.adapters),
		"buffer", a.cfg.BufferFile(), "metrics", a.MetricsAddr())

	var fwdErr error
	select {
	case <-ctx.Done():
	case fwdErr = <-fwdDone:
		fwdDone <- fwdErr
		if fwdErr != nil {
			a.log.Error("forwarder failed", "err", fwdErr)
		}
	}
	a.log.Info("stopping adapters")
	stopAdapters()
	wg.Wait()
	stopForwarder()
	select {
	case fwdErr = <-fwdDone:
	case <-time.After(flushWait(a.cfg.Kafka.FlushTimeout)):
		a.log.Error("forwarder did not stop within its flush timeout; undelivered readings stay buffered")
	}
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
	}
	st := a.buf.Stats()
	a.log.Info("agent stopped", "buffered_records", st.Records, "buffered_bytes", st.Bytes)
	return fwdErr
}

// flushWait is how long shutdown waits for the forwarder: its flush timeout
// (forward's default when unset) and a margin to close the producer.
func flushWait(flush time.Duration) time.Duration {
	if flush <= 0 {
		flush = 10 * time.Second
	}
	return flush + 5*time.Second
}

func (a *Agent) serveMetrics() *http.Server {
	if a.metrics == nil {
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	for pattern, h := range a.mounts {
		mux.Handle(pattern, h)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(a.metrics); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("metrics server", "err", err)
		}
	}()
	return srv
}

// Close closes the buffer and the metrics listener; Run calls it.
func (a *Agent) Close() error {
	if a.metrics != nil {
		_ = a.metrics.Close()
	}
	return a.buf.Close()
}
