package opcua

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"

	"github.com/streamforge/streamforge/adapters"
)

func TestQuality(t *testing.T) {
	cases := []struct {
		name string
		code ua.StatusCode
		want adapters.Quality
	}{
		{"ok-good", ua.StatusOK, adapters.QualityGood},
		{"ok-good-with-info-bits", ua.StatusGoodOverload, adapters.QualityGood},
		{"ok-uncertain", ua.StatusUncertainLastUsableValue, adapters.QualityUncertain},
		{"ok-uncertain-sensor", ua.StatusUncertainSensorNotAccurate, adapters.QualityUncertain},
		{"ok-bad-node", ua.StatusBadNodeIDUnknown, adapters.QualityBad},
		{"ok-bad-comm", ua.StatusBadCommunicationError, adapters.QualityBad},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := quality(c.code); got != c.want {
				t.Fatalf("quality(%v) = %v, want %v", c.code, got, c.want)
			}
		})
	}
}

func TestValue(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name string
		in   any
		want any
		typ  adapters.DataType
	}{
		{"ok-bool", true, true, adapters.TypeBool},
		{"ok-sbyte", int8(-3), int64(-3), adapters.TypeInt16},
		{"ok-int32", int32(-7), int64(-7), adapters.TypeInt32},
		{"ok-uint16", uint16(9), uint64(9), adapters.TypeUint16},
		{"ok-uint64", uint64(1 << 63), uint64(1 << 63), adapters.TypeUint64},
		{"ok-float", float32(1.5), 1.5, adapters.TypeFloat32},
		{"ok-double", 2.25, 2.25, adapters.TypeFloat64},
		{"ok-string", "x", "x", adapters.TypeString},
		{"ok-datetime-as-string", now, "2026-01-02T03:04:05Z", adapters.TypeString},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, typ := value(ua.MustVariant(c.in))
			if v != c.want || typ != c.typ {
				t.Fatalf("got %v (%T) %s, want %v %s", v, v, typ, c.want, c.typ)
			}
		})
	}
}

func TestBadStatusCarriesNoValue(t *testing.T) {
	r := reading("gw", "d", "t", &ua.DataValue{Value: ua.MustVariant(1.0), Status: ua.StatusBadSensorFailure})
	if r.Quality != adapters.QualityBad || r.Value != nil || r.SourceTime.IsZero() {
		t.Fatalf("%+v", r)
	}
}

func TestOversizedStringIsBadWithoutValue(t *testing.T) {
	long := strings.Repeat("x", adapters.MaxStringValue+1)
	r := reading("gw", "d", "t", &ua.DataValue{Value: ua.MustVariant(long), Status: ua.StatusOK})
	if r.Quality != adapters.QualityBad || r.Value != nil || r.Type != adapters.TypeString {
		t.Fatalf("quality %v, value of %T, type %s; want bad, no value, string", r.Quality, r.Value, r.Type)
	}
	atLimit := long[1:]
	if r := reading("gw", "d", "t", &ua.DataValue{Value: ua.MustVariant(atLimit), Status: ua.StatusOK}); r.Value != atLimit {
		t.Fatal("a string at the limit lost its value")
	}
}

func TestTrust(t *testing.T) {
	der, _, err := SelfSigned("urn:a", []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	other, _, _ := SelfSigned("urn:b", []string{"localhost"})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.der"), der, 0o600); err != nil {
		t.Fatal(err)
	}
	list, err := loadTrust([]string{dir})
	if err != nil || len(list) != 1 {
		t.Fatalf("loadTrust: %v, %d certs", err, len(list))
	}
	if err := trusted(der, list); err != nil {
		t.Errorf("listed certificate refused: %v", err)
	}
	if err := trusted(other, list); !errors.Is(err, ErrUntrusted) {
		t.Errorf("unlisted certificate: %v, want ErrUntrusted", err)
	}
}

func TestNewValidation(t *testing.T) {
	valid := func() Config {
		return Config{Name: "ua", Servers: []Server{{Name: "s", Endpoint: "opc.tcp://127.0.0.1:4840", Insecure: true,
			Subscriptions: []Subscription{{Name: "sub"}}, Nodes: []Node{{Name: "n", NodeID: "ns=1;s=x", Subscription: "sub"}}}}}
	}
	cases := []struct {
		name   string
		mutate func(*Server)
		want   string
	}{
		{"ok", func(*Server) {}, ""},
		{"fail-none-without-insecure", func(s *Server) { s.Insecure = false }, "servers[0].insecure"},
		{"fail-secure-without-trust", func(s *Server) { s.Policy, s.Insecure = "Basic256Sha256", false }, "servers[0].trust"},
		{"fail-policy", func(s *Server) { s.Policy = "Basic128Rsa15" }, "servers[0].security_policy"},
		{"fail-mode", func(s *Server) { s.Policy, s.Mode = "Basic256Sha256", "Encrypt" }, "servers[0].security_mode"},
		{"fail-username", func(s *Server) { s.Identity.Type = "username" }, "servers[0].identity.username"},
		{"fail-identity", func(s *Server) { s.Identity.Type = "kerberos" }, "servers[0].identity.type"},
		{"fail-node-id", func(s *Server) { s.Nodes[0].NodeID = "ns=x" }, "servers[0].nodes[0].node_id"},
		{"fail-no-group", func(s *Server) { s.Nodes[0].Subscription = "" }, "servers[0].nodes[0]: exactly one"},
		{"fail-unknown-group", func(s *Server) { s.Nodes[0].Subscription = "other" }, "servers[0].nodes[0].subscription"},
		{"fail-deadband", func(s *Server) { s.Nodes[0].Deadband = &Deadband{Type: "relative"} }, "servers[0].nodes[0].deadband.type"},
		{"fail-poll-interval", func(s *Server) { s.PollGroups = []PollGroup{{Name: "p"}} }, "servers[0].poll_groups[0].interval"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := valid()
			c.mutate(&cfg.Servers[0])
			_, err := New("gw", cfg, slog.New(slog.DiscardHandler))
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

func TestIdentityPrintsNoPassword(t *testing.T) {
	s := Server{Name: "s", Identity: Identity{Type: "username", Username: "op", Password: "hunter2"}}
	for _, out := range []string{fmt.Sprintf("%v", s), fmt.Sprintf("%+v", s), s.Identity.String()} {
		if strings.Contains(out, "hunter2") || !strings.Contains(out, "op") {
			t.Fatalf("printed %q", out)
		}
	}
}
