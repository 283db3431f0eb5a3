package pipelines

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/adapters/sim"
	"github.com/streamforge/streamforge/internal/testenv"
)

// TestConnectionTestThroughARealAgent runs the control plane, the agent
// and a Modbus simulator as processes. An Engineer asks the gateway to
// test two sources of a pipeline that is not deployed: the request travels
// with the agent's next config poll, the agent probes each device with the
// adapter code and posts back the result: the simulator's values for the
// good device, the connection error for the one where nothing listens.
// An OPC UA source goes the same way: the OPC UA simulator's values, an
// unknown node id's bad status, and the connection error of an endpoint
// where nothing listens.
func TestConnectionTestThroughARealAgent(t *testing.T) {
	bin := testenv.BuildAgent(t, nil)
	cloud := testenv.StartCloud(t, "STREAMFORGE_ALLOW_KEY_IDENTITY=true")
	admin := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	cloud.Call("POST", "/api/v1/users", admin, map[string]any{"email": "eng@example.com", "password": "Quartz-lantern-field-7",
		"roles": []string{"Engineer"}, "gateway_access": []string{"gw-ct"}}, nil)
	cloud.Call("POST", "/api/v1/users", admin, map[string]any{"email": "viewer@example.com", "password": "Quartz-lantern-field-8",
		"roles": []string{"Viewer"}}, nil)
	mb, err := sim.StartModbus("127.0.0.1:0", sim.Signals(4), 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mb.Close() })
	ua, err := sim.StartOPCUA("127.0.0.1:0", sim.Signals(4), 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ua.Stop)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	broker := testenv.StartKfake(t, testenv.KafkaOpts{})
	approvedAgent(t, bin, cloud, admin, "gw-ct", broker.Addr)

	device := func(name, addr string) map[string]any {
		return map[string]any{"name": name, "tcp": addr, "timeout": "300ms", "retries": 0,
			"poll_groups": []any{map[string]any{"name": "fast", "interval": "1s"}},
			"tags": []any{
				map[string]any{"name": "fixture", "register": "holding_register", "address": sim.FixtureBase, "type": "uint16", "poll_group": "fast"},
				map[string]any{"name": "counter", "register": "holding_register", "address": 2, "type": "uint32", "poll_group": "fast"},
			}}
	}
	server := func(name, endpoint string) map[string]any {
		return map[string]any{"name": name, "endpoint": endpoint, "security_policy": "None", "insecure": true, "timeout": "1s",
			"poll_groups": []any{map[string]any{"name": "slow", "interval": "1s"}},
			"nodes": []any{
				map[string]any{"name": "pressure", "node_id": sim.NodeID("pressure_2"), "poll_group": "slow"},
				map[string]any{"name": "ghost", "node_id": sim.NodeID("no_such_signal"), "poll_group": "slow"},
			}}
	}
	spec := map[string]any{
		"kafka": map[string]any{"brokers": broker.Addr},
		"adapters": []any{
			map[string]any{"type": "modbus", "name": "line1", "devices": []any{device("plc-good", mb.Addr()), device("plc-dead", dead)}},
			map[string]any{"type": "opcua", "name": "ua1", "servers": []any{server("ua-good", ua.Endpoint()), server("ua-dead", "opc.tcp://"+dead)}},
		},
	}
	eng := cloud.Login("eng@example.com", "Quartz-lantern-field-7")
	if st := cloud.Call("POST", "/api/v1/pipelines", eng, map[string]any{"id": "probe", "spec": spec}, nil); st != 201 {
		t.Fatalf("create pipeline: %d", st)
	}
	viewer := cloud.Login("viewer@example.com", "Quartz-lantern-field-8")
	ask := map[string]any{"gateway_id": "gw-ct", "adapter": "line1", "device": "plc-good", "poll_group": "fast"}
	if st := cloud.Call("POST", "/api/v1/pipelines/probe/test-connection", viewer, ask, nil); st != 403 {
		t.Fatalf("a Viewer asked for a connection test: %d", st)
	}

	run := func(adapter, dev, group string) connTestResult {
		t.Helper()
		ask["adapter"], ask["device"], ask["poll_group"] = adapter, dev, group
		return askConnectionTest(t, cloud, eng, "probe", ask)
	}

	good := run("line1", "plc-good", "fast")
	if good.Result == nil || good.Result.Error != "" || len(good.Result.Values) != 2 {
		t.Fatalf("good device: %+v", good.Result)
	}
	for _, v := range good.Result.Values {
		if v.Quality != "good" || (v.Tag == "fixture" && v.Value != float64(0x1234)) {
			t.Fatalf("good device value: %+v", v)
		}
	}
	bad := run("line1", "plc-dead", "fast")
	if bad.Result == nil || !strings.Contains(bad.Result.Error, "refused") {
		t.Fatalf("unreachable device: %+v", bad.Result)
	}

	uaGood := run("ua1", "ua-good", "slow")
	if r := uaGood.Result; r == nil || len(r.Values) != 2 || r.Values[0].Tag != "pressure" || r.Values[0].Quality != "good" ||
		r.Values[0].Value == nil || r.Values[1].Tag != "ghost" || r.Values[1].Quality != "bad" ||
		!strings.Contains(r.Error, "node ghost") || !strings.Contains(r.Error, "BadNodeIDUnknown") {
		t.Fatalf("OPC UA server: %+v", r)
	}
	uaDead := run("ua1", "ua-dead", "slow")
	if r := uaDead.Result; r == nil || !strings.Contains(r.Error, "refused") || len(r.Values) != 0 {
		t.Fatalf("unreachable OPC UA server: %+v", r)
	}
}

// TestConnectionTestLogsInOnlyWhereTheConfigDoes runs the control plane,
// the agent and node-opcua-server (which checks the password) as
// processes. The gateway's deployed pipeline logs in to the server as
// "operator" with ${secret:opcua-pw}, whose value the gateway holds in its
// environment. An Engineer's connection test of that server logs in with
// the same password and reads the values. A test of a pipeline that sends
// the same reference to another endpoint (one the Engineer could listen
// on), or as another user, is refused by the gateway before it connects:
// pipelines:test must not be a way to read a deployed password.
func TestConnectionTestLogsInOnlyWhereTheConfigDoes(t *testing.T) {
	bin := testenv.BuildAgent(t, nil)
	peer := testenv.StartNodeOPCUA(t, "s3cret-operator")
	cloud := testenv.StartCloud(t, "STREAMFORGE_ALLOW_KEY_IDENTITY=true")
	admin := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	cloud.Call("POST", "/api/v1/users", admin, map[string]any{"email": "eng@example.com", "password": "Quartz-lantern-field-7",
		"roles": []string{"Engineer"}, "gateway_access": []string{"gw-login"}}, nil)
	broker := testenv.StartKfake(t, testenv.KafkaOpts{})
	approvedAgent(t, bin, cloud, admin, "gw-login", broker.Addr, "STREAMFORGE_SECRET_OPCUA_PW=s3cret-operator")

	// Nothing may connect here: a test that did would hand it the password.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan struct{}, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	spec := func(endpoint, user string) map[string]any {
		return map[string]any{
			"kafka": map[string]any{"brokers": broker.Addr},
			"adapters": []any{map[string]any{"type": "opcua", "name": "ua", "servers": []any{map[string]any{
				"name": "plc-ua", "endpoint": endpoint, "security_policy": "Basic256Sha256", "security_mode": "SignAndEncrypt",
				"trust": []string{peer.Certificate}, "timeout": "5s",
				"identity":    map[string]any{"type": "username", "username": user, "password": "${secret:opcua-pw}"},
				"poll_groups": []any{map[string]any{"name": "slow", "interval": "1s"}},
				"nodes":       []any{map[string]any{"name": "count", "node_id": "ns=1;s=Counter", "poll_group": "slow"}},
			}}}},
		}
	}
	eng := cloud.Login("eng@example.com", "Quartz-lantern-field-7")
	for id, s := range map[string]map[string]any{
		"deployed":  spec(peer.Endpoint, "operator"),
		"elsewhere": spec("opc.tcp://"+ln.Addr().String(), "operator"),
		"otheruser": spec(peer.Endpoint, "admin"),
	} {
		if st := cloud.Call("POST", "/api/v1/pipelines", eng, map[string]any{"id": id, "spec": s}, nil); st != 201 {
			t.Fatalf("create pipeline %s: %d", id, st)
		}
	}
	var dep struct {
		Results []struct {
			ConfigVersion int `json:"config_version"`
			Error         string
		}
	}
	if st := cloud.Call("POST", "/api/v1/pipelines/deployed/deploy", admin, map[string]any{"gateways": []string{"gw-login"}}, &dep); st != 200 ||
		len(dep.Results) != 1 || dep.Results[0].Error != "" {
		t.Fatalf("deploy: %d %+v", st, dep)
	}
	want := float64(dep.Results[0].ConfigVersion)
	testenv.Eventually(t, time.Minute, "the deployed pipeline applied", func() bool {
		var g map[string]any
		cloud.Call("GET", "/api/v1/gateways/gw-login", admin, nil, &g)
		return g["applied_config_version"] == want
	})

	run := func(pipeline string) connTestResult {
		t.Helper()
		r := askConnectionTest(t, cloud, eng, pipeline,
			map[string]any{"gateway_id": "gw-login", "adapter": "ua", "device": "plc-ua", "poll_group": "slow"})
		if r.Result == nil {
			t.Fatalf("test of %s: no result", pipeline)
		}
		return r
	}

	ok := run("deployed")
	if r := ok.Result; r.Error != "" || len(r.Values) != 1 || r.Values[0].Tag != "count" || r.Values[0].Quality != "good" || r.Values[0].Value == nil {
		t.Fatalf("test of the deployed server with its login: %+v", r)
	}
	for _, p := range []string{"elsewhere", "otheruser"} {
		r := run(p).Result
		if !strings.Contains(r.Error, "sends a password only to a server that the running config logs in to with it") || len(r.Values) != 0 {
			t.Fatalf("test of %s: %+v, want the login refused", p, r)
		}
		if strings.Contains(r.Error, "s3cret-operator") {
			t.Fatalf("test of %s: the result holds the password", p)
		}
	}
	select {
	case <-accepted:
		t.Fatal("a connection test connected to an endpoint the deployed config does not log in to")
	default:
	}
}

// connTestResult is a connection test as GET /api/v1/connection-tests/{id}
// answers it.
type connTestResult struct {
	Status string
	Result *struct {
		Values []struct {
			Tag     string
			Value   any
			Quality string
		}
		Error string
	}
}

// askConnectionTest asks, as token, for the connection test ask of
// pipeline and waits (up to a minute) for its result.
func askConnectionTest(t *testing.T, cloud *testenv.Cloud, token, pipeline string, ask map[string]any) connTestResult {
	t.Helper()
	var created struct{ ID uint64 }
	if st := cloud.Call("POST", "/api/v1/pipelines/"+pipeline+"/test-connection", token, ask, &created); st != 202 || created.ID == 0 {
		t.Fatalf("ask to test %s of %s: %d", ask["device"], pipeline, st)
	}
	var r connTestResult
	testenv.Eventually(t, time.Minute, fmt.Sprintf("the result of testing %s of %s", ask["device"], pipeline), func() bool {
		r = connTestResult{}
		cloud.Call("GET", "/api/v1/connection-tests/"+strconv.FormatUint(created.ID, 10), token, nil, &r)
		return r.Status == "done"
	})
	return r
}
