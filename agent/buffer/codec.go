package buffer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/streamforge/streamforge/adapters"
)

// A stored record (the bbolt value; the key is the 8-byte big-endian ID):
//
//	version   1 byte  (codecVersion)
//	seq       8 bytes big-endian, assigned at commit
//	storedAt  8 bytes big-endian unix nanoseconds of the commit
//	body      the reading, encoded by encodeBody below
//
// The header has a fixed size so that the committer can stamp it in front of
// a body that the writer's goroutine encoded, without re-encoding.
const (
	codecVersion = 1
	headerLen    = 1 + 8 + 8
	// recordOverhead is what one record costs beside its body: key, header
	// and bbolt's leaf element. Every byte limit counts body+recordOverhead.
	recordOverhead = 8 + headerLen + 16
)

// Body: quality, type code [type string], gateway, device, tag, source time,
// value kind, value. Strings are uvarint length + bytes.
const (
	kindNil byte = iota
	kindFalse
	kindTrue
	kindInt
	kindUint
	kindFloat
	kindString
)

var typeCodes = []adapters.DataType{"", adapters.TypeBool, adapters.TypeInt16, adapters.TypeUint16,
	adapters.TypeInt32, adapters.TypeUint32, adapters.TypeInt64, adapters.TypeUint64,
	adapters.TypeFloat32, adapters.TypeFloat64, adapters.TypeString}

const typeOther = 0xff

var errCorrupt = errors.New("corrupt buffer record")

func typeCode(t adapters.DataType) byte {
	for i, c := range typeCodes {
		if c == t {
			return byte(i)
		}
	}
	return typeOther
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// encodeBody appends r's body. It fails on a value type a Reading may not hold.
func encodeBody(dst []byte, r *adapters.Reading) ([]byte, error) {
	dst = append(dst, byte(r.Quality))
	code := typeCode(r.Type)
	dst = append(dst, code)
	if code == typeOther {
		dst = appendString(dst, string(r.Type))
	}
	dst = appendString(dst, r.GatewayID)
	dst = appendString(dst, r.Device)
	dst = appendString(dst, r.Tag)
	if r.SourceTime.IsZero() {
		dst = append(dst, 0)
	} else {
		dst = append(dst, 1)
		dst = binary.AppendVarint(dst, r.SourceTime.UnixNano())
	}
	switch v := r.Value.(type) {
	case nil:
		dst = append(dst, kindNil)
	case bool:
		if v {
			dst = append(dst, kindTrue)
		} else {
			dst = append(dst, kindFalse)
		}
	case int64:
		dst = binary.AppendVarint(append(dst, kindInt), v)
	case int:
		dst = binary.AppendVarint(append(dst, kindInt), int64(v))
	case int32:
		dst = binary.AppendVarint(append(dst, kindInt), int64(v))
	case int16:
		dst = binary.AppendVarint(append(dst, kindInt), int64(v))
	case uint64:
		dst = binary.AppendUvarint(append(dst, kindUint), v)
	case uint32:
		dst = binary.AppendUvarint(append(dst, kindUint), uint64(v))
	case uint16:
		dst = binary.AppendUvarint(append(dst, kindUint), uint64(v))
	case float64:
		dst = binary.BigEndian.AppendUint64(append(dst, kindFloat), math.Float64bits(v))
	case float32:
		dst = binary.BigEndian.AppendUint64(append(dst, kindFloat), math.Float64bits(float64(v)))
	case string:
		if len(v) > adapters.MaxStringValue {
			return dst, fmt.Errorf("reading %s: string value of %d bytes, limit %d: %w",
				r.StreamKey(), len(v), adapters.MaxStringValue, ErrTooLarge)
		}
		dst = appendString(append(dst, kindString), v)
	default:
		return dst, fmt.Errorf("reading %s: unsupported value type %T", r.StreamKey(), r.Value)
	}
	return dst, nil
}

// appendRecord appends a stored record: header then body.
func appendRecord(dst []byte, seq uint64, storedAt time.Time, body []byte) []byte {
	dst = append(dst, codecVersion)
	dst = binary.BigEndian.AppendUint64(dst, seq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(storedAt.UnixNano()))
	return append(dst, body...)
}

// recordCharge is what a stored record counts against the byte limit.
func recordCharge(value []byte) int64 {
	return int64(len(value)-headerLen) + recordOverhead
}

// storedAt reads the commit time from a stored record's header.
func storedAt(value []byte) (time.Time, error) {
	if len(value) < headerLen || value[0] != codecVersion {
		return time.Time{}, errCorrupt
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(value[9:17]))), nil
}

// decodeRecord decodes a stored record into r; strings are copied, so r
// stays valid after the transaction. Names (gateway, device, tag, type) are
// shared through names when it is not nil: a batch of records repeats them.
func decodeRecord(value []byte, r *adapters.Reading, names map[string]string) error {
	if len(value) < headerLen || value[0] != codecVersion {
		return errCorrupt
	}
	d := decoder{b: value[headerLen:], names: names}
	r.Seq = binary.BigEndian.Uint64(value[1:9])
	r.Quality = adapters.Quality(d.byte())
	code := d.byte()
	switch {
	case code == typeOther:
		r.Type = adapters.DataType(d.name())
	case int(code) < len(typeCodes):
		r.Type = typeCodes[code]
	default:
		d.err = errCorrupt
	}
	r.GatewayID, r.Device, r.Tag = d.name(), d.name(), d.name()
	r.SourceTime = time.Time{}
	if d.byte() == 1 {
		r.SourceTime = time.Unix(0, d.varint()).UTC()
	}
	switch d.byte() {
	case kindNil:
		r.Value = nil
	case kindFalse:
		r.Value = false
	case kindTrue:
		r.Value = true
	case kindInt:
		r.Value = d.varint()
	case kindUint:
		r.Value = d.uvarint()
	case kindFloat:
		r.Value = math.Float64frombits(d.fixed64())
	case kindString:
		r.Value = d.string()
	default:
		d.err = errCorrupt
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	return d.err
}

type decoder struct {
	b     []byte
	err   error
	names map[string]string
}

func (d *decoder) fail() { d.err, d.b = errCorrupt, nil }

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) fixed64() uint64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

// name is string for values that repeat across records.
func (d *decoder) name() string {
	if d.names == nil {
		return d.string()
	}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	raw := d.b[:n]
	d.b = d.b[n:]
	if s, ok := d.names[string(raw)]; ok {
		return s
	}
	s := string(raw)
	d.names[s] = s
	return s
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
