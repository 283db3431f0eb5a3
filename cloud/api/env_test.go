package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamforge/streamforge/cloud/alarms"
	"github.com/streamforge/streamforge/cloud/api"
	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/configsign"
	"github.com/streamforge/streamforge/cloud/conntest"
	"github.com/streamforge/streamforge/cloud/gatewaylogs"
	"github.com/streamforge/streamforge/cloud/gateways"
	"github.com/streamforge/streamforge/cloud/pipelines"
	"github.com/streamforge/streamforge/cloud/proposals"
	"github.com/streamforge/streamforge/cloud/rollout"
	"github.com/streamforge/streamforge/cloud/secretbox"
	"github.com/streamforge/streamforge/cloud/secrets"
	"github.com/streamforge/streamforge/cloud/serviceaccounts"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/cloud/users"
	"github.com/streamforge/streamforge/internal/testenv"
)

const adminEmail = "admin@example.com"
const adminPassword = "correct horse battery staple"

// env is one control plane served over real HTTP on loopback.
type env struct {
	t      testing.TB
	base   string
	store  *store.Store
	users  *users.Service
	gw     *gateways.Service
	keys   *auth.KeyRing
	keyDir string
	srv    *api.Server
	// metrics is the registry the env's /metrics serves.
	metrics *prometheus.Registry
	// logs holds everything the server logged; dataDir and dbURL locate
	// the database (secret_test.go reads both for plaintext).
	logs    *syncBuffer
	dataDir string
	dbURL   string
}

// databases runs fn once on SQLite and once on PostgreSQL.
func databases(t *testing.T, fn func(t *testing.T, dbURL string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, "") })
	t.Run("postgres", func(t *testing.T) { fn(t, testenv.PostgresURL(t)) })
}

type envOpt func(*api.Options, *api.Deps)

func withTrustedProxy(p string) envOpt {
	return func(o *api.Options, _ *api.Deps) { o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix(p)} }
}

// newEnv starts a control plane on dbURL ("" = SQLite in a temp dir) with
// one Admin. keyDir may be shared to run several processes over one DB.
func newEnv(t testing.TB, dbURL, keyDir string, opts ...envOpt) *env {
	t.Helper()
	dir := t.TempDir()
	if keyDir == "" {
		keyDir = filepath.Join(dir, "keys")
	}
	st, err := store.Open(context.Background(), dbURL, dir)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := auth.LoadKeyRing(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	var logOut io.Writer = io.Discard
	if os.Getenv("STREAMFORGE_TEST_LOG") != "" {
		logOut = os.Stderr
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(logOut, logs), nil))
	reg := prometheus.NewRegistry()
	reg.MustRegister(auth.HashMetrics()...)
	us := users.New(users.StoreRepo(st), keys, log, reg)
	if _, _, err := us.Bootstrap(context.Background(), adminEmail, adminPassword); err != nil {
		t.Fatal(err)
	}
	gw := gateways.New(st, keys, log)
	// Most tests enroll software-key gateways: allow them, as an operator
	// would with STREAMFORGE_ALLOW_KEY_IDENTITY (TestKeyIdentityNeedsTheSetting
	// turns it off).
	gw.AllowKeyIdentity = true
	if gw.ConfigKeys, err = configsign.Load(filepath.Join(keyDir, "config")); err != nil {
		t.Fatal(err)
	}
	// The batching goroutines stop after the server and before the store.
	gw.Start(context.Background())
	t.Cleanup(gw.Close)
	box, err := secretbox.Open(filepath.Join(keyDir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	d := api.Deps{
		Database: st, DatabaseName: st.Dialect,
		Audit: func(ctx context.Context, scope *audit.Scope) api.AuditReader { return st.Audit(ctx).Within(scope) },
		Trail: st.AuditLog(), Users: us, Gateways: gw,
		Pipelines: pipelines.New(st.Pipelines()), GatewayLogs: gatewaylogs.New(st),
		Copilot: api.CopilotServices{Accounts: serviceaccounts.New(st.ServiceAccounts()),
			Proposals: proposals.New(st.Proposals(), pipelines.New(st.Pipelines())),
			Tests:     conntest.New(st.ConnectionTests(), pipelines.New(st.Pipelines())), Hints: conntest.NewHints(st.ConnectionTests(), time.Second)},
		Rollouts: rollout.New(st.Rollouts(), pipelines.New(st.Pipelines())),
		Alarms:   alarms.NewService(st), Secrets: secrets.New(st.Secrets(), gw.Configs, box),
	}
	o := api.Options{Metrics: reg}
	for _, f := range opts {
		f(&o, &d)
	}
	srv := api.New(d, log, o)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.App().Listener(ln)
	t.Cleanup(func() { _ = srv.App().ShutdownWithTimeout(5 * time.Second) })
	return &env{t: t, base: "http://" + ln.Addr().String(), store: st, users: us, gw: gw, keys: keys, keyDir: keyDir, srv: srv, metrics: reg,
		logs: logs, dataDir: dir, dbURL: dbURL}
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

// do sends a request; body is JSON-encoded unless it is a string or nil.
func (e *env) do(method, path, token string, body any, hdr ...string) resp {
	e.t.Helper()
	return e.doWith(http.DefaultClient, method, path, token, body, hdr...)
}

func (e *env) doWith(client *http.Client, method, path, token string, body any, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := resp{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// login returns a token for email/password, failing the test otherwise.
func (e *env) login(email, password string) string {
	e.t.Helper()
	r := e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password})
	if r.status != 200 {
		e.t.Fatalf("login %s: %d %s", email, r.status, r.raw)
	}
	return r.body["token"].(string)
}

// user creates a user with roles and returns a token of theirs.
func (e *env) user(email string, roles []string, access ...string) string {
	e.t.Helper()
	admin := e.login(adminEmail, adminPassword)
	r := e.do("POST", "/api/v1/users", admin, map[string]any{
		"email": email, "password": passwordOf(email), "roles": roles, "gateway_access": access,
	})
	if r.status != 201 {
		e.t.Fatalf("create %s: %d %s", email, r.status, r.raw)
	}
	return e.login(email, passwordOf(email))
}

// passwordOf is the password e.user gives email: strong, and free of the
// email (the password policy refuses both weak ones and the email).
func passwordOf(email string) string {
	sum := sha256.Sum256([]byte(email))
	return "Quartz-lantern-" + hex.EncodeToString(sum[:4])
}

func wantStatus(t *testing.T, r resp, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d: %s", r.status, want, r.raw)
	}
}

func wantError(t *testing.T, r resp, status int, msg string) {
	t.Helper()
	wantStatus(t, r, status)
	if got, _ := r.body["error"].(string); !strings.Contains(got, msg) {
		t.Fatalf("error %q, want it to contain %q", got, msg)
	}
}
