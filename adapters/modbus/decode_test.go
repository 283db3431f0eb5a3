package modbus

import (
	"math"
	"testing"

	"github.com/streamforge/streamforge/adapters"
)

func TestDecodeRegisters(t *testing.T) {
	f32 := []byte{0x3F, 0xC0, 0x00, 0x00} // 1.5
	f64 := math.Float64bits(-2.25)        // 0xC002000000000000
	cases := []struct {
		name  string
		typ   adapters.DataType
		order string
		raw   []byte
		want  any
	}{
		{"ok-bool-true", adapters.TypeBool, "ABCD", []byte{0, 1}, true},
		{"ok-bool-false", adapters.TypeBool, "ABCD", []byte{0, 0}, false},
		{"ok-int16-ABCD", adapters.TypeInt16, "ABCD", []byte{0xFF, 0xFE}, int64(-2)},
		{"ok-int16-CDAB", adapters.TypeInt16, "CDAB", []byte{0xFF, 0xFE}, int64(-2)},
		{"ok-int16-BADC", adapters.TypeInt16, "BADC", []byte{0xFE, 0xFF}, int64(-2)},
		{"ok-int16-DCBA", adapters.TypeInt16, "DCBA", []byte{0xFE, 0xFF}, int64(-2)},
		{"ok-uint16-ABCD", adapters.TypeUint16, "ABCD", []byte{0xFF, 0xFE}, uint64(65534)},
		{"ok-uint16-BADC", adapters.TypeUint16, "BADC", []byte{0x34, 0x12}, uint64(0x1234)},
		{"ok-int32-ABCD", adapters.TypeInt32, "ABCD", []byte{0xFF, 0xFF, 0xFF, 0xFE}, int64(-2)},
		{"ok-int32-CDAB", adapters.TypeInt32, "CDAB", []byte{0xFF, 0xFE, 0xFF, 0xFF}, int64(-2)},
		{"ok-int32-BADC", adapters.TypeInt32, "BADC", []byte{0xFF, 0xFF, 0xFE, 0xFF}, int64(-2)},
		{"ok-int32-DCBA", adapters.TypeInt32, "DCBA", []byte{0xFE, 0xFF, 0xFF, 0xFF}, int64(-2)},
		{"ok-uint32-ABCD", adapters.TypeUint32, "ABCD", []byte{1, 2, 3, 4}, uint64(0x01020304)},
		{"ok-uint32-CDAB", adapters.TypeUint32, "CDAB", []byte{3, 4, 1, 2}, uint64(0x01020304)},
		{"ok-uint32-BADC", adapters.TypeUint32, "BADC", []byte{2, 1, 4, 3}, uint64(0x01020304)},
		{"ok-uint32-DCBA", adapters.TypeUint32, "DCBA", []byte{4, 3, 2, 1}, uint64(0x01020304)},
		{"ok-float32-ABCD", adapters.TypeFloat32, "ABCD", f32, 1.5},
		{"ok-float32-CDAB", adapters.TypeFloat32, "CDAB", []byte{0x00, 0x00, 0x3F, 0xC0}, 1.5},
		{"ok-float32-BADC", adapters.TypeFloat32, "BADC", []byte{0xC0, 0x3F, 0x00, 0x00}, 1.5},
		{"ok-float32-DCBA", adapters.TypeFloat32, "DCBA", []byte{0x00, 0x00, 0xC0, 0x3F}, 1.5},
		{"ok-uint64-ABCD", adapters.TypeUint64, "ABCD", []byte{1, 2, 3, 4, 5, 6, 7, 8}, uint64(0x0102030405060708)},
		{"ok-uint64-CDAB", adapters.TypeUint64, "CDAB", []byte{7, 8, 5, 6, 3, 4, 1, 2}, uint64(0x0102030405060708)},
		{"ok-uint64-BADC", adapters.TypeUint64, "BADC", []byte{2, 1, 4, 3, 6, 5, 8, 7}, uint64(0x0102030405060708)},
		{"ok-uint64-DCBA", adapters.TypeUint64, "DCBA", []byte{8, 7, 6, 5, 4, 3, 2, 1}, uint64(0x0102030405060708)},
		{"ok-int64-ABCD", adapters.TypeInt64, "ABCD", []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFD}, int64(-3)},
		{"ok-int64-DCBA", adapters.TypeInt64, "DCBA", []byte{0xFD, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, int64(-3)},
		{"ok-int64-CDAB", adapters.TypeInt64, "CDAB", []byte{0xFF, 0xFD, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, int64(-3)},
		{"ok-int64-BADC", adapters.TypeInt64, "BADC", []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFD, 0xFF}, int64(-3)},
		{"ok-float64-ABCD", adapters.TypeFloat64, "ABCD", be64(f64), -2.25},
		{"ok-float64-DCBA", adapters.TypeFloat64, "DCBA", []byte{0, 0, 0, 0, 0, 0, 0x02, 0xC0}, -2.25},
		{"ok-float64-CDAB", adapters.TypeFloat64, "CDAB", []byte{0, 0, 0, 0, 0, 0, 0xC0, 0x02}, -2.25},
		{"ok-float64-BADC", adapters.TypeFloat64, "BADC", []byte{0x02, 0xC0, 0, 0, 0, 0, 0, 0}, -2.25},
		{"ok-string-ABCD", adapters.TypeString, "ABCD", []byte("PUMP1\x00"), "PUMP1"},
		{"ok-string-BADC", adapters.TypeString, "BADC", []byte("UPPM\x001"), "PUMP1"},
		{"ok-string-CDAB-keeps-register-order", adapters.TypeString, "CDAB", []byte("PUMP1 "), "PUMP1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tag := &Tag{Name: c.name, Register: HoldingRegister, Type: c.typ, Order: c.order, Scale: 1}
			if c.typ == adapters.TypeString {
				tag.Length = len(c.raw)
			}
			got, err := decodeRegisters(tag, c.raw)
			if err != nil || got != c.want {
				t.Fatalf("got %v (%T), %v; want %v (%T)", got, got, err, c.want, c.want)
			}
		})
	}
}

func be64(v uint64) []byte {
	b := make([]byte, 8)
	for i := range b {
		b[i] = byte(v >> (56 - 8*i))
	}
	return b
}

func TestDecodeScaleAndErrors(t *testing.T) {
	cases := []struct {
		name    string
		tag     Tag
		raw     []byte
		want    any
		wantErr bool
	}{
		{"ok-scale-offset", Tag{Type: adapters.TypeInt16, Order: "ABCD", Scale: 0.1, Offset: -40}, []byte{0x01, 0xF4}, 500*0.1 - 40, false},
		{"fail-short", Tag{Type: adapters.TypeInt32, Order: "ABCD", Scale: 1}, []byte{0, 1}, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := decodeRegisters(&c.tag, c.raw)
			if (err != nil) != c.wantErr || got != c.want {
				t.Fatalf("got %v, %v; want %v, err %v", got, err, c.want, c.wantErr)
			}
		})
	}
}

func TestBitsArePackedLSBFirst(t *testing.T) {
	packed := []byte{0b00000101, 0b10000000}
	for i, want := range map[int]bool{0: true, 1: false, 2: true, 15: true, 14: false} {
		if bit(packed, i) != want {
			t.Errorf("bit %d: want %v", i, want)
		}
	}
}
