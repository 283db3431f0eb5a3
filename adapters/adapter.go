// Package adapters defines what every protocol adapter produces (readings)
// and the one small interface an adapter implements. Protocol packages live
// beside it: modbus/, opcua/, and sim/ (simulated PLCs for demo and tests).
package adapters

import (
	"context"
	"time"
)

// Quality says how far a reading's value can be trusted.
type Quality uint8

const (
	QualityGood Quality = iota
	QualityUncertain
	QualityBad
)

func (q Quality) String() string {
	switch q {
	case QualityGood:
		return "good"
	case QualityUncertain:
		return "uncertain"
	default:
		return "bad"
	}
}

// DataType names the type of a reading's value.
type DataType string

const (
	TypeBool    DataType = "bool"
	TypeInt16   DataType = "int16"
	TypeUint16  DataType = "uint16"
	TypeInt32   DataType = "int32"
	TypeUint32  DataType = "uint32"
	TypeInt64   DataType = "int64"
	TypeUint64  DataType = "uint64"
	TypeFloat32 DataType = "float32"
	TypeFloat64 DataType = "float64"
	TypeString  DataType = "string"
)

// MaxStringValue is the longest string value a reading may carry, in bytes.
// It keeps every record far below a broker's default message size limit
// (1 MB, even with JSON escaping), so one reading can never block delivery
// of those behind it. Adapters report a longer value as a Bad reading
// without a value; the buffer refuses it.
const MaxStringValue = 64 << 10

// Reading is one value of one tag of one device at one instant.
//
// Value holds bool, int64, uint64, float64 or string; Type keeps the
// device-side type (an int16 register is carried as int64 with Type int16).
// Seq is assigned by the agent's buffer when the reading is committed: it
// grows by one per stream (gateway, device, tag) across restarts, so a
// consumer can drop the duplicates a crash between delivery and delete causes.
type Reading struct {
	GatewayID  string    `json:"gateway_id"`
	Device     string    `json:"device"`
	Tag        string    `json:"tag"`
	Type       DataType  `json:"type"`
	Value      any       `json:"value"`
	Quality    Quality   `json:"-"`
	SourceTime time.Time `json:"source_time"`
	Seq        uint64    `json:"seq"`
}

// StreamKey identifies the stream a reading belongs to; it is also the Kafka
// message key, which keeps order per device and tag.
func (r *Reading) StreamKey() string { return r.GatewayID + "/" + r.Device + "/" + r.Tag }

// Sink takes readings from an adapter. Put returns only once the readings are
// durably committed (or with an error, in which case none of them counts as
// taken). It may block, which is how back-pressure reaches the adapters.
type Sink interface {
	Put(ctx context.Context, readings []Reading) error
}

// A Submitter is a Sink that also takes readings without waiting for their
// commit: Submit returns once they are queued (it may block, as Put does,
// for back-pressure) and wait returns what Put would have. Readings
// submitted one after another are committed in that order. The agent's
// buffer is one; a polling adapter uses it to poll on while a slow disk
// commits what it polled before.
type Submitter interface {
	Sink
	Submit(ctx context.Context, readings []Reading) (wait func() error, err error)
}

// State is an adapter's (or one of its devices') health as reported in
// heartbeats and metrics. Connected is false while the device fails, which
// includes a device that answers but only with faults (every request a
// Modbus exception, for example). Faults counts bad answers by tag and code.
type State struct {
	Device    string    `json:"device"`
	Connected bool      `json:"connected"`
	LastError string    `json:"last_error,omitempty"`
	LastRead  time.Time `json:"last_read,omitempty"`
	Errors    uint64    `json:"errors"`
	Faults    []Fault   `json:"faults,omitempty"`
	// SkippedPolls counts polls left out because the previous one took
	// longer than the interval (a slow device or a slow disk).
	SkippedPolls uint64 `json:"skipped_polls,omitempty"`
}

// Adapter polls or subscribes to devices of one protocol and emits readings.
type Adapter interface {
	// Name is the adapter instance's configured name.
	Name() string
	// Run emits readings to sink until ctx is done. A failing device is
	// reported in States and retried; it never stops the others.
	Run(ctx context.Context, sink Sink) error
	// States reports each device's health.
	States() []State
}
