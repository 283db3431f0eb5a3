package kafkatest

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Leaders returns, for each partition of topic, the node id of its leader
// and the node ids of its in-sync replicas.
func Leaders(ctx context.Context, c Conn, topic string) (leader map[int32]int32, isr map[int32][]int32, err error) {
	opts, err := c.opts()
	if err != nil {
		return nil, nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	leader, isr = map[int32]int32{}, map[int32][]int32{}
	for _, rt := range resp.Topics {
		if rt.ErrorCode != 0 {
			return nil, nil, fmt.Errorf("metadata of %s: error code %d", topic, rt.ErrorCode)
		}
		for _, p := range rt.Partitions {
			leader[p.Partition] = p.Leader
			isr[p.Partition] = p.ISR
		}
	}
	return leader, isr, nil
}

// EndOffsets returns the offset after the last record of each partition of
// topic (its high watermark): a reader has read everything when it has read
// up to these.
func EndOffsets(ctx context.Context, c Conn, topic string) (map[int32]int64, error) {
	leader, _, err := Leaders(ctx, c, topic)
	if err != nil {
		return nil, err
	}
	opts, err := c.opts()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range leader {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p
		rp.Timestamp = -1 // latest
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	shards := cl.RequestSharded(ctx, req)
	out := map[int32]int64{}
	for _, sh := range shards {
		if sh.Err != nil {
			return nil, fmt.Errorf("end offsets of %s: %w", topic, sh.Err)
		}
		for _, t := range sh.Resp.(*kmsg.ListOffsetsResponse).Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					return nil, fmt.Errorf("end offset of %s/%d: error code %d", topic, p.Partition, p.ErrorCode)
				}
				out[p.Partition] = p.Offset
			}
		}
	}
	return out, nil
}
