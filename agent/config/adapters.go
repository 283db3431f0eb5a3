package config

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/streamforge/streamforge/adapters"
	"github.com/streamforge/streamforge/adapters/modbus"
	"github.com/streamforge/streamforge/adapters/opcua"
	"github.com/streamforge/streamforge/agent/secrets"
	"github.com/streamforge/streamforge/pkg/secret"
	"github.com/streamforge/streamforge/pkg/secretdest"
	"github.com/streamforge/streamforge/pkg/secretprot"
)

// NewAdapter builds the adapter; it validates the adapter's configuration.
func NewAdapter(a *Adapter, gatewayID string, log *slog.Logger) (adapters.Adapter, error) {
	if a.OPCUA != nil {
		return opcua.New(gatewayID, *a.OPCUA, log)
	}
	return modbus.New(gatewayID, *a.Modbus, log)
}

// buildAdapters builds every adapter once, after the shared validation
// (pkg/pipeline), so that what only the gateway can check, such as a
// missing trust or certificate file, is a load error naming the adapter.
func (c *Config) buildAdapters() error {
	for i := range c.Adapters {
		probe := c.Adapters[i]
		if probe.OPCUA != nil { // a password reference is not a password yet
			probe.OPCUA = placeholderPasswords(probe.OPCUA)
		}
		if _, err := NewAdapter(&probe, c.GatewayID, slog.New(slog.DiscardHandler)); err != nil {
			return fmt.Errorf("adapters[%d]: %w", i, err)
		}
	}
	return nil
}

func placeholderPasswords(c *opcua.Config) *opcua.Config {
	cp := *c
	cp.Servers = append([]opcua.Server(nil), c.Servers...)
	for i := range cp.Servers {
		if cp.Servers[i].Identity.Password != "" {
			cp.Servers[i].Identity.Password = "placeholder"
		}
	}
	return &cp
}

// resolveAdapter replaces OPC UA identity password references with their
// values, and notes each as a login of its server (TestPassword).
func (c *Config) resolveAdapter(a *Adapter, field string, store *secrets.Store) error {
	if a.OPCUA == nil {
		return nil
	}
	for i := range a.OPCUA.Servers {
		srv := &a.OPCUA.Servers[i]
		ref := srv.Identity.Password
		f := fmt.Sprintf("%s.servers[%d]", field, i)
		sec, err := store.ResolveFor(ref, secretdest.Use{Field: f + ".identity.password", DestField: f + ".endpoint",
			Destinations: []string{secretdest.Normalize(srv.Endpoint)}, ProtField: f,
			Protection: secretprot.OPCUAOf(srv.Policy, srv.Mode, srv.Insecure)})
		if err != nil {
			return err
		}
		srv.Identity.Password = sec.Reveal()
		if ref != "" {
			if c.Secrets.logins == nil {
				c.Secrets.logins = map[login]secrets.Secret{}
			}
			c.Secrets.logins[loginOf(*srv, ref)] = sec
		}
	}
	return nil
}

// login is what a password is sent to and how: the server's endpoint,
// the security that protects the password on the way (policy, mode and
// which server certificates are trusted), the user name, and the
// reference the password came from.
type login struct {
	endpoint, policy, mode, trust, username, ref string
	insecure                                     bool
}

func loginOf(srv opcua.Server, ref string) login {
	return login{endpoint: srv.Endpoint, policy: srv.Policy, mode: srv.Mode, trust: strings.Join(srv.Trust, "\n"),
		username: srv.Identity.Username, ref: ref, insecure: srv.Insecure}
}

// ErrNoSuchLogin refuses a connection test's password reference that the
// config does not already send to that very server.
var ErrNoSuchLogin = errors.New("a connection test sends a password only to a server that the running config logs in to with it " +
	"(same endpoint, security policy and mode, trust, user name and reference); deploy the pipeline first, or test without the identity")

// TestPassword resolves the password reference of srv (a server of a
// connection test, its password still a reference) with the value this
// config resolved for the same reference sent to the same server in the
// same way. A test never resolves a reference on its own: whoever may ask
// for a test (pipelines:test) could otherwise point a deployed password at
// a server of their choosing and read it there.
func (c *Config) TestPassword(srv opcua.Server) (string, error) {
	ref := srv.Identity.Password
	if !secret.IsRef(ref) {
		return "", errors.New("the password must be a ${secret:name} or ${vault:path#key} reference")
	}
	sec, ok := c.Secrets.logins[loginOf(srv, ref)]
	if !ok {
		return "", ErrNoSuchLogin
	}
	return sec.Reveal(), nil
}
