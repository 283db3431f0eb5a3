package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// recorder is a gateway's HTTP transport as an attacker on the path sees
// it: it keeps the enrollment request's body, and can act just before the
// gateway answers its activation challenge.
type recorder struct {
	enroll         []byte
	beforeActivate func()
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	switch {
	case strings.HasSuffix(req.URL.Path, "/gateways/enroll"):
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		r.enroll = body
		req.Body = io.NopCloser(bytes.NewReader(body))
	case strings.HasSuffix(req.URL.Path, "/gateways/activate") && r.beforeActivate != nil:
		r.beforeActivate()
	}
	return http.DefaultTransport.RoundTrip(req)
}

// altered is a captured enrollment request with other hostname and
// hardware_info, the proof kept.
func altered(t *testing.T, body []byte) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	m["hostname"], m["hardware_info"] = "attacker-host", map[string]string{"model": "forged"}
	out, _ := json.Marshal(m)
	return string(out)
}

// TestReplayedEnrollmentChangesNothing: a captured enrollment request,
// replayed as it is or with hostname and hardware_info changed, is refused
// and changes nothing: a TPM gateway's activation in flight still succeeds,
// an approved gateway keeps its hostname and hardware_info, and the
// enrollment token keeps its uses.
func TestReplayedEnrollmentChangesNothing(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, "", "")
	admin := e.login(adminEmail, adminPassword)
	tokID, token := e.enrollmentToken(admin, 10, "")

	t.Run("activation-in-flight-survives", func(t *testing.T) {
		gw := newSwGateway(t)
		c := gw.client(e, "gw-replay-tpm")
		rec := &recorder{}
		var replayed resp
		rec.beforeActivate = func() { replayed = e.do("POST", "/api/v1/gateways/enroll", "", string(rec.enroll)) }
		c.HTTP = &http.Client{Transport: rec}
		res, err := c.Enroll(ctx, token, "edge", nil)
		if err != nil || res.Status != "pending" {
			t.Fatalf("the real agent's activation after a replay: %+v %v", res, err)
		}
		if replayed.status != 401 {
			t.Fatalf("replay during activation: %d %s", replayed.status, replayed.raw)
		}
	})

	t.Run("approved-gateway-keeps-hostname-and-hardware", func(t *testing.T) {
		c := e.gateway("gw-replay-key")
		rec := &recorder{}
		c.HTTP = &http.Client{Transport: rec}
		if _, err := c.Enroll(ctx, token, "edge-a", map[string]string{"model": "A"}); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, e.do("POST", "/api/v1/gateways/gw-replay-key/approve", admin, nil), 200)
		wantStatus(t, e.do("POST", "/api/v1/gateways/enroll", "", string(rec.enroll)), 401)
		wantStatus(t, e.do("POST", "/api/v1/gateways/enroll", "", altered(t, rec.enroll)), 401)
		g := e.do("GET", "/api/v1/gateways/gw-replay-key", admin, nil)
		if g.body["hostname"] != "edge-a" || !strings.Contains(string(g.raw), `"hardware_info":{"model":"A"}`) {
			t.Fatalf("approved gateway after replays: %s", g.raw)
		}
	})

	t.Run("token-uses-unchanged", func(t *testing.T) {
		uses := func() float64 {
			for _, x := range e.do("GET", "/api/v1/enrollment-tokens", admin, nil).body["enrollment_tokens"].([]any) {
				if tk := x.(map[string]any); tk["id"] == tokID {
					return tk["uses"].(float64)
				}
			}
			t.Fatal("token not listed")
			return 0
		}
		before := uses()
		if before+4 > 10 {
			t.Fatalf("token has %v uses; the replays below must not run out of uses", before)
		}
		c := e.gateway("gw-replay-uses")
		rec := &recorder{}
		c.HTTP = &http.Client{Transport: rec}
		if _, err := c.Enroll(ctx, token, "edge", nil); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			wantStatus(t, e.do("POST", "/api/v1/gateways/enroll", "", string(rec.enroll)), 401)
		}
		if got := uses(); got != before+1 {
			t.Fatalf("token uses %v after one enrollment and three replays, want %v", got, before+1)
		}
	})
}
