package conntest

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestSourceCutsOneDeviceOrServer: a Modbus adapter is cut to its device,
// an OPC UA adapter to its server, whose poll groups and subscriptions
// can both be tested; an unknown group names the field.
func TestSourceCutsOneDeviceOrServer(t *testing.T) {
	doc := json.RawMessage(`{"adapters":[
		{"type":"modbus","name":"mb","devices":[{"name":"plc1","poll_groups":[{"name":"fast"}]},{"name":"plc2","poll_groups":[{"name":"fast"}]}]},
		{"type":"opcua","name":"ua","servers":[{"name":"s1","poll_groups":[{"name":"slow"}],"subscriptions":[{"name":"sub"}]},{"name":"s2"}]}]}`)
	cases := []struct {
		adapter, device, group string
		want                   string // a substring of the cut adapter, or of the error
	}{
		{"mb", "plc2", "fast", `"devices":[{"name":"plc2"`},
		{"ua", "s1", "slow", `"servers":[{"name":"s1"`},
		{"ua", "s1", "sub", `"servers":[{"name":"s1"`},
		{"ua", "s1", "nope", `no poll group "nope"`},
		{"ua", "s3", "slow", `no device "s3"`},
	}
	for _, c := range cases {
		got, err := source(doc, c.adapter, c.device, c.group)
		text := string(got)
		if err != nil {
			text = err.Error()
		}
		if !strings.Contains(text, c.want) || strings.Contains(text, `"s2"`) || strings.Contains(text, `"plc1"`) {
			t.Errorf("%s/%s/%s: %s, want %s", c.adapter, c.device, c.group, text, c.want)
		}
	}
}
