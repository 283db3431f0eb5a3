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
//
// A secret is bound the same way to the protection it is sent with
// (pkg/secretprot): the same brokers over sasl_plaintext, or an OPC UA
// endpoint with security None, would give the value away on the path. A
// config that sends it with weaker protection than bound is refused like
// one that sends it elsewhere; stronger protection is fine; lowering it
// is an Admin's deliberate change (PUT /secrets/{name}).
package secretbind

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/pkg/secretdest"
	"github.com/streamforge/streamforge/pkg/secretprot"
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
	// SecretProtections is SecretDestinations for the protection bound to
	// each (secretprot's stored form).
	SecretProtections(names []string) (map[string]string, error)
	// BindProtection sets a secret's protection to prot if it is still
	// old; false when it changed meanwhile.
	BindProtection(name, old, prot string) (bool, error)
	Audit(audit.Event) error
}

// Violation is a config that sends a bound secret elsewhere, or with
// weaker protection than bound (ProtField set) (409).
type Violation struct {
	Secret      string   // the secret's name
	Field       string   // the field that references it
	DestField   string   // the field that names the destination
	Destination string   // the destination outside Allowed
	Allowed     []string // the secret's destinations
	// ProtField names the settings that protect the secret's way there
	// (kafka.security, an OPC UA server); Bound is the protection bound,
	// Asked the weaker one the config sends it with.
	ProtField, Bound, Asked string
}

func (v *Violation) Error() string {
	if v.ProtField != "" {
		return fmt.Sprintf("secret %s must be sent with %s or stronger; %s asks for %s (%s references it): an Admin lowers the secret's min_protection to allow it",
			v.Secret, v.Bound, v.ProtField, v.Asked, v.Field)
	}
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
// with a *Violation when it sends a bound secret outside its destinations
// or with weaker protection than bound, and binds each unbound secret it
// uses to the destinations it sends it to and the (weakest) protection it
// sends it with, audited as secret.bind by o. Secrets the control plane
// does not hold are the gateway's own and are not bound.
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
	prots, err := tx.SecretProtections(names)
	if err != nil {
		return err
	}
	for _, name := range names {
		stored, ok := held[name]
		if !ok {
			continue
		}
		// One secret.bind per secret, whatever this first use binds.
		ev := o.Event("secret.bind", "secret", name, "bind", audit.ResultSuccess)
		ev.Changes = map[string]audit.Change{}
		if stored == "" {
			if stored, err = bind(tx, name, byName[name], &ev); err != nil {
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
		bound, err := bindProtection(tx, name, prots[name], secretdest.ProtectionOf(byName[name], name), &ev)
		if err != nil {
			return err
		}
		for _, u := range byName[name] {
			if was, asked, weaker := u.Protection.Weaker(bound); weaker {
				return &Violation{Secret: name, Field: u.Field, ProtField: u.ProtField, Bound: was, Asked: asked}
			}
		}
		if len(ev.Changes) > 0 {
			if err := tx.Audit(ev); err != nil {
				return err
			}
		}
	}
	return nil
}

// bind binds an unbound secret to what uses send it to, noting it in ev,
// and returns its destinations as stored (another transaction's, if it
// bound it first).
func bind(tx Tx, name string, uses []secretdest.Use, ev *audit.Event) (string, error) {
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
	ev.Changes["destinations"] = audit.Change{Old: []string{}, New: Split(dests)}
	return dests, nil
}

// bindProtection binds the kinds of protection (Kafka, OPC UA) that secret
// name is sent with but has none bound for to asked, noting it in ev, and
// returns its protection as stored (another transaction's, if it bound it
// first).
func bindProtection(tx Tx, name, stored string, asked secretprot.Protection, ev *audit.Event) (secretprot.Protection, error) {
	bound, err := secretprot.Decode(stored)
	if err != nil {
		return bound, fmt.Errorf("secret %s: %w", name, err)
	}
	next := bound.Fill(asked)
	if next == bound {
		return bound, nil
	}
	ok, err := tx.BindProtection(name, stored, next.Encode())
	if err != nil {
		return bound, err
	}
	if !ok {
		again, err := tx.SecretProtections([]string{name})
		if err != nil {
			return bound, err
		}
		return secretprot.Decode(again[name])
	}
	ev.Changes["min_protection"] = audit.Change{Old: bound.String(), New: next.String()}
	return next, nil
}

// DeniedEvent is the audit record of a config refused for v, written to
// gateway id by o: a denied config.deploy.
func DeniedEvent(o audit.Origin, gatewayID string, v *Violation) audit.Event {
	ev := o.Event("config.deploy", "gateway_config", gatewayID, "deploy", audit.ResultDenied)
	ev.Reason = v.Error()
	// "name": a change keyed "secret" would be redacted as a value.
	ev.Changes = map[string]audit.Change{"name": {New: v.Secret}, "field": {New: v.Field}}
	if v.ProtField != "" {
		ev.Changes["protection_field"], ev.Changes["bound"], ev.Changes["asked"] =
			audit.Change{New: v.ProtField}, audit.Change{New: v.Bound}, audit.Change{New: v.Asked}
		return ev
	}
	ev.Changes["destination"], ev.Changes["allowed"] = audit.Change{New: v.Destination}, audit.Change{New: v.Allowed}
	return ev
}
