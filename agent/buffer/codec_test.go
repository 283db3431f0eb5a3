package buffer

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

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
	if err := decodeRecord(good, &out, nil); err != nil || out.Seq != 7 {
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
			if err := decodeRecord(v, &out, nil); !errors.Is(err, errCorrupt) {
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
			if err := decodeRecord(appendRecord(nil, 1, time.Now(), body), &out, nil); err != nil || out.Value != c.want {
				t.Errorf("got %#v (%v), want %#v", out.Value, err, c.want)
			}
		})
	}
}

func TestReadDeletesAnUndecodableRecordInsteadOfStalling(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := open(t, t.TempDir(), Options{Registerer: reg})
	for i := range 3 {
		putOne(t, b, "d", float64(i))
	}
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(rulesPrefix + DefaultRule))
		v := bk.Get(putU64(2))
		return bk.Put(putU64(2), append([]byte{codecVersion}, v[1:len(v)-3]...))
	})
	if err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, b)
	if len(recs) != 2 || recs[0].ID != 1 || recs[1].ID != 3 {
		t.Fatalf("read %+v, want records 1 and 3", recs)
	}
	if s := b.Stats(); s.Corrupt != 1 || s.Records != 2 {
		t.Errorf("stats %+v, want 1 corrupt and 2 records left", s)
	}
	if v := metric(t, reg, "streamforge_buffer_corrupt_records_total", nil); v != 1 {
		t.Errorf("corrupt metric %v", v)
	}
}
