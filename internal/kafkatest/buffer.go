package kafkatest

import (
	"context"
	"fmt"
	"time"

	"github.com/streamforge/streamforge/adapters"
	"github.com/streamforge/streamforge/agent/buffer"
)

// Leftovers returns the readings still in the agent's buffer file at path
// (committed after the last drain) as records of the partitions their
// streams use in recs, so Check can count them as delivered-to-be.
func Leftovers(path string, recs []Record) ([]Record, error) {
	buf, err := buffer.Open(path, buffer.Options{NoReserve: true}) // read only: no disk reservation
	if err != nil {
		return nil, fmt.Errorf("open buffer %s: %w", path, err)
	}
	defer buf.Close()
	left, err := buf.Read(nil, 0, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("read buffer %s: %w", path, err)
	}
	partition := map[string]int32{}
	for _, r := range recs {
		partition[r.Key] = r.Partition
	}
	out := make([]Record, 0, len(left))
	for _, l := range left {
		key := l.Reading.StreamKey()
		out = append(out, Record{Topic: "buffer", Partition: partition[key], Key: key,
			Body: Body{GatewayID: l.Reading.GatewayID, Device: l.Reading.Device, Tag: l.Reading.Tag, Seq: l.Reading.Seq}})
	}
	return out, nil
}

// CommittedSeqs returns, per stream seen in recs, the last seq the agent's
// buffer file at path committed: the buffer persists its counters, so a
// reading put now gets the next one. Kafka must hold every seq up to it.
// It writes probe readings into the buffer: use it on a copy, or once the
// agent is done.
func CommittedSeqs(path string, recs []Record) (map[string]uint64, error) {
	buf, err := buffer.Open(path, buffer.Options{NoReserve: true}) // read only: no disk reservation
	if err != nil {
		return nil, fmt.Errorf("open buffer %s: %w", path, err)
	}
	defer buf.Close()
	probe := map[string]adapters.Reading{}
	for _, r := range recs {
		probe[r.Key] = adapters.Reading{GatewayID: r.Body.GatewayID, Device: r.Body.Device, Tag: r.Body.Tag,
			Type: adapters.TypeFloat32, Value: 0.0, SourceTime: time.Now()}
	}
	want := map[string]uint64{}
	for key, r := range probe {
		rs := []adapters.Reading{r}
		if err := buf.Put(context.Background(), rs); err != nil {
			return nil, fmt.Errorf("probe %s: %w", key, err)
		}
		want[key] = rs[0].Seq - 1
	}
	return want, nil
}

// BufferTail is Leftovers then CommittedSeqs on the same buffer file.
func BufferTail(path string, recs []Record) (want map[string]uint64, left []Record, err error) {
	if left, err = Leftovers(path, recs); err != nil {
		return nil, nil, err
	}
	want, err = CommittedSeqs(path, recs)
	return want, left, err
}
