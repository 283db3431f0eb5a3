package modbus

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/streamforge/streamforge/adapters"
)

// typeRegisters is how many 16-bit registers each type occupies (strings vary).
var typeRegisters = map[adapters.DataType]int{
	adapters.TypeBool: 1, adapters.TypeInt16: 1, adapters.TypeUint16: 1,
	adapters.TypeInt32: 2, adapters.TypeUint32: 2, adapters.TypeFloat32: 2,
	adapters.TypeInt64: 4, adapters.TypeUint64: 4, adapters.TypeFloat64: 4,
	adapters.TypeString: 0,
}

// orders says, per byte order name, whether bytes inside each register are
// swapped and whether the register (word) order is reversed. "A" is the most
// significant byte; ABCD is plain big-endian as the Modbus spec sends it.
var orders = map[string]struct{ swapBytes, swapWords bool }{
	"ABCD": {false, false},
	"CDAB": {false, true},
	"BADC": {true, false},
	"DCBA": {true, true},
}

// normalize returns the tag's raw register bytes in big-endian order.
func normalize(raw []byte, order string, isString bool) []byte {
	o := orders[order]
	b := make([]byte, len(raw))
	copy(b, raw)
	if o.swapBytes {
		for i := 0; i+1 < len(b); i += 2 {
			b[i], b[i+1] = b[i+1], b[i]
		}
	}
	if o.swapWords && !isString {
		for i, j := 0, len(b)-2; i < j; i, j = i+2, j-2 {
			b[i], b[i+1], b[j], b[j+1] = b[j], b[j+1], b[i], b[i+1]
		}
	}
	return b
}

// decodeRegisters turns a tag's registers (2 bytes each, as received) into
// its value, scaled when the tag has a scale or offset.
func decodeRegisters(t *Tag, raw []byte) (any, error) {
	if len(raw) != 2*t.count() {
		return nil, fmt.Errorf("tag %s: got %d bytes, want %d", t.Name, len(raw), 2*t.count())
	}
	b := normalize(raw, t.Order, t.Type == adapters.TypeString)
	var v any
	switch t.Type {
	case adapters.TypeBool:
		return binary.BigEndian.Uint16(b) != 0, nil
	case adapters.TypeString:
		return strings.TrimRight(string(b[:t.Length]), "\x00 "), nil
	case adapters.TypeInt16:
		v = int64(int16(binary.BigEndian.Uint16(b)))
	case adapters.TypeUint16:
		v = uint64(binary.BigEndian.Uint16(b))
	case adapters.TypeInt32:
		v = int64(int32(binary.BigEndian.Uint32(b)))
	case adapters.TypeUint32:
		v = uint64(binary.BigEndian.Uint32(b))
	case adapters.TypeInt64:
		v = int64(binary.BigEndian.Uint64(b))
	case adapters.TypeUint64:
		v = binary.BigEndian.Uint64(b)
	case adapters.TypeFloat32:
		v = float64(math.Float32frombits(binary.BigEndian.Uint32(b)))
	case adapters.TypeFloat64:
		v = math.Float64frombits(binary.BigEndian.Uint64(b))
	default:
		return nil, fmt.Errorf("tag %s: unknown type %q", t.Name, t.Type)
	}
	return scale(t, v), nil
}

// scale applies value*scale+offset; a scaled value is always float64.
func scale(t *Tag, v any) any {
	if t.Scale == 1 && t.Offset == 0 {
		return v
	}
	return toFloat(v)*t.Scale + t.Offset
}

// readingType is the type a tag's readings carry: scaling makes integers float64.
func readingType(t *Tag) adapters.DataType {
	if t.Scale != 1 || t.Offset != 0 {
		return adapters.TypeFloat64
	}
	return t.Type
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	case float64:
		return x
	}
	return math.NaN()
}

// bit returns bit i of a packed coil response (least significant bit first).
func bit(packed []byte, i int) bool { return packed[i/8]>>(i%8)&1 == 1 }
