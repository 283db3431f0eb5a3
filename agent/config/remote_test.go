package config

import (
	"strings"
	"testing"
)

func TestMergeOverlaysOnlyRemoteKeys(t *testing.T) {
	local := []byte("gateway_id: gw-1\ndata_dir: /tmp/x\nlog_level: info\nkafka:\n  bootstrap_servers: a:9092\n")
	got, err := Merge(local, []byte(`{"log_level":"debug","kafka":{"bootstrap_servers":"b:9092"}}`))
	if err != nil {
		t.Fatal(err)
	}
	s := string(got)
	if !strings.Contains(s, "gateway_id: gw-1") || !strings.Contains(s, "log_level: debug") || !strings.Contains(s, "b:9092") || strings.Contains(s, "a:9092") {
		t.Fatalf("merged:\n%s", s)
	}
	for name, remote := range map[string]string{
		"fail-identity":  `{"gateway_id":"gw-evil"}`,
		"fail-data-dir":  `{"data_dir":"/"}`,
		"fail-not-json":  `[1,2]`,
		"fail-cp-itself": `{"control_plane":{"url":"http://evil"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Merge(local, []byte(remote)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
