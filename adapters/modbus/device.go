package modbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	gmodbus "github.com/goburrow/modbus"

	"github.com/streamforge/streamforge/adapters"
)

// handler is a goburrow client handler that can drop its connection.
type handler interface {
	gmodbus.ClientHandler
	Close() error
}

// group is a poll group with its planned requests and next due time.
type group struct {
	cfg    *PollGroup
	blocks []block
	tags   int // in all blocks: at most this many readings a poll
	next   time.Time
	// refused holds the exception of the group's last poll when every one
	// of its requests was answered with one, else nil.
	refused error
}

// device polls one Modbus slave over its own connection in its own
// goroutine, so a slow or dead device delays nobody else.
type device struct {
	cfg       *Device
	gatewayID string
	log       *slog.Logger
	h         handler
	client    gmodbus.Client
	groups    []*group
	last      map[*Tag]*exception
	health    *adapters.Health
}

func newDevice(gatewayID string, cfg *Device, log *slog.Logger) *device {
	log = log.With("device", cfg.Name)
	d := &device{cfg: cfg, gatewayID: gatewayID, log: log, last: map[*Tag]*exception{},
		health: adapters.NewHealth(cfg.Name, log)}
	d.h = newHandler(cfg)
	d.client = gmodbus.NewClient(d.h)
	for i := range cfg.PollGroups {
		g := &cfg.PollGroups[i]
		var tags []*Tag
		for j := range cfg.Tags {
			if t := &cfg.Tags[j]; t.Group == g.Name {
				tags = append(tags, t)
				d.last[t] = &exception{}
			}
		}
		d.groups = append(d.groups, &group{cfg: g, blocks: plan(tags, cfg.MaxRegisters, cfg.MaxGap), tags: len(tags)})
	}
	return d
}

func newHandler(cfg *Device) handler {
	if cfg.RTU == nil {
		h := gmodbus.NewTCPClientHandler(cfg.TCP)
		h.SlaveId, h.Timeout = cfg.UnitID, time.Duration(cfg.Timeout)
		return h
	}
	h := gmodbus.NewRTUClientHandler(cfg.RTU.Device)
	h.SlaveId, h.Timeout = cfg.UnitID, time.Duration(cfg.Timeout)
	h.BaudRate, h.DataBits, h.Parity, h.StopBits = cfg.RTU.Baud, cfg.RTU.DataBits, cfg.RTU.Parity, cfg.RTU.StopBits
	return h
}

// run polls every group on its interval until ctx is done. After a failed
// poll it waits out a doubling back-off before talking to the device again.
//
// A poll's readings are stored while the next polls are made: the buffer's
// commit (an fsync: milliseconds, tens of them on an SD card) would
// otherwise add to every cycle, and a group polled every few milliseconds
// would miss most of its polls. At most inFlight polls' readings wait for
// their commit, so a full buffer still holds the device back
// (back-pressure), and readings reach the buffer in the order they were
// polled.
func (d *device) run(ctx context.Context, sink adapters.Sink) {
	defer d.h.Close()
	now := time.Now()
	for _, g := range d.groups {
		g.next = now
	}
	q := newPutQueue(sink)
	defer q.drain(ctx, d)
	backoff := time.Duration(d.cfg.Backoff.Initial)
	for {
		g := d.groups[0]
		for _, o := range d.groups[1:] {
			if o.next.Before(g.next) {
				g = o
			}
		}
		if !adapters.Sleep(ctx, time.Until(g.next)) {
			return
		}
		g.next = g.next.Add(time.Duration(g.cfg.Interval))
		if now := time.Now(); g.next.Before(now) {
			// Skip missed polls instead of bursting, and count them: a
			// device slower than its interval shows in the metrics.
			missed := now.Sub(g.next)/time.Duration(g.cfg.Interval) + 1
			d.health.Skipped(uint64(missed))
			g.next = g.next.Add(missed * time.Duration(g.cfg.Interval))
		}
		readings, err := d.poll(g)
		d.record(err)
		if len(readings) > 0 {
			q.put(ctx, d, g, readings)
		}
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			backoff = time.Duration(d.cfg.Backoff.Initial)
			continue
		}
		if !adapters.Sleep(ctx, backoff) {
			return
		}
		backoff = d.cfg.Backoff.Next(backoff)
	}
}

// inFlight is how many polls' readings of one device may wait for their
// commit at once: enough to ride out fsyncs that take several poll
// intervals, few enough that a full buffer soon holds the device back.
const inFlight = 4

// putQueue holds a device's readings that wait for their commit, oldest
// first. A sink that is no adapters.Submitter gets one Put at a time, in
// the background.
type putQueue struct {
	sink    adapters.Sink
	sub     adapters.Submitter // sink, if it is one
	limit   int                // pending at most
	pending []pendingPut
}

func newPutQueue(sink adapters.Sink) *putQueue {
	if sub, ok := sink.(adapters.Submitter); ok {
		return &putQueue{sink: sink, sub: sub, limit: inFlight}
	}
	return &putQueue{sink: sink, limit: 1} // Puts run side by side could commit out of order
}

type pendingPut struct {
	g    *group
	n    int
	wait func() error
}

// put hands readings to the sink, after waiting for the oldest pending
// commit if the queue is full.
func (q *putQueue) put(ctx context.Context, d *device, g *group, readings []adapters.Reading) {
	for len(q.pending) >= q.limit {
		q.waitOldest(ctx, d)
	}
	if q.sub == nil {
		done := make(chan error, 1)
		go func() { done <- q.sink.Put(ctx, readings) }()
		q.pending = append(q.pending, pendingPut{g: g, n: len(readings), wait: func() error { return <-done }})
		return
	}
	wait, err := q.sub.Submit(ctx, readings)
	if err != nil {
		refused(ctx, d, g, len(readings), err)
		return
	}
	q.pending = append(q.pending, pendingPut{g: g, n: len(readings), wait: wait})
}

// waitOldest waits for the oldest pending commit.
func (q *putQueue) waitOldest(ctx context.Context, d *device) {
	p := q.pending[0]
	q.pending = q.pending[1:]
	if err := p.wait(); err != nil {
		refused(ctx, d, p.g, p.n, err)
	}
}

// drain waits for every pending commit (at shutdown).
func (q *putQueue) drain(ctx context.Context, d *device) {
	for len(q.pending) > 0 {
		q.waitOldest(ctx, d)
	}
}

// refused handles readings the sink did not take. The buffer refuses only
// what it can never store (it holds a write while the disk is full, and
// counts what its drop policies drop): those readings are lost, and the
// group's tags report their values afresh at the next poll. Readings
// refused because the agent stops are not logged.
func refused(ctx context.Context, d *device, g *group, n int, err error) {
	if ctx.Err() == nil {
		d.log.Warn("sink refused readings; they are lost, the tags report afresh at the next poll",
			"readings", n, "err", err)
	}
	d.forget(g)
}

// poll reads every block of g and returns the readings report-by-exception
// lets through. A device-side exception spoils only its block (and is
// counted for each of its tags); a transport error marks the rest of the
// group bad and is returned.
func (d *device) poll(g *group) ([]adapters.Reading, error) {
	out := make([]adapters.Reading, 0, g.tags)
	var failed error
	g.refused = nil
	answered := false
	for i := range g.blocks {
		b := &g.blocks[i]
		var resp []byte
		err := failed
		if err == nil {
			resp, err = d.read(b)
		}
		now := time.Now()
		var mbErr *gmodbus.ModbusError
		switch {
		case err == nil:
			answered = true
		case errors.As(err, &mbErr):
			g.refused = err
			for _, t := range b.tags {
				d.health.Fault(t.Name, exceptionCode(mbErr.ExceptionCode), 1, err.Error())
			}
		default:
			failed = err
		}
		for _, t := range b.tags {
			v, q := d.value(b, t, resp, err)
			if d.last[t].changed(v, q, now, t.Deadband, g.cfg) {
				out = append(out, adapters.Reading{GatewayID: d.gatewayID, Device: d.cfg.Name, Tag: t.Name,
					Type: readingType(t), Value: v, Quality: q, SourceTime: now})
			}
		}
	}
	if answered || failed != nil {
		g.refused = nil
	}
	return out, failed
}

// exceptionCode names a Modbus exception code for metrics.
func exceptionCode(c byte) string {
	switch c {
	case gmodbus.ExceptionCodeIllegalFunction:
		return "illegal_function"
	case gmodbus.ExceptionCodeIllegalDataAddress:
		return "illegal_data_address"
	case gmodbus.ExceptionCodeIllegalDataValue:
		return "illegal_data_value"
	case gmodbus.ExceptionCodeServerDeviceFailure:
		return "server_device_failure"
	case gmodbus.ExceptionCodeAcknowledge:
		return "acknowledge"
	case gmodbus.ExceptionCodeServerDeviceBusy:
		return "server_device_busy"
	case gmodbus.ExceptionCodeMemoryParityError:
		return "memory_parity_error"
	case gmodbus.ExceptionCodeGatewayPathUnavailable:
		return "gateway_path_unavailable"
	case gmodbus.ExceptionCodeGatewayTargetDeviceFailedToRespond:
		return "gateway_target_failed_to_respond"
	default:
		return fmt.Sprintf("exception_%d", c)
	}
}

func (d *device) value(b *block, t *Tag, resp []byte, err error) (any, adapters.Quality) {
	if err != nil {
		return nil, adapters.QualityBad
	}
	if b.register == Coil || b.register == DiscreteInput {
		return bit(resp, int(t.Address-b.start)), adapters.QualityGood
	}
	v, derr := decodeRegisters(t, b.slice(resp, t))
	if derr != nil {
		return nil, adapters.QualityBad
	}
	return v, adapters.QualityGood
}

// read sends one request, retrying on transport errors. Each failure drops
// the connection so a late answer cannot be taken for the next request's.
func (d *device) read(b *block) ([]byte, error) {
	var err error
	for attempt := 0; attempt <= d.cfg.Retries; attempt++ {
		var resp []byte
		resp, err = d.request(b)
		var mbErr *gmodbus.ModbusError
		if err == nil || errors.As(err, &mbErr) {
			return resp, err
		}
		d.h.Close()
	}
	return nil, err
}

func (d *device) request(b *block) ([]byte, error) {
	n := uint16(b.count)
	var resp []byte
	var err error
	switch b.register {
	case Coil:
		resp, err = d.client.ReadCoils(b.start, n)
	case DiscreteInput:
		resp, err = d.client.ReadDiscreteInputs(b.start, n)
	case InputRegister:
		resp, err = d.client.ReadInputRegisters(b.start, n)
	default:
		resp, err = d.client.ReadHoldingRegisters(b.start, n)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s %d+%d: %w", b.register, b.start, n, err)
	}
	want := 2 * b.count
	if b.register == Coil || b.register == DiscreteInput {
		want = (b.count + 7) / 8
	}
	if len(resp) < want {
		return nil, fmt.Errorf("read %s %d+%d: short response of %d bytes", b.register, b.start, n, len(resp))
	}
	return resp, nil
}

// forget makes the next poll of g emit every tag again.
func (d *device) forget(g *group) {
	for _, b := range g.blocks {
		for _, t := range b.tags {
			*d.last[t] = exception{}
		}
	}
}

// record updates the device's health after a poll: a transport error, or
// every poll group answered with nothing but exceptions, counts as failing.
func (d *device) record(err error) {
	if err != nil {
		d.health.Down(err)
		return
	}
	var refused error
	for _, g := range d.groups {
		if g.refused == nil {
			d.health.Up()
			d.health.Read(time.Now())
			return
		}
		refused = g.refused
	}
	d.health.Down(fmt.Errorf("every request answered with an exception: %w", refused))
}

func (d *device) snapshot() adapters.State { return d.health.State() }
