package buffer

import (
	"errors"
	"testing"
	"time"

	"github.com/streamforge/streamforge/adapters"
)

func TestDecodeRejectsDamagedRecords(t *testing.T) {
	r := reading("plc1", "temp", 21.5)
	body, err := encodeBody(nil, &r)
	if err != nil {
		t.Fatal(err)
	}
	good := appendRecord(nil, 7, time.Now(), body)
	var out adapters.Reading
	if err := decodeRecord(good, &out); err != nil || out.Seq != 7 {
		t.Fatalf("good record: %v, seq %d", err, out.Seq)
	}
	cases := map[string][]byte{
		"fail-empty":         nil,
		"fail-short-header":  good[:headerLen-1],
		"fail-version":       append([]byte{9}, good[1:]...),
		"fail-truncated":     good[:len(good)-1],
		"fail-trailing-byte": append(append([]byte(nil), good...), 0),
		"fail-value-kind":    append(append([]byte(nil), good[:len(good)-9]...), 0x7f),
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			if err := decodeRecord(v, &out); !errors.Is(err, errCorrupt) {
				t.Errorf("decode: %v, want errCorrupt", err)
			}
		})
	}
}

func TestEncodeWidensNarrowGoTypes(t *testing.T) {
	cases := []struct {
		name string
		in   any
		want any
	}{
		{"int", 5, int64(5)}, {"int32", int32(-5), int64(-5)}, {"int16", int16(-2), int64(-2)},
		{"uint32", uint32(5), uint64(5)}, {"uint16", uint16(6), uint64(6)}, {"float32", float32(0.5), 0.5},
		{"false", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := reading("d", "t", c.in)
			body, err := encodeBody(nil, &r)
			if err != nil {
				t.Fatal(err)
			}
			var out adapters.Reading
			if err := decodeRecord(appendRecord(nil, 1, time.Now(), body), &out); err != nil || out.Value != c.want {
				t.Errorf("got %#v (%v), want %#v", out.Value, err, c.want)
			}
		})
	}
}
