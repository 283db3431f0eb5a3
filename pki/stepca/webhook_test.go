package stepca_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/streamforge/streamforge/pki/stepca"
)

func TestWebhookHandler(t *testing.T) {
	secret := []byte("webhook-secret")
	authorize := func(_ context.Context, id string) (bool, error) {
		switch id {
		case "gw-ok":
			return true, nil
		case "gw-broken":
			return false, errors.New("database down")
		}
		return false, nil
	}
	h := stepca.WebhookHandler(authorize, stepca.WebhookOptions{Secret: secret})
	body := func(id string, ts time.Time) []byte {
		m := map[string]any{"timestamp": ts, "provisionerName": "gateways"}
		if id != "" {
			m["attestationData"] = map[string]string{"permanentIdentifier": id}
		}
		b, _ := json.Marshal(m)
		return b
	}
	sign := func(key, b []byte) string {
		m := hmac.New(sha256.New, key)
		m.Write(b)
		return hex.EncodeToString(m.Sum(nil))
	}
	now := time.Now()
	cases := []struct {
		name      string
		body      []byte
		sig       string
		wantCode  int
		wantAllow bool
	}{
		{"ok", body("gw-ok", now), "", 200, true},
		{"fail-not-approved", body("gw-disabled", now), "", 200, false},
		{"fail-not-attested", body("", now), "", 200, false},
		{"fail-stale", body("gw-ok", now.Add(-time.Hour)), "", 200, false},
		{"fail-bad-signature", body("gw-ok", now), sign([]byte("other"), body("gw-ok", now)), 401, false},
		{"fail-no-signature", body("gw-ok", now), "-", 401, false},
		{"fail-authorizer-error", body("gw-broken", now), "", 500, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(tc.body))
			switch tc.sig {
			case "":
				req.Header.Set(stepca.SignatureHeader, sign(secret, tc.body))
			case "-":
			default:
				req.Header.Set(stepca.SignatureHeader, tc.sig)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.wantCode {
				t.Fatalf("code %d, want %d", rec.Code, tc.wantCode)
			}
			if rec.Code != 200 {
				return
			}
			var resp stepca.WebhookResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
				t.Fatal(err)
			}
			if resp.Allow != tc.wantAllow || (!resp.Allow && resp.Error == nil) {
				t.Fatalf("response %+v", resp)
			}
		})
	}
}

func TestWebhookRequiresCANameInClientCertificate(t *testing.T) {
	h := stepca.WebhookHandler(func(context.Context, string) (bool, error) { return true, nil },
		stepca.WebhookOptions{CANames: []string{"ca.example"}})
	b := []byte(`{"timestamp":"` + time.Now().Format(time.RFC3339) + `","attestationData":{"permanentIdentifier":"gw"}}`)
	m := hmac.New(sha256.New, nil)
	m.Write(b)
	req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(b))
	req.Header.Set(stepca.SignatureHeader, hex.EncodeToString(m.Sum(nil)))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("request without TLS client certificate: %d", rec.Code)
	}
}
