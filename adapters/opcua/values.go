package opcua

import (
	"fmt"
	"strings"
	"time"

	"github.com/gopcua/opcua/ua"

	"github.com/streamforge/streamforge/adapters"
)

func parseNodeID(s string) (*ua.NodeID, error) {
	id, err := ua.ParseNodeID(s)
	if err != nil {
		return nil, fmt.Errorf("parse node id %q: %w", s, err)
	}
	return id, nil
}

// quality maps an OPC UA status code by its severity bits (Part 4, 7.34.1):
// 00 good, 01 uncertain, 10 and 11 bad. A good value with the overflow bit
// is uncertain: it is real, but the server dropped values before it.
func quality(s ua.StatusCode) adapters.Quality {
	switch uint32(s) >> 30 {
	case 0:
		if overflowed(s) {
			return adapters.QualityUncertain
		}
		return adapters.QualityGood
	case 1:
		return adapters.QualityUncertain
	default:
		return adapters.QualityBad
	}
}

// overflowed reports the overflow info bit of a data value's status (Part 4,
// 7.39): the monitored item's queue was full and the server discarded values.
func overflowed(s ua.StatusCode) bool {
	const infoTypeMask, infoTypeDataValue, overflowBit = 0x0C00, 0x0400, 0x0080
	return uint32(s)&infoTypeMask == infoTypeDataValue && uint32(s)&overflowBit != 0
}

// statusName names a status code by its severity and sub-code (info bits
// dropped), for fault counts: BadNodeIDUnknown, BadCommunicationError, ...
func statusName(s ua.StatusCode) string {
	code := ua.StatusCode(uint32(s) &^ 0xFFFF)
	if d, ok := ua.StatusCodes[code]; ok {
		return strings.TrimPrefix(d.Name, "Status")
	}
	return fmt.Sprintf("0x%08X", uint32(code))
}

// value converts a variant's scalar to a reading value and its type. Types
// without a reading counterpart (dates, localized text, ...) become strings.
func value(v *ua.Variant) (any, adapters.DataType) {
	if v == nil {
		return nil, ""
	}
	switch x := v.Value().(type) {
	case nil:
		return nil, ""
	case bool:
		return x, adapters.TypeBool
	case int8:
		return int64(x), adapters.TypeInt16
	case int16:
		return int64(x), adapters.TypeInt16
	case int32:
		return int64(x), adapters.TypeInt32
	case int64:
		return x, adapters.TypeInt64
	case uint8:
		return uint64(x), adapters.TypeUint16
	case uint16:
		return uint64(x), adapters.TypeUint16
	case uint32:
		return uint64(x), adapters.TypeUint32
	case uint64:
		return x, adapters.TypeUint64
	case float32:
		return float64(x), adapters.TypeFloat32
	case float64:
		return x, adapters.TypeFloat64
	case string:
		return x, adapters.TypeString
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), adapters.TypeString
	case *ua.LocalizedText:
		return x.Text, adapters.TypeString
	default:
		return fmt.Sprint(x), adapters.TypeString
	}
}

// reading builds a reading from a data value; a bad status carries no
// value, and neither does a string longer than adapters.MaxStringValue
// (the reading is Bad: the value cannot be delivered whole).
func reading(gatewayID, device, tag string, dv *ua.DataValue) adapters.Reading {
	r := adapters.Reading{GatewayID: gatewayID, Device: device, Tag: tag, Quality: quality(dv.Status)}
	if r.Quality != adapters.QualityBad {
		r.Value, r.Type = value(dv.Value)
		if s, ok := r.Value.(string); ok && len(s) > adapters.MaxStringValue {
			r.Value, r.Quality = nil, adapters.QualityBad
		}
	}
	r.SourceTime = dv.SourceTimestamp
	if r.SourceTime.IsZero() {
		r.SourceTime = dv.ServerTimestamp
	}
	if r.SourceTime.IsZero() {
		r.SourceTime = time.Now()
	}
	return r
}

// badReadings marks every node of a server bad, as when the session is lost.
func badReadings(gatewayID string, s *Server, now time.Time) []adapters.Reading {
	out := make([]adapters.Reading, len(s.Nodes))
	for i, n := range s.Nodes {
		out[i] = adapters.Reading{GatewayID: gatewayID, Device: s.Name, Tag: n.Name, Quality: adapters.QualityBad, SourceTime: now}
	}
	return out
}
