package main

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/internal/testenv"
)

// TestOperatorReadsAgentLogsFreeOfSecrets runs the real agent (SASL/SCRAM
// to a kfake broker, its password from the secrets file) against the real
// control plane on PostgreSQL. The agent ships its log lines after its
// heartbeats; an Operator reads them, filtered by level; a Viewer is
// refused. The SASL password, the claim code and the enrollment token
// appear neither in the agent's stderr nor in the lines the cloud serves.
func TestOperatorReadsAgentLogsFreeOfSecrets(t *testing.T) {
	const (
		saslUser     = "agent-logs"
		saslPassword = "Scram-Secret-7f3a9c21e8"
	)
	pg := testenv.PostgresURL(t)
	bin := testenv.BuildAgent(t, nil)
	cloud := testenv.StartCloud(t, "STREAMFORGE_DATABASE_URL="+pg, "STREAMFORGE_ALLOW_KEY_IDENTITY=true")
	admin := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	var tok struct{ Token string }
	cloud.Call("POST", "/api/v1/enrollment-tokens", admin, map[string]any{"expires_in": "1h", "max_uses": 1}, &tok)
	users := map[string]string{"Operator": "operator@example.com", "Viewer": "viewer@example.com", "Engineer": "tech@example.com"}
	for role, email := range users {
		if st := cloud.Call("POST", "/api/v1/users", admin, map[string]any{"email": email, "password": "Quartz-lantern-field-7",
			"roles": []string{role}, "gateway_access": []string{"gw-test"}}, nil); st != 201 {
			t.Fatalf("create %s: %d", role, st)
		}
	}

	cfgPath, dir, _ := startDataPathWith(t, testenv.KafkaOpts{SCRAMUser: saslUser, SCRAMPassword: saslPassword})
	secretsFile := filepath.Join(dir, "secrets")
	if err := os.WriteFile(secretsFile, []byte("kafka-password="+saslPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	withSASL := strings.Replace(string(cfg), "kafka: {", "secrets_file: "+secretsFile+"\nkafka: {security: {protocol: sasl_plaintext, username: "+
		saslUser+`, password: "${secret:kafka-password}"}, `, 1)
	withSASL += "control_plane: {poll_interval: 200ms, heartbeat_interval: 200ms}\n"
	if err := os.WriteFile(cfgPath, []byte(withSASL), 0o600); err != nil {
		t.Fatal(err)
	}

	agent := testenv.StartAgent(t, testenv.AgentOptions{Argv: []string{bin}, Config: cfgPath, Args: []string{"--insecure-software-identity"},
		Env: []string{"CONTROL_PLANE_URL=" + cloud.URL, "CONTROL_PLANE_GATEWAY_ID=gw-test", "CONTROL_PLANE_ENROLLMENT_TOKEN=" + tok.Token}})
	code := statusClaimCode(t, agent)
	tech := cloud.Login(users["Engineer"], "Quartz-lantern-field-7")
	if st := cloud.Call("POST", "/api/v1/gateways/claim", tech, map[string]string{"gateway_id": "gw-test", "claim_code": code, "site": "Plant"}, nil); st != 200 && st != 202 {
		t.Fatalf("claim: %d", st)
	}
	if st := cloud.Call("POST", "/api/v1/gateways/gw-test/approve", admin, nil, nil); st != 200 {
		t.Fatalf("approve: %d", st) // a software identity is left for an admin's review
	}
	waitMetric(t, agent, "streamforge_forward_acked_records_total", 50) // SASL with the password works

	operator := cloud.Login(users["Operator"], "Quartz-lantern-field-7")
	type page struct {
		Lines []struct{ Level, Message, Attrs string }
	}
	read := func(token, query string) (page, int) {
		var p page
		st := cloud.Call("GET", "/api/v1/gateways/gw-test/logs"+query, token, nil, &p)
		return p, st
	}
	agent.Eventually(t, eventuallyLimit, "the agent's lines in the cloud", func() bool {
		p, _ := read(operator, "?limit=1000")
		for _, l := range p.Lines {
			if l.Message == "gateway token obtained" {
				return true
			}
		}
		return false
	})
	all, st := read(operator, "?limit=1000")
	if st != 200 || len(all.Lines) < 5 {
		t.Fatalf("operator reads %d: %d lines", st, len(all.Lines))
	}
	warn, _ := read(operator, "?level=warn&limit=1000")
	for _, l := range warn.Lines {
		if l.Level != "WARN" && l.Level != "ERROR" {
			t.Fatalf("level=warn serves a %s line: %s", l.Level, l.Message)
		}
	}
	if len(warn.Lines) >= len(all.Lines) {
		t.Fatalf("level=warn serves %d of %d lines", len(warn.Lines), len(all.Lines))
	}
	viewer := cloud.Login(users["Viewer"], "Quartz-lantern-field-7")
	if _, st := read(viewer, ""); st != 403 {
		t.Fatalf("a Viewer reads the logs: %d, want 403", st)
	}
	agent.Stop(t)

	var served strings.Builder
	for _, l := range all.Lines {
		served.WriteString(l.Message + " " + l.Attrs + "\n")
	}
	for where, text := range map[string]string{"agent stderr": agent.Log(), "cloud logs API": served.String()} {
		for name, secret := range map[string]string{"SASL password": saslPassword, "claim code": code,
			"claim code without dashes": strings.ReplaceAll(code, "-", ""), "enrollment token": tok.Token,
			"claim URL code": url.QueryEscape(code)} {
			if strings.Contains(text, secret) {
				t.Errorf("the %s is in the %s", name, where)
			}
		}
	}
}
