// Package secretbind binds each control-plane secret to the destinations
// it may be sent to (Kafka brokers, OPC UA endpoints: pkg/secretdest) and
// refuses a config that would send a bound secret anywhere else. Without
// it, whoever may edit a pipeline could point kafka.brokers at a host of
// their own, keep `${secret:kafka-pw}`, and have the password sent there by
// the next deploy; the diff review would be the only control.
//
// The check runs where every config is signed for a gateway
// (gateways.Configs.Deploy: deploys, config PUTs, rollout waves,
// rollbacks), in the transaction that stores the config. A secret that is
// not bound yet is bound there, on first use, to the destinations that
// config sends it to (trust on first use); moving it later is an Admin's
// deliberate change of its destinations (PUT /secrets/{name}).
package secretbind

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/pkg/secretdest"
)

// Tx is what the check needs of the transaction that stores a config
// (store.GatewayTx).
type Tx interface {
	// SecretDestinations returns, of names, the secrets the control plane
	// holds with their destinations (Join's form; "" when unbound), locked
	// until the transaction ends.
	SecretDestinations(names []string) (map[string]string, error)
	// BindSecret sets an unbound secret's destinations; false when it was
	// bound meanwhile.
	BindSecret(name, dests string) (bool, error)
	Audit(audit.Event) error
}

// Violation is a config that sends a bound secret elsewhere (409).
type Violation struct {
	Secret      string   // the secret's name
	Field       string   // the field that references it
	DestField   string   // the field that names the destination
	Destination string   // the destination outside Allowed
	Allowed     []string // the secret's destinations
}

func (v *Violation) Error() string {
	return fmt.Sprintf("secret %s may be sent to %s only; %s names %s (%s references it): an Admin changes the secret's destinations to move it",
		v.Secret, strings.Join(v.Allowed, ", "), v.DestField, v.Destination, v.Field)
}

// Unwrap makes the violation a client error: 409 with its message.
func (v *Violation) Unwrap() error { return errs.New(errs.Conflict, v.Error()) }

// Join is the stored form of a list of destinations (one a line).
func Join(ds []string) string { return strings.Join(secretdest.Clean(ds), "\n") }

// Split reads the stored form.
func Split(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, "\n")
}

// Check refuses config (a JSON document about to be signed for a gateway)
// with a *Violation when it sends a bound secret outside its destinations,
// and binds each unbound secret it uses to the destinations it sends it
// to, audited as secret.bind by o. Secrets the control plane does not
// hold are the gateway's own and are not bound.
func Check(tx Tx, o audit.Origin, config []byte) error {
	uses, err := secretdest.Uses(config)
	if err != nil {
		return err
	}
	byName := map[string][]secretdest.Use{}
	for _, u := range uses {
		byName[u.Name] = append(byName[u.Name], u)
	}
	names := slices.Sorted(maps.Keys(byName))
	held, err := tx.SecretDestinations(names)
	if err != nil {
		return err
	}
	for _, name := range names {
		stored, ok := held[name]
		if !ok {
			continue
		}
		if stored == "" {
			if stored, err = bind(tx, o, name, byName[name]); err != nil {
				return err
			}
		}
		allowed := Split(stored)
		for _, u := range byName[name] {
			for _, d := range u.Destinations {
				if !slices.Contains(allowed, d) {
					return &Violation{Secret: name, Field: u.Field, DestField: u.DestField, Destination: d, Allowed: allowed}
				}
			}
		}
	}
	return nil
}

// bind binds an unbound secret to what uses send it to, and returns its
// destinations as stored (another transaction's, if it bound it first).
func bind(tx Tx, o audit.Origin, name string, uses []secretdest.Use) (string, error) {
	dests := Join(secretdest.Of(uses, name))
	if dests == "" {
		return "", nil // sent nowhere a config names: nothing to bind to
	}
	ok, err := tx.BindSecret(name, dests)
	if err != nil {
		return "", err
	}
	if !ok {
		again, err := tx.SecretDestinations([]string{name})
		return again[name], err
	}
	ev := o.Event("secret.bind", "secret", name, "bind", audit.ResultSuccess)
	ev.Changes = map[string]audit.Change{"destinations": {Old: []string{}, New: Split(dests)}}
	return dests, tx.Audit(ev)
}

// DeniedEvent is the audit record of a config refused for v, written to
// gateway id by o: a denied config.deploy.
func DeniedEvent(o audit.Origin, gatewayID string, v *Violation) audit.Event {
	ev := o.Event("config.deploy", "gateway_config", gatewayID, "deploy", audit.ResultDenied)
	ev.Reason = v.Error()
	// "name": a change keyed "secret" would be redacted as a value.
	ev.Changes = map[string]audit.Change{"name": {New: v.Secret}, "field": {New: v.Field},
		"destination": {New: v.Destination}, "allowed": {New: v.Allowed}}
	return ev
}
