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
